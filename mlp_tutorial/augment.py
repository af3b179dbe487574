"""Input pipelines that live inside the model, so a saved model carries them.

The seeds' pipeline: normalize each channel to the training set's mean and variance,
resize to ``image_size``, then (in training only) flip horizontally and zoom by up to
20%. Keras's random preprocessing layers are active only when ``training=True``, so the
same model evaluates on clean, resized images.

The stronger pipeline, ``"randaugment"``, puts Keras's ``RandAugment`` (Cubuk et al.,
2020) in front of the seeds' one. It must come first: its colour operations
(solarize, posterize, equalize, auto-contrast...) need to know the pixels' range, and
only the raw images have a fixed one, 0-255; after normalization they have none.
"""

import keras
import numpy as np
from keras import layers

from mlp_tutorial.validation import check_choice, check_positive_int

AUGMENTATIONS = ("seed", "randaugment", "none")

#: RandAugment's settings: operations per image, and their strength. Keras scales each
#: operation's ``factor`` to its own maximum (a rotation of 0.2 is a fifth of a turn,
#: a translation of 0.2 a fifth of the image), so 0.2 is a moderate strength for 32 x 32
#: images; the layer's default, 0.5, turns and shifts them half-way round.
RANDAUGMENT = dict(num_ops=2, factor=0.2)


def build_augmentation(kind="seed", *, image_size, name="augmentation"):
    """The input pipeline ``kind`` as one layer: (B, H, W, 3) in 0-255 -> (B, S, S, 3).

    Args:
        kind: ``"seed"`` (normalize, resize, random flip, random zoom 0.2),
            ``"randaugment"`` (``RandAugment`` on the 0-255 pixels, then the seeds'
            pipeline) or ``"none"`` (normalize and resize only).
        image_size: side ``S`` of the square images the patches are cut from.

    The ``Normalization`` layer starts as the identity; :func:`adapt_normalization`
    sets it to the training data's statistics before training.
    """
    check_choice("augmentation", kind, AUGMENTATIONS)
    image_size = check_positive_int("image_size", image_size)
    steps = []
    if kind == "randaugment":
        steps.append(layers.RandAugment(value_range=(0, 255), **RANDAUGMENT, name="rand_augment"))
    steps += [
        layers.Normalization(axis=-1, name="normalize"),
        layers.Resizing(image_size, image_size, name="resize"),
    ]
    if kind in ("seed", "randaugment"):
        zoom = layers.RandomZoom(height_factor=0.2, width_factor=0.2, name="random_zoom")
        if kind == "seed" and keras.backend.backend() == "jax":
            # RandomZoom says supports_jit=False because its TensorFlow op has no XLA
            # kernel, and one such layer makes Keras run the whole train step op by op.
            # Its JAX implementation compiles fine: jit makes JAX training 1.1-1.3x
            # faster (benchmarks/README.md, "JAX backend").
            zoom.supports_jit = True
        steps += [layers.RandomFlip("horizontal", name="random_flip"), zoom]
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


def uses_randaugment(model):
    """Whether ``model`` has a ``RandAugment`` layer anywhere inside it."""
    return any(isinstance(layer, layers.RandAugment) for layer in _walk(model))


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
