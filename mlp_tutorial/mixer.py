"""The MLP-Mixer block (Tolstikhin et al., 2021).

A Mixer block alternates two MLPs over the ``(P, C)`` table of patch embeddings:

    U = X + W2 · GELU(W1 · LN(X))          token mixing: along the patch axis, per channel
    Y = U + GELU(LN(U) · W3) · W4          channel mixing: along the channel axis, per patch

The token-mixing MLP has hidden width ``D_S`` and the channel-mixing MLP ``D_C``; the
paper's models use ``D_S = C / 2`` and ``D_C = 4 C``. Each sub-layer has its own
LayerNorm (the Keras example shares one between them). ``LayerNorm`` and ``gelu`` are
Keras' LayerNormalization and exact GELU with hand-written gradients
(:mod:`mlp_tutorial.custom_gradients`): the same functions, trained faster.
"""

import keras
from keras import layers, ops

from mlp_tutorial.custom_gradients import LayerNorm, gelu
from mlp_tutorial.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class MixerBlock(keras.layers.Layer):
    """One Mixer layer: a token-mixing MLP, then a channel-mixing MLP, each pre-normed.

    The token-mixing MLP is applied to every column of the ``(P, C)`` table, i.e. to each
    channel's sequence of ``P`` values. It works on the transposed ``(C, P)`` table, so
    that each channel's sequence is a row and the MLP is an ordinary matmul on the last
    axis (see :meth:`mlp_tokens` for why this layout).

    Args:
        tokens_mlp_dim: hidden width ``D_S`` of the token-mixing MLP.
        channels_mlp_dim: hidden width ``D_C`` of the channel-mixing MLP.
        dropout_rate: dropout after each MLP, before the residual add.

    Input shape: ``(B, P, C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> MixerBlock(tokens_mlp_dim=32, channels_mlp_dim=256)(keras.ops.zeros((2, 64, 64))).shape
    (2, 64, 64)
    """

    def __init__(self, tokens_mlp_dim, channels_mlp_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.tokens_mlp_dim = check_positive_int("tokens_mlp_dim", tokens_mlp_dim)
        self.channels_mlp_dim = check_positive_int("channels_mlp_dim", channels_mlp_dim)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.norm_tokens = LayerNorm(epsilon=1e-6, name="norm_tokens")
        self.norm_channels = LayerNorm(epsilon=1e-6, name="norm_channels")
        self.dropout = layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        _, num_patches, channels = _check_sequence_shape("MixerBlock", input_shape)
        self.norm_tokens.build(input_shape)
        self.norm_channels.build(input_shape)
        # Token-mixing weights act on the patch axis: W1 is (P, D_S), W2 is (D_S, P).
        self.token_kernel_1 = self.add_weight(
            name="token_kernel_1", shape=(num_patches, self.tokens_mlp_dim)
        )
        self.token_bias_1 = self.add_weight(
            name="token_bias_1", shape=(self.tokens_mlp_dim,), initializer="zeros"
        )
        self.token_kernel_2 = self.add_weight(
            name="token_kernel_2", shape=(self.tokens_mlp_dim, num_patches)
        )
        self.token_bias_2 = self.add_weight(
            name="token_bias_2", shape=(num_patches,), initializer="zeros"
        )
        self.channel_dense_1 = layers.Dense(self.channels_mlp_dim, name="channel_dense_1")
        self.channel_dense_2 = layers.Dense(channels, name="channel_dense_2")
        self.channel_dense_1.build(input_shape)
        self.channel_dense_2.build((*input_shape[:-1], self.channels_mlp_dim))

    def mlp_tokens(self, x):
        """The token-mixing MLP along the patch axis: (B, P, C) -> (B, P, C).

        Equivalent to ``einsum("bpc,ps->bsc", x, W1)`` and back, but written on the
        transposed (B, C, P) table: one (B*C, P) @ (P, D_S) matmul per layer, with the
        biases on the last axis. On TensorFlow that trains the whole Mixer ~1.2x faster
        than the einsum form, whose contraction over the middle axis becomes extra
        transposes and whose middle-axis bias gradients are strided sums
        (``benchmarks/README.md``, "Each change alone").
        """
        x = ops.transpose(x, (0, 2, 1))  # (B, C, P): row c is channel c's sequence
        hidden = gelu(ops.matmul(x, self.token_kernel_1) + self.token_bias_1)
        out = ops.matmul(hidden, self.token_kernel_2) + self.token_bias_2  # (B, C, P)
        return ops.transpose(out, (0, 2, 1))

    def mlp_channels(self, x):
        """The channel-mixing MLP, applied to each patch: (B, P, C) -> (B, P, C)."""
        hidden = gelu(self.channel_dense_1(x))
        return self.channel_dense_2(hidden)

    def call(self, x, training=None):
        x = x + self.dropout(self.mlp_tokens(self.norm_tokens(x)), training=training)
        return x + self.dropout(self.mlp_channels(self.norm_channels(x)), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "tokens_mlp_dim": self.tokens_mlp_dim,
            "channels_mlp_dim": self.channels_mlp_dim,
            "dropout_rate": self.dropout_rate,
        }


def _check_sequence_shape(layer_name, input_shape):
    """Return ``(B, P, C)`` from a rank-3 shape with known P and C, or raise."""
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ValueError(
            f"{layer_name} expects a patch sequence of shape (B, P, C) with P and C known; "
            f"got input_shape={input_shape}."
        )
    return tuple(input_shape)
