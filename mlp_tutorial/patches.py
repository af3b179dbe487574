"""Turning an image into a sequence of patches, and telling the model where each came from.

Every model in this book starts the way ViT does (Dosovitskiy et al., 2021): cut the image
into non-overlapping ``p x p`` patches, flatten each one, and treat the result as a
sequence of ``P = (H / p) * (W / p)`` tokens.
"""

import keras
from keras import ops

from mlp_tutorial.validation import check_positive_int


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class Patches(keras.layers.Layer):
    """Split images into a sequence of flattened, non-overlapping square patches.

    The patches are read row by row (left to right, top to bottom), and each patch is
    flattened in (row, column, channel) order, the same order as
    ``keras.ops.image.extract_patches``. A reshape and a transpose do the work: no
    convolution and no copy per patch.

    Args:
        patch_size: side length ``p`` of each square patch, in pixels.

    Input shape: ``(B, H, W, C)`` with ``H`` and ``W`` divisible by ``p``.
    Output shape: ``(B, (H // p) * (W // p), p * p * C)``.

    Example:
    >>> Patches(8)(keras.ops.zeros((2, 64, 64, 3))).shape
    (2, 64, 192)
    """

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_positive_int("patch_size", patch_size)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"Patches expects images of shape (B, H, W, C); got input_shape={input_shape}."
            )
        height, width = input_shape[1], input_shape[2]
        for axis_name, size in (("height", height), ("width", width)):
            if size is None or size % self.patch_size:
                raise ValueError(
                    f"Image {axis_name} {size} is not divisible by patch_size={self.patch_size}; "
                    "resize the image or choose a patch_size that divides it."
                )

    def call(self, images):
        _, height, width, channels = images.shape
        p = self.patch_size
        rows, cols = height // p, width // p
        # (B, rows, p, cols, p, C) -> (B, rows, cols, p, p, C): the two p axes end up
        # next to each other so one reshape flattens each patch.
        x = ops.reshape(images, (-1, rows, p, cols, p, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, rows * cols, p * p * channels))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        p = self.patch_size
        return (batch, (height // p) * (width // p), p * p * channels)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class PositionEmbedding(keras.layers.Layer):
    """Add a learned vector to each position of a sequence: ``x + E``.

    Token mixing with a fixed transform (FNet's Fourier transform) treats the sequence as
    an unordered set unless each token carries its position, so FNet adds one learned
    ``D``-vector per patch, as ViT does. Mixer and gMLP learn position-specific token
    mixing weights and need none.

    Args:
        initializer: initializer for the ``(P, D)`` table; Glorot-uniform by default,
            as in the Keras example (values up to ``sqrt(6 / (P + D))``). ViT's
            truncated normal with standard deviation 0.02 starts the positions so faint
            that a short training run never makes up for it: FNet trained 10 epochs on
            the offline dataset reached 2.5 points lower test top-1 with it, over three
            seeds (``benchmarks/README.md``, "Accuracy at equal epochs").

    Input shape: ``(B, P, D)``. Output shape: ``(B, P, D)``.
    """

    def __init__(self, initializer=None, **kwargs):
        super().__init__(**kwargs)
        if initializer is None:
            initializer = keras.initializers.GlorotUniform()
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "PositionEmbedding expects a sequence of shape (B, P, D) with P and D known; "
                f"got input_shape={input_shape}."
            )
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(input_shape[1], input_shape[2]),
            initializer=self.initializer,
        )

    def call(self, x):
        return x + ops.cast(self.embeddings, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "initializer": keras.initializers.serialize(self.initializer),
        }
