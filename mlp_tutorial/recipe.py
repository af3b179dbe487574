"""The training recipe: which regularizers and which learning-rate schedule a run uses.

The seeds train with the Keras example's recipe: flip and zoom inside the model, integer
labels, a constant learning rate halved on plateaus. The papers trained their MLPs with
a stronger one (gMLP took DeiT's), made of four ingredients, each built from Keras's
own parts:

* ``warmup_cosine``: the learning rate rises linearly from 0 over the first steps, then
  follows half a cosine down to 0 (``keras.optimizers.schedules.CosineDecay`` with
  ``warmup_target``). ``ReduceLROnPlateau`` cannot change a schedule, so it is dropped.
* ``label_smoothing``: the target puts ``1 - eps`` on the true class and spreads ``eps``
  over all classes (``keras.losses.CategoricalCrossentropy(label_smoothing=eps)``).
* ``randaugment``: ``keras.layers.RandAugment`` inside the model, in training only; it is
  chosen when the model is built (``build_model(augmentation=recipe.augmentation)``).
* ``mixup_cutmix``: each training batch is mixed with a shuffled copy of itself, by
  ``keras.layers.MixUp`` (a weighted sum of two images) or ``keras.layers.CutMix`` (a
  rectangle of one pasted into the other), and the labels are mixed in the same
  proportion (:class:`BatchMixing`, applied by ``training.EpochBatches``).

Label smoothing and mixing need one-hot labels; the metrics are then
``CategoricalAccuracy`` and ``TopKCategoricalAccuracy``, still named ``top1`` and ``top5``.
"""

import dataclasses
import math
import numbers

import keras
import numpy as np

from mlp_tutorial.validation import check_rate

__all__ = [
    "ABLATION_STEPS",
    "INGREDIENTS",
    "RECIPES",
    "BatchMixing",
    "Recipe",
    "get_recipe",
    "learning_rate_for",
    "loss_for",
    "metrics_for",
    "warmup_cosine",
]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe: four ingredients that can be switched on one by one.

    Args:
        warmup_cosine: linear warmup then cosine decay of the learning rate, instead of
            a constant rate halved on plateaus.
        label_smoothing: ``eps`` in [0, 1); 0 trains on the hard labels.
        randaugment: the model carries ``RandAugment`` (build it with
            ``augmentation=recipe.augmentation``).
        mixup_cutmix: mix every training batch with MixUp or CutMix.
        warmup_fraction: share of all training steps spent warming up.
        mixup_alpha: MixUp draws each image's weight from Beta(alpha, alpha).
        cutmix_alpha: CutMix's Beta(alpha, alpha), in (0, 1]; 1 draws the kept area
            uniformly, as in the CutMix paper.
        cutmix_probability: per batch, CutMix with this probability, else MixUp.

    The defaults of the last four are DeiT's, which gMLP trained with.
    """

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
        for name in ("label_smoothing", "warmup_fraction"):
            object.__setattr__(self, name, check_rate(name, getattr(self, name)))
        for name, upper in (("mixup_alpha", math.inf), ("cutmix_alpha", 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                value = math.nan
            if not 0 < value <= upper:
                bound = "> 0" if upper == math.inf else f"in (0, {upper:g}]"
                raise ValueError(f"`{name}` must be a number {bound}; got {getattr(self, name)!r}.")
            object.__setattr__(self, name, float(value))
        p = self.cutmix_probability
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"`cutmix_probability` must be a number in [0, 1]; got {p!r}.")
        object.__setattr__(self, "cutmix_probability", float(p))

    @property
    def augmentation(self):
        """The ``build_model(augmentation=...)`` this recipe needs."""
        return "randaugment" if self.randaugment else "seed"

    @property
    def one_hot(self):
        """Whether the labels must be one-hot (label smoothing and mixing need them)."""
        return self.label_smoothing > 0 or self.mixup_cutmix

    def describe(self):
        """The recipe as a JSON-able dict, for the results record."""
        return dataclasses.asdict(self)


#: The ingredients, in the order the ablation adds them, and the setting that turns
#: each one on.
INGREDIENTS = {
    "warmup_cosine": True,
    "label_smoothing": 0.1,
    "randaugment": True,
    "mixup_cutmix": True,
}


def _cumulative():
    steps, recipe = {"seed": Recipe()}, Recipe()
    for name, value in INGREDIENTS.items():
        recipe = dataclasses.replace(recipe, **{name: value})
        steps[f"+{name}"] = recipe
    return steps


#: Named recipes: ``"seed"`` (the Keras example's), each ablation step (``"+name"``: the
#: step before it plus that ingredient) and ``"modern"`` (all four ingredients).
RECIPES = {**_cumulative(), "modern": Recipe(**INGREDIENTS)}

#: The ablation, in order: the seed recipe, then one more ingredient at each step.
ABLATION_STEPS = tuple(name for name in RECIPES if name != "modern")


def get_recipe(recipe):
    """``recipe`` as a :class:`Recipe`: a name from :data:`RECIPES`, or a Recipe as is."""
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, str) and recipe in RECIPES:
        return RECIPES[recipe]
    valid = ", ".join(repr(name) for name in RECIPES)
    raise ValueError(f"`recipe` must be a Recipe or one of {valid}; got {recipe!r}.")


def warmup_cosine(learning_rate, total_steps, warmup_fraction=0.1, alpha=0.0):
    """Linear warmup from 0 to ``learning_rate``, then a cosine decay to ``alpha * lr``.

    With ``W = max(1, round(warmup_fraction * total_steps))`` warmup steps and
    ``D = total_steps - W`` decay steps (at least 1), the rate at step ``t`` is
    ``lr * t / W`` for ``t < W``, then
    ``lr * (alpha + (1 - alpha) * (1 + cos(pi * (t - W) / D)) / 2)``, and stays at
    ``alpha * lr`` after ``W + D`` steps.
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral):
        raise ValueError(f"`total_steps` must be a positive integer; got {total_steps!r}.")
    if total_steps < 1:
        raise ValueError(f"`total_steps` must be a positive integer; got {total_steps!r}.")
    warmup_steps = max(1, round(check_rate("warmup_fraction", warmup_fraction) * total_steps))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, int(total_steps) - warmup_steps),
        alpha=alpha,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )


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
    return keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=recipe.label_smoothing
    )


def metrics_for(recipe):
    """Top-1 and top-5 accuracy, named ``top1`` and ``top5`` for either kind of label."""
    if not get_recipe(recipe).one_hot:
        return [
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ]
    # Mixed labels are soft: the accuracy counts the class with the larger weight.
    return [
        keras.metrics.CategoricalAccuracy(name="top1"),
        keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"),
    ]


class BatchMixing:
    """MixUp or CutMix on one batch of images and one-hot labels, from a NumPy generator.

    Which of the two, and every random number the Keras layer draws, follow from the
    ``rng`` passed in: the layer's seed generator is reset from it before each batch, so
    a batch's mix is a function of the caller's seed alone (``training.EpochBatches``
    derives it from the run's seed, the epoch and the batch's index).

    Args:
        mixup_alpha: ``keras.layers.MixUp(alpha=...)``.
        cutmix_alpha: ``keras.layers.CutMix(factor=(alpha, alpha))``, i.e. Beta(alpha, alpha).
        cutmix_probability: chance that a batch gets CutMix rather than MixUp.
    """

    def __init__(self, mixup_alpha=0.8, cutmix_alpha=1.0, cutmix_probability=0.5):
        self.mixup = keras.layers.MixUp(alpha=mixup_alpha, name="mixup")
        self.cutmix = keras.layers.CutMix(factor=(cutmix_alpha, cutmix_alpha), name="cutmix")
        self.cutmix_probability = cutmix_probability

    @classmethod
    def from_recipe(cls, recipe):
        """The mixing ``recipe`` asks for, or None if it mixes nothing."""
        recipe = get_recipe(recipe)
        if not recipe.mixup_cutmix:
            return None
        return cls(recipe.mixup_alpha, recipe.cutmix_alpha, recipe.cutmix_probability)

    def __call__(self, images, labels, rng):
        """Mix ``images`` (B, H, W, C) and one-hot ``labels`` (B, K); returns NumPy arrays.

        Images come back as float32 in their input range; each row of labels sums to 1.
        """
        layer = self.cutmix if rng.random() < self.cutmix_probability else self.mixup
        state = layer.generator.state
        value = np.array([rng.integers(1, 2**31 - 1), 0])
        state.assign(value.astype(keras.backend.standardize_dtype(state.dtype)))
        mixed = layer({"images": images, "labels": labels}, training=True)
        return (
            keras.ops.convert_to_numpy(mixed["images"]),
            keras.ops.convert_to_numpy(mixed["labels"]).astype("float32"),
        )
