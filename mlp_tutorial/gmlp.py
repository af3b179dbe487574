"""The gMLP block and its Spatial Gating Unit (Liu et al., 2021, "Pay Attention to MLPs").

A gMLP block is a feed-forward network with a gate in the middle:

    Z = GELU(LN(X) · U)                       channel projection up to d_ffn
    s(Z) = Z1 ⊙ (W · LN(Z2) + b)              Spatial Gating Unit, Z = [Z1, Z2]
    Y = X + s(Z) · V                          channel projection back, residual on X

``W`` is a ``(P, P)`` matrix over patches: the only place tokens talk to each other. The
paper initialises ``W`` near zero and ``b`` to one, so at the start ``s(Z) ≈ Z1`` and the
block is an ordinary FFN; spatial interactions are learned from there. ``LayerNorm`` and
``gelu`` are Keras' LayerNormalization and exact GELU with hand-written gradients
(:mod:`mlp_tutorial.custom_gradients`).
"""

import keras
from keras import layers, ops

from mlp_tutorial.custom_gradients import LayerNorm, gelu
from mlp_tutorial.mixer import _check_sequence_shape
from mlp_tutorial.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class SpatialGatingUnit(keras.layers.Layer):
    """Gate one half of the channels with a linear projection of the other across patches.

    ``u, v = split(x)``; ``out = u ⊙ (W · LN(v) + b)`` where ``W`` mixes patches.
    ``W[i, j]`` is how much input patch ``j`` contributes to output patch ``i``.

    Args:
        spatial_initializer: initializer for ``W``; near zero (normal, std 1e-6) as in
            the paper, so the unit starts as ``out ≈ u``.
        bias_initializer: initializer for ``b`` (one value per patch); ones.

    Input shape: ``(B, P, 2C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> SpatialGatingUnit()(keras.ops.ones((2, 16, 8))).shape
    (2, 16, 4)
    """

    def __init__(self, spatial_initializer=None, bias_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if spatial_initializer is None:
            spatial_initializer = keras.initializers.RandomNormal(stddev=1e-6)
        self.spatial_initializer = keras.initializers.get(spatial_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.norm = LayerNorm(epsilon=1e-6, name="norm")

    def build(self, input_shape):
        _, num_patches, channels = _check_sequence_shape("SpatialGatingUnit", input_shape)
        if channels % 2:
            raise ValueError(
                "SpatialGatingUnit splits its channels into two equal halves, so the last "
                f"axis must be even; got input_shape={input_shape}."
            )
        self.norm.build((*input_shape[:-1], channels // 2))
        self.spatial_kernel = self.add_weight(
            name="spatial_kernel",
            shape=(num_patches, num_patches),
            initializer=self.spatial_initializer,
        )
        self.spatial_bias = self.add_weight(
            name="spatial_bias", shape=(num_patches,), initializer=self.bias_initializer
        )

    def call(self, x):
        u, v = ops.split(x, 2, axis=-1)
        # W · LN(v) + b, computed on the transposed (B, C, P) gate half: a matmul on the
        # last axis with the bias on the last axis, the layout TensorFlow runs fastest
        # (the same reason as MixerBlock.mlp_tokens).
        v = ops.transpose(self.norm(v), (0, 2, 1))  # (B, C, P)
        v = ops.matmul(v, ops.transpose(self.spatial_kernel)) + self.spatial_bias
        return u * ops.transpose(v, (0, 2, 1))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)

    def get_config(self):
        return {
            **super().get_config(),
            "spatial_initializer": keras.initializers.serialize(self.spatial_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class GMLPBlock(keras.layers.Layer):
    """One gMLP block: norm, project up, GELU, spatial gating, project down, add the input.

    Args:
        ffn_dim: width ``d_ffn`` after the first channel projection; must be even,
            because the Spatial Gating Unit halves it.
        dropout_rate: dropout on the block's output, before the residual add.

    Input shape: ``(B, P, C)``. Output shape: ``(B, P, C)``.

    Example:
    >>> GMLPBlock(ffn_dim=128)(keras.ops.zeros((2, 64, 64))).shape
    (2, 64, 64)
    """

    def __init__(self, ffn_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.ffn_dim = check_positive_int("ffn_dim", ffn_dim)
        if self.ffn_dim % 2:
            raise ValueError(
                f"`ffn_dim` must be even (the Spatial Gating Unit halves it); got {ffn_dim!r}."
            )
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.norm = LayerNorm(epsilon=1e-6, name="norm")
        self.channel_proj_in = layers.Dense(self.ffn_dim, name="channel_proj_in")
        self.sgu = SpatialGatingUnit(name="sgu")
        self.dropout = layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        _check_sequence_shape("GMLPBlock", input_shape)
        hidden_shape = (*input_shape[:-1], self.ffn_dim)
        self.norm.build(input_shape)
        self.channel_proj_in.build(input_shape)
        self.sgu.build(hidden_shape)
        self.channel_proj_out = layers.Dense(input_shape[-1], name="channel_proj_out")
        self.channel_proj_out.build((*input_shape[:-1], self.ffn_dim // 2))

    def call(self, x, training=None):
        shortcut = x
        x = gelu(self.channel_proj_in(self.norm(x)))
        x = self.channel_proj_out(self.sgu(x))
        # The residual adds the block's input, as in the paper (the Keras example adds
        # the normalized input instead).
        return shortcut + self.dropout(x, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "ffn_dim": self.ffn_dim,
            "dropout_rate": self.dropout_rate,
        }
