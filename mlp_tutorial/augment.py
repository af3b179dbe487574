"""Input pipelines that live inside the model, so a saved model carries them.

The Keras example's pipeline (``"example"``) normalizes each channel to the training set's
mean and variance, resizes to ``image_size``, then, in training only, flips and zooms by up
to 20%. ``"shift"`` flips and shifts by up to an eighth of the image instead (4 pixels at
32 x 32, filled by reflection: the pad-and-crop of the CIFAR ResNets, without a zoom's
resampling). ``"randaugment"`` puts Keras' ``RandAugment`` (Cubuk et al., 2020) in front:
its colour operations (solarize, posterize...) need the raw pixels' fixed range, 0-255. A
recipe that mixes images augments each one before mixing, outside the model
(:class:`~mlp_tutorial.recipe.BatchMixing`).
"""

import keras
import numpy as np
from keras import layers

from mlp_tutorial.checks import check_choice, check_positive_int

AUGMENTATIONS = ("example", "shift", "randaugment", "none")

#: RandAugment's operations per image and strength: a ``factor`` of 0.2 turns by up to a
#: fifth of a turn and shifts by a fifth of the image; the default, 0.5, by half.
RANDAUGMENT = dict(num_ops=2, factor=0.2)


def build_random_augmentation(randaugment=False, *, shift=False):
    """Random changes to each image, as one layer: (B, H, W, 3) in 0-255 -> the same.

    ``RandAugment`` (:data:`RANDAUGMENT`) if ``randaugment``, then a random horizontal
    flip and a zoom by up to 20% (``shift``: a shift by up to 1/8), in training only.
    Keras' RandAugment (used as is) picks its operations once per batch (strengths per
    image); timm picks per image.
    """
    settings = dict(value_range=(0, 255), **RANDAUGMENT)  # the raw pixels' range
    steps = [layers.RandAugment(**settings, name="rand_augment")] if randaugment else []
    if shift:
        # by up to 1/8 of the height and the width; Keras fills the border by reflection
        move = layers.RandomTranslation(0.125, 0.125, name="random_shift")
    else:
        move = layers.RandomZoom(0.2, 0.2, name="random_zoom")
    if not randaugment and keras.backend.backend() == "jax":
        # Keras marks RandomZoom and RandomTranslation supports_jit=False for
        # TensorFlow's sake, which makes JAX run the whole train step op by op; their
        # JAX code compiles.
        move.supports_jit = True
    steps += [layers.RandomFlip("horizontal", name="random_flip"), move]
    return keras.Sequential(steps, name="random_augmentation")


def build_augmentation(kind="example", *, image_size, name="augmentation"):
    """The input pipeline ``kind`` as one layer: (B, H, W, 3) in 0-255 -> (B, S, S, 3).

    ``kind``: ``"example"`` (normalize, resize, random flip, random zoom 0.2),
    ``"shift"`` (the same with a random shift by up to 1/8 for the zoom),
    ``"randaugment"`` (``RandAugment`` on the 0-255 pixels, then the example's) or
    ``"none"`` (normalize and resize); :func:`adapt_normalization` sets the statistics.
    """
    check_choice("augmentation", kind, AUGMENTATIONS)
    image_size = check_positive_int("image_size", image_size)
    normalize = layers.Normalization(axis=-1, name="normalize")
    steps = [normalize, layers.Resizing(image_size, image_size, name="resize")]
    if kind != "none":  # RandAugment on the raw pixels, flip and zoom at the end
        random = build_random_augmentation(kind == "randaugment", shift=kind == "shift")
        *raw, flip, move = random.layers
        steps = [*raw, *steps, flip, move]
    return keras.Sequential(steps, name=name)


def adapt_normalization(model, images):
    """Set every ``Normalization`` layer in ``model`` to the per-channel mean/variance of
    ``images`` (uint8 ``(N, H, W, C)``, the training split); returns how many there were."""
    found = [layer for layer in _walk(model) if isinstance(layer, layers.Normalization)]
    if found:
        mean, variance = channel_statistics(images)
    for layer in found:
        layer.adapt_mean.assign(np.reshape(mean, layer.adapt_mean.shape))
        layer.adapt_variance.assign(np.reshape(variance, layer.adapt_variance.shape))
        layer.finalize_state()
    return len(found)


def augmentation_of(model):
    """The name of the pipeline in ``model``, from its random layers: ``"randaugment"``,
    ``"example"`` (flip and zoom), ``"shift"`` (flip and shift) or ``"none"``."""
    kinds = {layers.RandAugment: "randaugment", layers.RandomZoom: "example"}
    kinds[layers.RandomTranslation] = "shift"
    found = [kinds[type(layer)] for layer in _walk(model) if type(layer) in kinds]
    return found[0] if found else "none"


def channel_statistics(images):
    """Per-channel mean and variance of ``(N, H, W, C)`` images: two ``(C,)`` arrays,
    summed in float64 (float32 loses digits over 46 million pixels), a channel at a time."""
    images = np.asarray(images)
    channels = (images[..., c].astype("float64") for c in range(images.shape[-1]))  # lazily
    stats = np.array([(channel.mean(), channel.var()) for channel in channels], "float32")
    return stats[:, 0], stats[:, 1]


def _walk(layer):
    """Yield ``layer`` and every layer nested inside it, depth first."""
    yield layer
    for child in getattr(layer, "layers", []):
        yield from _walk(child)
