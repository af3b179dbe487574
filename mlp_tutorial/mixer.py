"""The MLP-Mixer block (Tolstikhin et al., 2021).

A Mixer block alternates two MLPs over the ``(P, C)`` table of patch embeddings:

    U = X + W2 · GELU(W1 · LN(X))          token mixing: along the patch axis, per channel
    Y = U + GELU(LN(U) · W3) · W4          channel mixing: along the channel axis, per patch

The token-mixing MLP has hidden width ``D_S`` and the channel-mixing MLP ``D_C``; the
paper's models use ``D_S = C / 2`` and ``D_C = 4 C``. Each sub-layer has its own
LayerNorm (the Keras example shares one between them).
"""

import keras
from keras import layers, ops

from mlp_tutorial.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class MixerBlock(keras.layers.Layer):
    """One Mixer layer: a token-mixing MLP, then a channel-mixing MLP, each pre-normed.

    The token-mixing MLP is applied to every column of the ``(P, C)`` table, i.e. to each
    channel's sequence of ``P`` values; it is written as two ``einsum`` contractions over
    the patch axis, which is the same as ``transpose -> Dense -> transpose`` without the
    two transposes.

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
        self.norm_tokens = layers.LayerNormalization(epsilon=1e-6, name="norm_tokens")
        self.norm_channels = layers.LayerNormalization(epsilon=1e-6, name="norm_channels")
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
        """The token-mixing MLP along the patch axis: (B, P, C) -> (B, P, C)."""
        hidden = ops.einsum("bpc,ps->bsc", x, self.token_kernel_1)
        hidden = ops.gelu(hidden + self.token_bias_1[:, None], approximate=False)
        out = ops.einsum("bsc,sp->bpc", hidden, self.token_kernel_2)
        return out + self.token_bias_2[:, None]

    def mlp_channels(self, x):
        """The channel-mixing MLP, applied to each patch: (B, P, C) -> (B, P, C)."""
        hidden = ops.gelu(self.channel_dense_1(x), approximate=False)
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
