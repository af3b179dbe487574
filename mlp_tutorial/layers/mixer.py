"""The MLP-Mixer block (Tolstikhin et al., 2021)."""

import keras
from keras import layers, ops

from mlp_tutorial.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class MixerBlock(layers.Layer):
    """One Mixer layer (Tolstikhin et al., 2021): mix across patches, then channels.

        U = X + MLP_tokens(LN(X)ᵀ)ᵀ        token mixing: each channel's P values
        Y = U + MLP_channels(LN(U))        channel mixing: each patch's C values

    on the ``(P, C)`` table X, each MLP behind its own LayerNorm; the transposes
    make the token MLP act on the last axis. The paper's widths: ``D_S = C / 2``,
    ``D_C = 4 C``.

    Args:
        tokens_mlp_dim: hidden width ``D_S`` of the token-mixing MLP.
        channels_mlp_dim: hidden width ``D_C`` of the channel-mixing MLP.
        dropout_rate: dropout on each MLP's output, before the residual add.

    Input shape: ``(B, P, C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> tuple(MixerBlock(32, 256)(keras.ops.zeros((2, 64, 64))).shape)
    (2, 64, 64)
    """

    def __init__(self, tokens_mlp_dim, channels_mlp_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.tokens_mlp_dim = tokens_mlp_dim
        self.channels_mlp_dim = channels_mlp_dim
        self.dropout_rate = dropout_rate
        self.norm_tokens = layers.LayerNormalization(epsilon=1e-6, name="norm_tokens")
        self.mlp_tokens = MLP(tokens_mlp_dim, dropout_rate, name="mlp_tokens")
        self.norm_channels = layers.LayerNormalization(
            epsilon=1e-6,
            name="norm_channels",
        )
        self.mlp_channels = MLP(channels_mlp_dim, dropout_rate, name="mlp_channels")

    def build(self, input_shape):
        batch, num_patches, channels = input_shape
        self.norm_tokens.build(input_shape)
        self.mlp_tokens.build((batch, channels, num_patches))
        self.norm_channels.build(input_shape)
        self.mlp_channels.build(input_shape)

    def call(self, x, training=None):
        tokens = ops.transpose(self.norm_tokens(x), (0, 2, 1))  # (B, C, P)
        x = x + ops.transpose(self.mlp_tokens(tokens, training=training), (0, 2, 1))
        return x + self.mlp_channels(self.norm_channels(x), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "tokens_mlp_dim": self.tokens_mlp_dim,
            "channels_mlp_dim": self.channels_mlp_dim,
            "dropout_rate": self.dropout_rate,
        }
