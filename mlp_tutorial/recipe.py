"""The training recipe: which regularizers and which learning-rate schedule a run uses.

``"example"`` is the Keras example's: flip and zoom in the model, integer labels, a constant
learning rate halved on plateaus. The papers used a stronger one (gMLP took DeiT's) of four
ingredients, each from Keras' own parts: ``warmup_cosine`` (``CosineDecay`` with a warmup,
instead of ``ReduceLROnPlateau``), ``label_smoothing`` (``1 - eps`` on the true class,
``eps`` spread over all), ``randaugment`` (``keras.layers.RandAugment``) and ``mixup_cutmix``
(each image augmented, then the batch mixed with a shuffled copy of itself by ``MixUp`` or
``CutMix``, the labels in the same proportion: :class:`BatchMixing`). Smoothing and mixing need
one-hot labels; the metrics keep the names ``top1`` and ``top5``.
"""

import dataclasses
import math
import numbers

import keras
import numpy as np

from mlp_tutorial.augment import build_random_augmentation
from mlp_tutorial.checks import check_positive_int, check_rate, reject

# The allowed range of each number in a Recipe, in words and as a test.
_RANGES = {
    "label_smoothing": ("in [0, 1)", lambda v: 0 <= v < 1),
    "warmup_fraction": ("in [0, 1)", lambda v: 0 <= v < 1),
    "mixup_alpha": ("> 0", lambda v: 0 < v < math.inf),
    "cutmix_alpha": ("in (0, 1]", lambda v: 0 < v <= 1),
    "cutmix_probability": ("in [0, 1]", lambda v: 0 <= v <= 1),
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe: four ingredients (``warmup_cosine``, ``label_smoothing`` ``eps``
    in [0, 1), ``randaugment``, ``mixup_cutmix``) and their settings, DeiT's by default (gMLP
    trained with them): the share of steps spent warming up, MixUp's Beta(alpha, alpha)
    image weights, CutMix's Beta(alpha, alpha) in (0, 1] (1: a uniform kept area, as in
    its paper), and the chance that a batch gets CutMix rather than MixUp."""

    warmup_cosine: bool = False
    label_smoothing: float = 0.0
    randaugment: bool = False
    mixup_cutmix: bool = False
    warmup_fraction: float = 0.1
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    cutmix_probability: float = 0.5

    def __post_init__(self):
        for name in ("warmup_cosine", "randaugment", "mixup_cutmix"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be True or False; got {getattr(self, name)!r}.")
        for name, (bounds, ok) in _RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
                raise ValueError(f"`{name}` must be a number {bounds}; got {value!r}.")
            object.__setattr__(self, name, float(value))

    @property
    def augmentation(self):
        """The ``build_model(augmentation=...)`` it needs; "none": :class:`BatchMixing` augments."""
        return "none" if self.mixup_cutmix else ("randaugment" if self.randaugment else "example")

    @property
    def one_hot(self):
        """Whether the labels must be one-hot (label smoothing and mixing need them)."""
        return self.label_smoothing > 0 or self.mixup_cutmix

    def describe(self):
        """The recipe as a JSON-able dict, for the results record."""
        return dataclasses.asdict(self)


#: The ingredients, in the order the ablation adds them, and the setting that turns each on.
INGREDIENTS = dict(warmup_cosine=True, label_smoothing=0.1, randaugment=True, mixup_cutmix=True)


def _cumulative():
    steps, recipe = {"example": Recipe()}, Recipe()
    for name, value in INGREDIENTS.items():
        recipe = dataclasses.replace(recipe, **{name: value})
        steps[f"+{name}"] = recipe
    return steps


#: Named recipes: ``"example"`` (the Keras example's), each ablation step (``"+name"``: the
#: step before it plus that ingredient) and ``"modern"`` (all four ingredients).
RECIPES = {**_cumulative(), "modern": Recipe(**INGREDIENTS)}

#: The ablation, in order: the example's recipe, then one more ingredient at each step.
ABLATION_STEPS = tuple(name for name in RECIPES if name != "modern")


def get_recipe(recipe):
    """``recipe`` as a :class:`Recipe`: a name from :data:`RECIPES`, or a Recipe as is."""
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, str) and recipe in RECIPES:
        return RECIPES[recipe]
    valid = ", ".join(repr(name) for name in RECIPES)
    raise ValueError(f"`recipe` must be a Recipe or one of {valid}; got {recipe!r}.")


def check_augmentation(recipe, augmentation):
    """Return ``augmentation`` (a ``build_model`` name) if it fits ``recipe`` (a name or a
    Recipe): the recipe's own, or for a recipe without RandAugment or mixing, ``"shift"``
    or ``"none"`` in place of the example's flip and zoom; else raise, saying which fits."""
    needed = get_recipe(recipe).augmentation
    if augmentation == needed or (needed == "example" and augmentation in ("shift", "none")):
        return augmentation
    fits = "'example', 'shift' or 'none'" if needed == "example" else repr(needed)
    shown = recipe if isinstance(recipe, str) else "this recipe"
    reject("augmentation", augmentation, fits, problem=f"does not fit `recipe`={shown!r}")


def warmup_cosine(learning_rate, total_steps, warmup_fraction=0.1, alpha=0.0):
    """Linear warmup from 0 to ``learning_rate``, then a cosine decay to ``alpha * lr``.

    With ``W = max(1, round(warmup_fraction * total_steps))`` warmup steps and
    ``D = max(1, total_steps - W)`` decay steps, the rate at step ``t`` is ``lr * t / W``
    for ``t < W``, then ``lr * (alpha + (1 - alpha) * (1 + cos(pi * (t - W) / D)) / 2)``,
    and ``alpha * lr`` after ``W + D`` steps.
    """
    total_steps = check_positive_int("total_steps", total_steps)
    warmup_steps = max(1, round(check_rate("warmup_fraction", warmup_fraction) * total_steps))
    decay = dict(decay_steps=max(1, total_steps - warmup_steps), alpha=alpha)
    warmup = dict(warmup_target=learning_rate, warmup_steps=warmup_steps)
    return keras.optimizers.schedules.CosineDecay(initial_learning_rate=0.0, **decay, **warmup)


def learning_rate_for(recipe, learning_rate, total_steps=None):
    """AdamW's learning rate: ``learning_rate`` itself, or its warmup-cosine schedule."""
    recipe = get_recipe(recipe)
    if not recipe.warmup_cosine:
        return learning_rate
    if total_steps is None:
        raise ValueError("`total_steps` is needed when the recipe uses warmup_cosine.")
    return warmup_cosine(learning_rate, total_steps, recipe.warmup_fraction)


def loss_for(recipe):
    """Cross-entropy on logits: sparse for integer labels, smoothed for one-hot ones."""
    recipe = get_recipe(recipe)
    if not recipe.one_hot:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    smoothing = recipe.label_smoothing
    return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)


def metrics_for(recipe):
    """Top-1 and top-5 accuracy as ``top1`` and ``top5``, for integer or one-hot labels."""
    if get_recipe(recipe).one_hot:
        top1, top5 = keras.metrics.CategoricalAccuracy, keras.metrics.TopKCategoricalAccuracy
    else:
        top1 = keras.metrics.SparseCategoricalAccuracy
        top5 = keras.metrics.SparseTopKCategoricalAccuracy
    return [top1(name="top1"), top5(k=5, name="top5")]


def compile_model(model, *, learning_rate, weight_decay, recipe="example", total_steps=None):
    """Compile ``model``: AdamW and the recipe's loss, learning rate and metrics."""
    lr = learning_rate_for(recipe, learning_rate, total_steps)
    optimizer = keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay)
    model.compile(optimizer=optimizer, loss=loss_for(recipe), metrics=metrics_for(recipe))


class BatchMixing:
    """Augment each image of a batch, then mix the batch: Keras' ``MixUp(mixup_alpha)``, or
    ``CutMix(factor=(cutmix_alpha, cutmix_alpha))`` with ``cutmix_probability``.

    DeiT's and timm's order: ``augmentation`` (a Keras layer on raw images (B, H, W, C),
    :func:`~mlp_tutorial.augment.build_random_augmentation`; None: none) comes first, so
    RandAugment's colour operations see one image, not a blend, and a CutMix rectangle is not
    sheared or zoomed afterwards. Every choice and number follows from the NumPy ``rng`` passed
    in (the layers' seed generators are reset from it), so from the caller's seed.
    """

    def __init__(
        self, mixup_alpha=0.8, cutmix_alpha=1.0, cutmix_probability=0.5, augmentation=None
    ):
        self.mixup = keras.layers.MixUp(alpha=mixup_alpha, name="mixup")
        self.cutmix = keras.layers.CutMix(factor=(cutmix_alpha, cutmix_alpha), name="cutmix")
        self.cutmix_probability = cutmix_probability
        self.augmentation = keras.layers.Identity() if augmentation is None else augmentation

    @classmethod
    def from_recipe(cls, recipe):
        """The augmentation and mixing ``recipe`` asks for, or None if it mixes nothing."""
        recipe = get_recipe(recipe)
        if not recipe.mixup_cutmix:
            return None
        mixing = (recipe.mixup_alpha, recipe.cutmix_alpha, recipe.cutmix_probability)
        return cls(*mixing, augmentation=build_random_augmentation(recipe.randaugment))

    def __call__(self, images, labels, rng):
        """Augment ``images`` (B, H, W, C), then mix them and one-hot ``labels`` (B, K):
        NumPy float32 images in their input range, and label rows that sum to 1."""
        mix = self.cutmix if rng.random() < self.cutmix_probability else self.mixup
        seeded = [*mix.variables, *self.augmentation.variables]  # the mix's seed first
        for state in [v for v in seeded if v.name == "seed_generator_state"]:
            value = np.array([rng.integers(1, 2**31 - 1), 0])
            state.assign(value.astype(keras.backend.standardize_dtype(state.dtype)))
        images = self.augmentation(images, training=True)  # each image on its own
        mixed = mix({"images": images, "labels": labels}, training=True)
        images = keras.ops.convert_to_numpy(mixed["images"])
        return images, keras.ops.convert_to_numpy(mixed["labels"]).astype("float32")
