"""From an image to a sequence of patch vectors (as in ViT, Dosovitskiy et al., 2021)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class Patches(keras.layers.Layer):
    """Cut images into non-overlapping ``p x p`` patches and flatten each one.

    Patches are read row by row and flattened in (row, column, channel) order, as
    ``keras.ops.image.extract_patches`` does, by one reshape and one transpose.

    Args:
        patch_size: side length ``p`` of each square patch, in pixels.

    Input shape: ``(B, H, W, C)`` with ``H`` and ``W`` divisible by ``p``.
    Output shape: ``(B, P, p * p * C)`` with ``P = (H / p) * (W / p)`` patches.

    Example:
    >>> tuple(Patches(8)(keras.ops.zeros((2, 64, 64, 3))).shape)
    (2, 64, 192)
    """

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(
                "Received an invalid value for `patch_size`, expected a positive "
                f"integer. Received: patch_size={patch_size!r}"
            )
        self.patch_size = patch_size

    def build(self, input_shape):
        _, height, width, _ = input_shape
        p = self.patch_size
        if height is None or width is None or height % p or width % p:
            message = f"{height}x{width} images are not divisible by patch_size={p}."
            raise ValueError(message)

    def call(self, images):
        _, height, width, channels = images.shape
        p = self.patch_size
        # (B, rows, p, cols, p, C) -> (B, rows, cols, p, p, C): then one reshape
        # flattens each patch
        x = ops.reshape(images, (-1, height // p, p, width // p, p, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, (height // p) * (width // p), p * p * channels))

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="mlp_tutorial")
class PositionEmbedding(keras.layers.Layer):
    """Add one learned vector per position to a sequence: ``x + E``, ``E`` of shape
    ``(P, D)``.

    FNet's fixed Fourier mixing sees the patches as an unordered set unless each carries
    its position; Mixer and gMLP learn position-specific token mixing and need none.
    ``E`` starts Glorot-uniform, as in the Keras example (ViT: normal, std 0.02).

    Input shape: ``(B, P, D)``. Output shape: ``(B, P, D)``.

    Example:
    >>> tuple(PositionEmbedding()(keras.ops.zeros((2, 64, 16))).shape)
    (2, 64, 16)
    """

    def build(self, input_shape):
        shape = tuple(input_shape[1:])  # (P, D)
        self.embeddings = self.add_weight(
            shape=shape, initializer="glorot_uniform", name="embeddings"
        )

    def call(self, x):
        return x + ops.cast(self.embeddings, x.dtype)
