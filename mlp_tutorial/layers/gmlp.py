"""gMLP's block and Spatial Gating Unit (Liu et al., 2021: "Pay Attention to MLPs")."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class SpatialGatingUnit(layers.Layer):
    """gMLP's gate: half the channels, times the other half projected across patches.

        u, v = split(Z)                    the two halves of the channels
        s(Z) = u ⊙ (W · LN(v) + b)         W (P, P): patch j to patch i; b: (P,)

    W starts near zero (std 1e-6) and b at one, as in the paper: at first ``s(Z) ≈ u``.

    Input shape: ``(B, P, 2C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> tuple(SpatialGatingUnit()(keras.ops.ones((2, 16, 8))).shape)
    (2, 16, 4)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norm = layers.LayerNormalization(epsilon=1e-6, name="norm")

    def build(self, input_shape):
        batch, num_patches, channels = input_shape
        self.norm.build((batch, num_patches, channels // 2))
        near_zero = keras.initializers.RandomNormal(stddev=1e-6)
        self.spatial_kernel = self.add_weight(
            shape=(num_patches, num_patches),
            initializer=near_zero,
            name="spatial_kernel",
        )
        self.spatial_bias = self.add_weight(
            shape=(num_patches,), initializer="ones", name="spatial_bias"
        )

    def call(self, z):
        u, v = ops.split(z, 2, axis=-1)
        v = ops.einsum("ij,bjc->bic", self.spatial_kernel, self.norm(v))
        return u * (v + self.spatial_bias[:, None])


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class GMLPBlock(layers.Layer):
    """One gMLP block (Liu et al., 2021): a feed-forward network gated in the middle.

        Z = GELU(LN(X) U)                  U: (C, d_ffn), on each patch
        Y = X + s(Z) V                     V: (d_ffn / 2, C); s: the SpatialGatingUnit

    Args:
        ffn_dim: width ``d_ffn`` of ``Z``; even, as the gating unit halves it.
        dropout_rate: dropout on ``s(Z) V``, before the residual add.

    Input shape: ``(B, P, C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> block = GMLPBlock(ffn_dim=128)
    >>> y = block(keras.ops.zeros((2, 64, 32)))
    >>> tuple(y.shape), tuple(block.sgu.spatial_kernel.shape)
    ((2, 64, 32), (64, 64))
    """

    def __init__(self, ffn_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(ffn_dim, int) or ffn_dim < 2 or ffn_dim % 2:
            raise ValueError(
                "Received an invalid value for `ffn_dim`, expected an even integer "
                f">= 2 (the gating unit halves it). Received: ffn_dim={ffn_dim!r}"
            )
        self.ffn_dim = ffn_dim
        self.dropout_rate = dropout_rate
        self.norm = layers.LayerNormalization(epsilon=1e-6, name="norm")
        self.channel_proj_in = layers.Dense(
            ffn_dim,
            activation="gelu",
            name="channel_proj_in",
        )
        self.sgu = SpatialGatingUnit(name="sgu")
        self.dropout = layers.Dropout(dropout_rate)

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.channel_proj_in.build(input_shape)
        self.sgu.build((*input_shape[:-1], self.ffn_dim))
        self.channel_proj_out = layers.Dense(input_shape[-1], name="channel_proj_out")
        self.channel_proj_out.build((*input_shape[:-1], self.ffn_dim // 2))

    def call(self, x, training=None):
        z = self.sgu(self.channel_proj_in(self.norm(x)))
        return x + self.dropout(self.channel_proj_out(z), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "ffn_dim": self.ffn_dim,
            "dropout_rate": self.dropout_rate,
        }
