"""The FNet block (Lee-Thorp et al., 2022): token mixing by a 2D Fourier transform."""

import keras
from keras import layers, ops

from mlp_tutorial.layers.mlp import MLP


def fourier_mix(x):
    """Re(FFT2(x)) over the last two axes, patches and channels: (B, P, C) -> (B, P, C).

    ``keras.ops.fft2`` works on (real, imaginary) pairs; ``x`` is real. The transform
    runs in float32 under mixed precision too (TensorFlow's FFT takes no float16 or
    bfloat16).
    """
    real, _ = ops.fft2((ops.cast(x, "float32"), ops.zeros_like(x, dtype="float32")))
    return ops.cast(real, x.dtype)


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class FNetBlock(layers.Layer):
    """One FNet block (Lee-Thorp et al., 2022): a post-norm Transformer block with
    Re(FFT2) in place of self-attention:

        Y = LN(X + Re(FFT2(X)))        FFT2 over (patches, channels), no parameters
        Z = LN(Y + FFN(Y))             FFN: the same ``MLP`` as the Mixer's, per patch

    Args:
        ffn_dim: hidden width of the feed-forward network.
        dropout_rate: dropout on the feed-forward output, before the residual add.

    Input shape: ``(B, P, C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> tuple(FNetBlock(ffn_dim=128)(keras.ops.zeros((2, 64, 64))).shape)
    (2, 64, 64)
    """

    def __init__(self, ffn_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.ffn_dim = ffn_dim
        self.dropout_rate = dropout_rate
        self.norm_mixing = layers.LayerNormalization(epsilon=1e-6, name="norm_mixing")
        self.ffn = MLP(ffn_dim, dropout_rate, name="ffn")
        self.norm_ffn = layers.LayerNormalization(epsilon=1e-6, name="norm_ffn")

    def build(self, input_shape):
        self.norm_mixing.build(input_shape)
        self.ffn.build(input_shape)
        self.norm_ffn.build(input_shape)

    def call(self, x, training=None):
        x = self.norm_mixing(x + fourier_mix(x))
        return self.norm_ffn(x + self.ffn(x, training=training))

    def get_config(self):
        return {
            **super().get_config(),
            "ffn_dim": self.ffn_dim,
            "dropout_rate": self.dropout_rate,
        }
