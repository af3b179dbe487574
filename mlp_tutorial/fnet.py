"""The FNet block (Lee-Thorp et al., 2022): token mixing by a 2D Fourier transform.

FNet keeps the Transformer encoder block and replaces self-attention with a layer that
has no parameters at all: the real part of the 2D discrete Fourier transform over the
sequence and hidden axes,

    Y = LN(X + Re(FFT2(X)))        FFT2 over (patches, channels)
    Z = LN(Y + FFN(Y))             post-LayerNorm, as in the original Transformer

Every output token depends on every input token, through fixed complex exponentials
instead of learned, input-dependent attention weights. ``LayerNorm`` and ``gelu`` are
Keras' LayerNormalization and exact GELU with hand-written gradients
(:mod:`mlp_tutorial.custom_gradients`).
"""

import keras
from keras import layers, ops

from mlp_tutorial.custom_gradients import LayerNorm, gelu
from mlp_tutorial.mixer import _check_sequence_shape
from mlp_tutorial.validation import check_positive_int, check_rate


def fourier_mix(x):
    """Re(FFT2(x)) over the last two axes: (B, P, C) -> (B, P, C).

    ``keras.ops.fft2`` takes and returns (real, imaginary) pairs; the input is real, so
    its imaginary part is zero, and FNet keeps only the real part of the result.
    Inputs in float16/bfloat16 (mixed precision) are transformed in float32, because
    TensorFlow's FFT takes float32 and float64 only; the result has the input's dtype.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype not in ("float32", "float64"):
        x = ops.cast(x, "float32")
    real, _ = ops.fft2((x, ops.zeros_like(x)))
    return ops.cast(real, dtype)


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class FNetBlock(keras.layers.Layer):
    """One FNet encoder block: Fourier mixing and a feed-forward network, post-normed.

    Args:
        ffn_dim: hidden width of the feed-forward network.
        dropout_rate: dropout on the feed-forward output, before the residual add.

    Input shape: ``(B, P, C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> FNetBlock(ffn_dim=128)(keras.ops.zeros((2, 64, 64))).shape
    (2, 64, 64)
    """

    def __init__(self, ffn_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.ffn_dim = check_positive_int("ffn_dim", ffn_dim)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.norm_mixing = LayerNorm(epsilon=1e-6, name="norm_mixing")
        self.norm_ffn = LayerNorm(epsilon=1e-6, name="norm_ffn")
        self.dropout = layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        _check_sequence_shape("FNetBlock", input_shape)
        self.norm_mixing.build(input_shape)
        self.norm_ffn.build(input_shape)
        self.ffn_dense_1 = layers.Dense(self.ffn_dim, name="ffn_dense_1")
        self.ffn_dense_2 = layers.Dense(input_shape[-1], name="ffn_dense_2")
        self.ffn_dense_1.build(input_shape)
        self.ffn_dense_2.build((*input_shape[:-1], self.ffn_dim))

    def ffn(self, x):
        """The position-wise feed-forward network: (B, P, C) -> (B, P, C)."""
        return self.ffn_dense_2(gelu(self.ffn_dense_1(x)))

    def call(self, x, training=None):
        x = self.norm_mixing(x + fourier_mix(x))
        return self.norm_ffn(x + self.dropout(self.ffn(x), training=training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "ffn_dim": self.ffn_dim,
            "dropout_rate": self.dropout_rate,
        }
