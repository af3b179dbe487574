"""Input pipelines that live inside the model, so a saved model carries them.

The seeds' pipeline: normalize each channel to the training set's mean and variance,
resize to ``image_size``, then (in training only) flip horizontally and zoom by up to
20%. Keras's random preprocessing layers are active only when ``training=True``, so the
same model evaluates on clean, resized images.
"""

import keras
import numpy as np
from keras import layers

from mlp_tutorial.validation import check_choice, check_positive_int

AUGMENTATIONS = ("seed", "none")


def build_augmentation(kind="seed", *, image_size, name="augmentation"):
    """The input pipeline ``kind`` as one layer: (B, H, W, 3) in 0-255 -> (B, S, S, 3).

    Args:
        kind: ``"seed"`` (normalize, resize, random flip, random zoom 0.2) or ``"none"``
            (normalize and resize only).
        image_size: side ``S`` of the square images the patches are cut from.

    The ``Normalization`` layer starts as the identity; :func:`adapt_normalization`
    sets it to the training data's statistics before training.
    """
    check_choice("augmentation", kind, AUGMENTATIONS)
    image_size = check_positive_int("image_size", image_size)
    steps = [
        layers.Normalization(axis=-1, name="normalize"),
        layers.Resizing(image_size, image_size, name="resize"),
    ]
    if kind == "seed":
        steps += [
            layers.RandomFlip("horizontal", name="random_flip"),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2, name="random_zoom"),
        ]
    return keras.Sequential(steps, name=name)


def adapt_normalization(model, images):
    """Set every ``Normalization`` layer in ``model`` to the per-channel mean/variance of
    ``images`` (uint8 ``(N, H, W, C)``, the training split only).

    Returns the number of layers adapted, so a caller can tell if there were none.
    """
    found = [layer for layer in _walk(model) if isinstance(layer, layers.Normalization)]
    if found:
        mean, variance = channel_statistics(images)
    for layer in found:
        layer.adapt_mean.assign(np.reshape(mean, layer.adapt_mean.shape))
        layer.adapt_variance.assign(np.reshape(variance, layer.adapt_variance.shape))
        layer.finalize_state()
    return len(found)


def channel_statistics(images):
    """Per-channel mean and variance of ``(N, H, W, C)`` images: two ``(C,)`` arrays.

    Accumulated in float64 one channel at a time: a float32 sum over 46 million
    CIFAR pixels loses digits, and a float64 copy of all channels at once is 1 GB.
    """
    images = np.asarray(images)
    mean, variance = [], []
    for c in range(images.shape[-1]):
        channel = images[..., c].astype("float64")
        mean.append(channel.mean())
        variance.append(channel.var())
    return np.array(mean, "float32"), np.array(variance, "float32")


def _walk(layer):
    """Yield ``layer`` and every layer nested inside it, depth first."""
    yield layer
    for child in getattr(layer, "layers", []):
        yield from _walk(child)
