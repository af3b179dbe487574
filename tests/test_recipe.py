"""The training recipe: MixUp/CutMix after each image's augmentation, the warmup-cosine
schedule, label smoothing, RandAugment, and that the example's recipe and exact resume are
unchanged.

Each ingredient is checked against its formula, computed here independently; the runs
use the tiny gMLP and data of ``tests/test_training.py``.
"""

import inspect
import json
import math

import keras
import numpy as np
import pytest

from mlp_tutorial import build_model, load_dataset
from mlp_tutorial.augment import (
    AUGMENTATIONS,
    RANDAUGMENT,
    augmentation_of,
    build_augmentation,
    build_random_augmentation,
)
from mlp_tutorial.recipe import (
    ABLATION_STEPS,
    INGREDIENTS,
    RECIPES,
    BatchMixing,
    Recipe,
    get_recipe,
    loss_for,
    metrics_for,
    warmup_cosine,
)
from mlp_tutorial.training import EpochBatches, run_experiment, set_seed

pytestmark = pytest.mark.backend

SMALL = dict(image_size=16, patch_size=4, embedding_dim=16, num_blocks=1)
SEED = 3
NUM_CLASSES = 10


@pytest.fixture(scope="module")
def small_dataset():
    """90 training and 10 validation images: two batches of 45 per epoch."""
    return load_dataset("offline", train_limit=100)


def train(dataset, *, recipe="example", seed=SEED, batch_size=20, **kwargs):
    """Build the small gMLP (with the recipe's augmentation) after set_seed, and train it."""
    set_seed(seed)
    augmentation = get_recipe(recipe).augmentation
    model = build_model("gmlp", num_classes=dataset.num_classes, augmentation=augmentation, **SMALL)
    return run_experiment(model, dataset, seed=seed, batch_size=batch_size, recipe=recipe, **kwargs)


def distinct_batch(rng, size=NUM_CLASSES, side=16):
    """``size`` images of random real values (no two pixels tie) with labels 0..size-1."""
    images = rng.uniform(0, 255, (size, side, side, 3)).astype("float32")
    labels = np.eye(NUM_CLASSES, dtype="float32")[np.arange(size)]
    return images, labels


def partner_and_weight(labels, i):
    """From a mixed label row: the weight of image i's own class, and the other class.

    With one image per class, the label row of sample ``i`` is ``lam`` at class ``i`` and
    ``1 - lam`` at the class (= index) of the image it was mixed with.
    """
    row = labels[i]
    others = [j for j in np.flatnonzero(row > 1e-6) if j != i]
    assert len(others) <= 1, row
    return row[i], (others[0] if others else i)


# ------------------------------------------------------------------------------------
# MixUp and CutMix
# ------------------------------------------------------------------------------------


def test_mixup_image_is_the_same_mix_as_its_label(rng):
    """image_i = lam * x_i + (1 - lam) * x_j with lam and j read off the mixed label."""
    mixing = BatchMixing(mixup_alpha=0.8, cutmix_probability=0.0)
    images, labels = distinct_batch(rng)
    mixed_somewhere = False
    for batch_seed in range(3):
        out_images, out_labels = mixing(images, labels, np.random.default_rng(batch_seed))
        assert out_images.shape == images.shape and out_labels.shape == labels.shape
        np.testing.assert_allclose(out_labels.sum(axis=1), 1.0, rtol=0, atol=1e-6)
        for i in range(len(images)):
            lam, j = partner_and_weight(out_labels, i)
            expected = lam * images[i] + (1 - lam) * images[j]
            np.testing.assert_allclose(out_images[i], expected, rtol=1e-5, atol=1e-3)
            mixed_somewhere |= j != i and 0.01 < lam < 0.99
    assert mixed_somewhere


def test_cutmix_pastes_a_rectangle_whose_area_is_the_label_weight(rng):
    """Every pixel is its own or the partner's; the partner's pixels form a rectangle
    whose share of the image is the partner's label weight (up to the pixel grid)."""
    mixing = BatchMixing(cutmix_probability=1.0)
    images, labels = distinct_batch(rng)
    side = images.shape[1]
    pasted_somewhere = False
    for batch_seed in range(3):
        out_images, out_labels = mixing(images, labels, np.random.default_rng(batch_seed))
        np.testing.assert_allclose(out_labels.sum(axis=1), 1.0, rtol=0, atol=1e-6)
        for i in range(len(images)):
            lam, j = partner_and_weight(out_labels, i)
            from_partner = np.all(out_images[i] == images[j], axis=-1)
            from_self = np.all(out_images[i] == images[i], axis=-1)
            if j == i:
                assert from_self.all()
                continue
            assert np.all(from_partner | from_self)
            rows, cols = np.flatnonzero(from_partner.any(1)), np.flatnonzero(from_partner.any(0))
            if len(rows):  # a filled rectangle
                assert from_partner[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()
                assert from_partner.sum() == len(rows) * len(cols)
            # the box has real-valued edges: the pixel count is off by at most one row+column
            tolerance = (2 * side + 1) / side**2
            assert abs((1 - lam) - from_partner.mean()) <= tolerance
            pasted_somewhere |= from_partner.any()
    assert pasted_somewhere


def test_mixing_is_a_function_of_the_batch_seed(rng):
    images, labels = distinct_batch(rng)
    mixing = BatchMixing()
    first = mixing(images, labels, np.random.default_rng([1, 2, 3]))
    mixing(images, labels, np.random.default_rng(99))  # advances nothing that matters
    again = BatchMixing()(images, labels, np.random.default_rng([1, 2, 3]))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mixed_batches_depend_only_on_seed_epoch_and_index(rng):
    """A resumed EpochBatches mixes epoch 2 exactly as the uninterrupted one did."""
    x = rng.integers(0, 256, (30, 16, 16, 3)).astype("uint8")
    y = np.eye(NUM_CLASSES, dtype="float32")[np.arange(30) % NUM_CLASSES]
    # batches of 10, like distinct_batch: JAX compiles the eager mixing once per shape
    whole = EpochBatches(x, y, batch_size=10, seed=7, mixing=BatchMixing())
    resumed = EpochBatches(x, y, batch_size=10, seed=7, first_epoch=2, mixing=BatchMixing())
    steps = whole.steps_per_epoch
    for step in range(steps):
        for a, b in zip(whole[2 * steps + step], resumed[step], strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(whole[0][0], whole[steps][0])  # epochs differ


def test_images_are_augmented_before_they_are_mixed(rng):
    """BatchMixing(augmentation=f) mixes f(images), as DeiT and timm do, not f(mixed images).

    The stand-in f mirrors each image and bends its values (a square root): MixUp commutes
    with a mirror but not with the bend, CutMix with the bend but not with the mirror, so
    the other order gives other images for both.
    """
    bend = keras.layers.Lambda(lambda x: keras.ops.sqrt(255.0 * keras.ops.flip(x, axis=2)))
    images, labels = distinct_batch(rng)
    augmented = keras.ops.convert_to_numpy(bend(images))
    for cutmix_probability in (0.0, 1.0):  # MixUp, then CutMix
        augment_then_mix = BatchMixing(cutmix_probability=cutmix_probability, augmentation=bend)
        mix_only = BatchMixing(cutmix_probability=cutmix_probability)
        got = augment_then_mix(images, labels, np.random.default_rng(5))
        want = mix_only(augmented, labels, np.random.default_rng(5))
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        mixed, _ = mix_only(images, labels, np.random.default_rng(5))
        assert not np.allclose(got[0], keras.ops.convert_to_numpy(bend(mixed)), atol=0.1)


def test_a_mixing_recipe_augments_before_mixing_not_in_the_model():
    assert RECIPES["modern"].augmentation == Recipe(mixup_cutmix=True).augmentation == "none"
    assert BatchMixing.from_recipe("+randaugment") is None

    def names(recipe):
        return [layer.name for layer in BatchMixing.from_recipe(recipe).augmentation.layers]

    assert names("modern") == ["rand_augment", "random_flip", "random_zoom"]
    assert names(Recipe(mixup_cutmix=True)) == ["random_flip", "random_zoom"]
    rand_augment = BatchMixing.from_recipe("modern").augmentation.layers[0]
    assert tuple(rand_augment.value_range) == (0, 255)
    settings = (rand_augment.num_ops, rand_augment.factor[1])
    assert settings == (RANDAUGMENT["num_ops"], RANDAUGMENT["factor"])
    in_model = build_augmentation("randaugment", image_size=16).layers
    alone = build_random_augmentation(randaugment=True).layers
    assert [type(layer) for layer in in_model if layer.name.startswith("rand")] == [
        type(layer) for layer in alone
    ]


def test_augmented_batches_depend_only_on_seed_epoch_and_index(rng):
    """Through RandAugment, flip and zoom: a fresh BatchMixing in a resumed EpochBatches
    gives what a used one gave; the augmentation changes the images, not the mix's labels."""
    x = rng.integers(0, 256, (20, 16, 16, 3)).astype("uint8")
    y = np.eye(NUM_CLASSES, dtype="float32")[np.arange(20) % NUM_CLASSES]
    whole = EpochBatches(x, y, 10, seed=7, mixing=BatchMixing.from_recipe("modern"))
    resumed = EpochBatches(
        x, y, 10, seed=7, first_epoch=1, mixing=BatchMixing.from_recipe("modern")
    )
    for step in range(whole.steps_per_epoch):
        for a, b in zip(whole[2 + step], resumed[step], strict=True):
            np.testing.assert_array_equal(a, b)
    mix_only = EpochBatches(x, y, 10, seed=7, first_epoch=1, mixing=BatchMixing())[0]
    np.testing.assert_array_equal(mix_only[1], resumed[0][1])
    assert not np.allclose(mix_only[0], resumed[0][0], atol=1)


def test_the_code_the_recipe_chapter_shows_fits_the_page():
    for shown in (build_random_augmentation, build_augmentation, BatchMixing.__call__):
        assert max(len(line) for line in inspect.getsource(shown).splitlines()) <= 88


# ------------------------------------------------------------------------------------
# Schedule and loss
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_warmup_cosine_follows_its_formula(alpha):
    lr, total = 0.01, 100
    schedule = warmup_cosine(lr, total, warmup_fraction=0.1, alpha=alpha)
    warmup, decay = 10, 90  # round(0.1 * 100), and the rest

    def expected(step):
        if step < warmup:
            return lr * step / warmup
        t = min(step - warmup, decay)
        return lr * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * t / decay)))

    def value(step):
        return float(keras.ops.convert_to_numpy(schedule(step)))

    assert value(0) == 0.0
    assert value(warmup) == pytest.approx(lr, rel=1e-6)  # the peak, at the end of warmup
    assert value(total) == pytest.approx(alpha * lr, abs=1e-9)  # the end
    for step in (1, 5, 9, 10, 11, 40, 55, 99, 100, 150):
        assert value(step) == pytest.approx(expected(step), rel=1e-5, abs=1e-9), step


def test_warmup_has_at_least_one_step():
    schedule = warmup_cosine(1e-3, 5, warmup_fraction=0.01)
    assert (schedule.warmup_steps, schedule.decay_steps) == (1, 4)


def test_label_smoothing_loss_matches_numpy(rng):
    logits = rng.normal(size=(6, NUM_CLASSES)).astype("float32")
    labels = np.eye(NUM_CLASSES, dtype="float32")[rng.integers(0, NUM_CLASSES, 6)]
    eps = 0.1
    loss = loss_for(Recipe(label_smoothing=eps))
    got = float(keras.ops.convert_to_numpy(loss(labels, logits)))
    target = labels * (1 - eps) + eps / NUM_CLASSES
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    want = float(np.mean(-(target * log_softmax).sum(axis=1)))
    assert got == pytest.approx(want, rel=1e-5)


def test_one_hot_metrics_keep_the_names_top1_top5(rng):
    logits = rng.normal(size=(40, NUM_CLASSES)).astype("float32")
    classes = rng.integers(0, NUM_CLASSES, 40)
    top1, top5 = metrics_for("modern")
    assert (top1.name, top5.name) == ("top1", "top5")
    top1.update_state(np.eye(NUM_CLASSES)[classes], logits)
    top5.update_state(np.eye(NUM_CLASSES)[classes], logits)
    ranks = (logits > logits[np.arange(40), classes][:, None]).sum(axis=1)
    assert float(top1.result()) == pytest.approx(np.mean(ranks == 0))
    assert float(top5.result()) == pytest.approx(np.mean(ranks < 5))


# ------------------------------------------------------------------------------------
# Recipes, RandAugment in the model
# ------------------------------------------------------------------------------------


def test_ablation_adds_one_ingredient_per_step():
    assert ABLATION_STEPS == ("example", *(f"+{name}" for name in INGREDIENTS))
    assert RECIPES["example"] == Recipe()
    assert RECIPES[ABLATION_STEPS[-1]] == RECIPES["modern"]
    assert RECIPES["+label_smoothing"] == Recipe(warmup_cosine=True, label_smoothing=0.1)
    assert [RECIPES[name].augmentation for name in ABLATION_STEPS] == [
        "example",
        "example",
        "example",
        "randaugment",
        "none",  # BatchMixing augments each image before mixing
    ]
    assert not RECIPES["+warmup_cosine"].one_hot and RECIPES["+label_smoothing"].one_hot


def test_randaugment_runs_first_on_raw_pixels_in_training_only(rng):
    assert "randaugment" in AUGMENTATIONS
    pipeline = build_augmentation("randaugment", image_size=16)
    first = pipeline.layers[0]
    assert isinstance(first, keras.layers.RandAugment)
    assert tuple(first.value_range) == (0, 255)
    assert [layer.name for layer in pipeline.layers[1:]] == [
        "normalize",
        "resize",
        "random_flip",
        "random_zoom",
    ]
    images = rng.integers(0, 256, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first(images, training=False)), images)
    model = build_model("gmlp", num_classes=NUM_CLASSES, augmentation="randaugment", **SMALL)
    assert augmentation_of(model) == "randaugment"
    assert augmentation_of(build_model("gmlp", num_classes=NUM_CLASSES, **SMALL)) == "example"
    shifted = build_model("gmlp", num_classes=NUM_CLASSES, augmentation="shift", **SMALL)
    assert augmentation_of(shifted) == "shift"
    plain = build_model("gmlp", num_classes=NUM_CLASSES, augmentation="none", **SMALL)
    assert augmentation_of(plain) == "none"
    assert model(images, training=True).shape == (4, NUM_CLASSES)


@pytest.mark.parametrize("bad", ["moden", "Seed", "", None, 3])
def test_bad_recipe_names_the_argument(bad):
    with pytest.raises(ValueError, match="`recipe` must be a Recipe or one of 'example'"):
        get_recipe(bad)


def test_run_experiment_checks_the_recipe(dataset):
    model = build_model("gmlp", num_classes=dataset.num_classes, **SMALL)
    with pytest.raises(ValueError, match="`recipe`.*'modern'"):
        run_experiment(model, dataset, epochs=1, recipe="moden")
    message = "`augmentation`='example' does not fit `recipe`='\\+randaugment': 'randaugment'"
    with pytest.raises(ValueError, match=message):
        run_experiment(model, dataset, epochs=1, recipe="+randaugment")


@pytest.mark.parametrize("augmentation", ["randaugment", "example"])
def test_a_mixing_recipe_refuses_a_model_that_augments(small_dataset, augmentation):
    """The model would augment the mixed images a second time; augmentation="none" runs."""
    classes = small_dataset.num_classes
    model = build_model("gmlp", num_classes=classes, augmentation=augmentation, **SMALL)
    message = f"`augmentation`='{augmentation}' does not fit `recipe`='modern': 'none' is needed"
    with pytest.raises(ValueError, match=message):
        run_experiment(model, small_dataset, epochs=1, recipe="modern")
    if augmentation == "example":  # once is enough
        mixing = Recipe(mixup_cutmix=True)
        assert train(small_dataset, recipe=mixing, epochs=1, batch_size=45).epochs_run == 1


@pytest.mark.parametrize(
    "fields, name",
    [
        (dict(label_smoothing=1.0), "label_smoothing"),
        (dict(warmup_cosine=1), "warmup_cosine"),
        (dict(mixup_alpha=0), "mixup_alpha"),
        (dict(cutmix_alpha=2.0), "cutmix_alpha"),
        (dict(cutmix_probability=-0.1), "cutmix_probability"),
    ],
)
def test_bad_recipe_fields_are_named(fields, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        Recipe(**fields)


# ------------------------------------------------------------------------------------
# Runs: the example's recipe unchanged, the modern one resumable
# ------------------------------------------------------------------------------------


def test_seed_recipe_is_the_runs_without_a_recipe(dataset):
    """recipe="example" (by name or as a Recipe) is bit-identical to leaving it out."""
    set_seed(SEED)
    model = build_model("gmlp", num_classes=dataset.num_classes, **SMALL)
    default = run_experiment(model, dataset, seed=SEED, batch_size=20, epochs=2, learning_rate=1e-2)
    for recipe in ("example", Recipe()):
        named = train(dataset, recipe=recipe, epochs=2, learning_rate=1e-2)
        assert named.history == default.history
        assert named.test_loss == default.test_loss
        assert named.record["training"]["recipe"]["name"] == "example"
    assert default.record["training"]["reduce_lr_patience"] == 5


class Interrupted(Exception):
    pass


class Interrupt(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.after:
            raise Interrupted(f"interrupted after epoch {self.after}")


def test_modern_recipe_resumes_exactly(small_dataset, tmp_path):
    """Schedule, smoothing, RandAugment and mixing, interrupted after 1 of 2 epochs.

    Kept to 4 steps: BatchMixing runs RandAugment eagerly, batch by batch.
    """
    settings = dict(recipe="modern", epochs=2, learning_rate=1e-2, batch_size=45)
    path = tmp_path / "recipe_modern.json"
    whole = train(small_dataset, **settings, results_path=path)
    folder = tmp_path / "backup"
    with pytest.raises(Interrupted):
        train(
            small_dataset, **settings, checkpoint_dir=folder, extra_callbacks=[Interrupt(after=1)]
        )
    resumed = train(small_dataset, **settings, checkpoint_dir=folder)
    assert resumed.epochs_resumed == 1
    assert resumed.history == whole.history
    assert (resumed.test_top1, resumed.test_top5, resumed.test_loss) == (
        whole.test_top1,
        whole.test_top5,
        whole.test_loss,
    )
    # The learning rate follows the schedule: 4 steps, 1 of warmup, no plateau halving.
    lr = whole.history["learning_rate"]
    schedule = warmup_cosine(1e-2, 4)
    assert len(lr) == 2
    for epoch, value in enumerate(lr, start=1):
        want = float(keras.ops.convert_to_numpy(schedule(2 * epoch)))
        assert value == pytest.approx(want, rel=1e-5, abs=1e-9)
    record = json.loads(path.read_text())
    assert record["training"]["recipe"] == {
        "name": "modern",
        **RECIPES["modern"].describe(),
        "warmup_steps": 1,
        "decay_steps": 3,
    }
    assert record["training"]["reduce_lr_patience"] is None
    assert set(record["history"]) >= {"top1", "top5", "val_top1", "val_top5", "learning_rate"}
    assert 0 <= record["test"]["top1"] <= record["test"]["top5"] <= 1
