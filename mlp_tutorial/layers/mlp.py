"""The two-layer MLP that every block in this book is built around."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class MLP(layers.Layer):
    """Two Dense layers with GELU between: ``Dropout(GELU(x W1 + b1) W2 + b2)``.

    As timm's ``Mlp``, it serves the Mixer's token mixing (on the transposed table) and
    channel mixing, and FNet's feed-forward network. The output has the input's width.

    Args:
        hidden_dim: width of the hidden layer.
        dropout_rate: dropout on the output.

    Input shape: ``(..., C)``. Output shape: ``(..., C)``.

    Example:
    >>> mlp = MLP(hidden_dim=32)
    >>> tuple(mlp(keras.ops.zeros((2, 64, 16))).shape), tuple(mlp.dense_1.kernel.shape)
    ((2, 64, 16), (16, 32))
    """

    def __init__(self, hidden_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.dropout_rate = dropout_rate
        # Keras' "gelu" is the exact GELU, x Φ(x), as in the papers.
        self.dense_1 = layers.Dense(hidden_dim, activation="gelu", name="dense_1")
        self.dropout = layers.Dropout(dropout_rate)

    def build(self, input_shape):
        self.dense_1.build(input_shape)
        self.dense_2 = layers.Dense(input_shape[-1], name="dense_2")
        self.dense_2.build((*input_shape[:-1], self.hidden_dim))

    def call(self, x, training=None):
        return self.dropout(self.dense_2(self.dense_1(x)), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "dropout_rate": self.dropout_rate,
        }
