"""Compile, train, evaluate, and record: the Keras example's experiment, made reproducible.

``recipe="example"`` is the Keras example's: AdamW, cross-entropy, top-1/top-5 accuracy, 10%
held out for validation, plateau halving of the learning rate and early stopping that
restores the best weights; :mod:`mlp_tutorial.recipe` has the stronger ones.

Determinism: all that is random (the validation split, the data order, dropout and
augmentation, MixUp/CutMix) is a function of ``seed`` and the epoch, so a resumed run
(:mod:`mlp_tutorial.checkpoint`) is the uninterrupted one. With the model built after
``set_seed(seed)``, two runs on one machine give bit-identical histories and test metrics:

* TensorFlow *promises* it: ``set_seed`` calls ``enable_op_determinism()``; an op with no
  deterministic kernel (possible on a GPU) raises an error.
* PyTorch promises it as far as ``torch.use_deterministic_algorithms(True)`` goes, which
  ``set_seed`` calls (and sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which a GPU needs).
* JAX makes *no documented promise* and has no switch for the CPU; XLA's CPU code gave
  identical bits in our runs, and ``tests/test_training.py`` checks it on every backend.
  On a GPU, set ``XLA_FLAGS=--xla_gpu_deterministic_ops=true``.

None promises the same bits on another CPU, library version or thread count.

Several devices: on JAX, ``distribution=keras.distribution.DataParallel()`` trains over
all visible devices (the model built inside ``with distribution.scope():``), splitting
each batch evenly: the one-device training, up to the order of the gradient sums.
"""

import contextlib
import dataclasses
import datetime
import inspect
import math
import os
import time

import keras
import numpy as np

from mlp_tutorial.augment import adapt_normalization, augmentation_of
from mlp_tutorial.checkpoint import TrainingBackup, model_config, run_fingerprint
from mlp_tutorial.checks import check_choice, check_positive_int
from mlp_tutorial.classifier import PRECISIONS
from mlp_tutorial.display import say, shown_path
from mlp_tutorial.environment import environment
from mlp_tutorial.parameters import PATH_PARAMETERS
from mlp_tutorial.recipe import (
    RECIPES,
    BatchMixing,
    check_augmentation,
    compile_model,
    get_recipe,
    learning_rate_for,
)
from mlp_tutorial.records import write_record

# Purposes for np.random.default_rng([seed, purpose, ...]): independent streams.
_DATA_ORDER, _LAYER_SEEDS, _BATCH_MIXING = 1, 2, 3


@dataclasses.dataclass
class Result:
    """What one run produced. ``history`` (the logged metrics: the same numbers in a rerun)
    and ``epoch_seconds`` (each epoch's training steps, validation excluded) hold every
    epoch, resumed ones included; ``train_time_s`` is their sum, and the throughput
    ``train_images_per_second`` comes from them too (see :func:`images_per_second`), so a
    run resumed after its last epoch still has one. ``wall_time_s`` is this call's only."""

    history: dict
    test_top1: float
    test_top5: float
    test_loss: float
    num_params: int
    train_images_per_second: float
    wall_time_s: float
    epochs_run: int
    epoch_seconds: list = dataclasses.field(default_factory=list)
    train_time_s: float = 0.0
    record: dict = dataclasses.field(default_factory=dict)  # run_experiment fills it in
    epochs_resumed: int = 0


def set_seed(seed):
    """Seed Python, NumPy and the backend, and ask for deterministic kernels (see above)."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif keras.backend.backend() == "torch":
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def split_validation(x, y, fraction, seed):
    """Hold out a seeded random ``fraction`` of ``(x, y)``: returns x_fit, y_fit, x_val, y_val."""
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_fraction` must be in (0, 1); got {fraction!r}.")
    order = np.random.default_rng(seed).permutation(len(x))
    val, fit = np.split(order, [max(1, round(len(x) * fraction))])
    return x[fit], y[fit], x[val], y[val]


class EpochBatches(keras.utils.PyDataset):
    """Training batches whose order in epoch ``e`` depends only on ``(seed, e)``.

    Endless (``fit`` needs ``steps_per_epoch``): batch ``i`` is step ``b`` of epoch
    ``first_epoch + i // steps_per_epoch``, in the order ``default_rng([seed, 1, epoch])``
    permutes the images; ``mixing`` augments and mixes them by ``default_rng([seed, 3, epoch, b])``:
    a resumed run (``first_epoch`` > 0) sees the batches an uninterrupted run would.
    """

    def __init__(self, x, y, batch_size, seed, first_epoch=0, mixing=None):
        super().__init__()  # one worker, no multiprocessing: batches come in index order
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"need as many labels as images (> 0); got {len(x)} and {len(y)}.")
        self.x, self.y, self.seed, self.first_epoch, self.mixing = x, y, seed, first_epoch, mixing
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.steps_per_epoch = math.ceil(len(x) / self.batch_size)

    @property
    def num_batches(self):
        return None  # endless: ``fit(steps_per_epoch=...)`` cuts it into epochs

    def __getitem__(self, index):
        epoch, step = divmod(index, self.steps_per_epoch)
        epoch += self.first_epoch
        order = np.random.default_rng([self.seed, _DATA_ORDER, epoch]).permutation(len(self.x))
        rows = order[step * self.batch_size : (step + 1) * self.batch_size]
        if self.mixing is None:
            return self.x[rows], self.y[rows]
        rng = np.random.default_rng([self.seed, _BATCH_MIXING, epoch, step])
        return self.mixing(self.x[rows], self.y[rows], rng)


class EpochSeeds(keras.callbacks.Callback):
    """Reset every random layer's seed as each epoch starts, from ``(seed, epoch)``: a
    ``SeedGenerator``'s state is not saved with the weights, and a resumed run would replay
    the first epoch's draws. On PyTorch, ``Dropout`` uses torch's global generator: seeded too.
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def seed_states(self):
        return [v for v in self.model.variables if v.name == "seed_generator_state"]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        for i, state in enumerate(self.seed_states()):
            rng = np.random.default_rng([self.seed, _LAYER_SEEDS, epoch, i])
            value = np.array([rng.integers(1, 2**31 - 1), 0])
            state.assign(value.astype(keras.backend.standardize_dtype(state.dtype)))

    def on_train_batch_begin(self, batch, logs=None):
        # Not at the epoch's start: a fit's first batch makes a torch data loader, which
        # draws from the global generator too.
        if batch == 0 and keras.backend.backend() == "torch":
            import torch

            rng = np.random.default_rng([self.seed, _LAYER_SEEDS, self.epoch])
            torch.manual_seed(int(rng.integers(1, 2**31 - 1)))


class EpochLog(keras.callbacks.Callback):
    """Print one line per epoch under a header (a page's width at most), and log the epoch's
    learning rate and the seconds of its training steps (``train_seconds``)."""

    COLUMNS = "loss top1 top5 val_loss val_top1 val_top5 lr".split()

    def __init__(self, epochs, images_per_epoch, printer=print):
        super().__init__()
        self.epochs, self.images_per_epoch, self.printer = epochs, images_per_epoch, printer
        self.seconds = []  # per epoch, validation excluded
        self.width = max(5, len(f"{epochs}/{epochs}"))
        self.header = f"{'epoch':>{self.width}}" + "".join(f"  {c:>8}" for c in self.COLUMNS)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self.seconds.append(0.0)

    def on_train_batch_end(self, batch, logs=None):
        self.seconds[-1] = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs = logs if logs is not None else {}
        logs.setdefault("learning_rate", lr)
        logs["train_seconds"] = self.seconds[-1]  # logged, so the backup keeps it
        self.print_row(epoch, {**logs, "lr": lr})

    def print_row(self, epoch, logs):
        """Print epoch ``epoch``'s line (the header first, once) from ``logs``, whose
        values are those of ``COLUMNS``; a missing or None value prints as nan."""
        if self.header:  # before the first epoch this call prints, resumed or not
            self.printer(self.header)
            self.header = None
        values = [logs.get(key) for key in self.COLUMNS]
        values = [math.nan if value is None else value for value in values]
        digits = [4 if key.endswith("loss") else 3 for key in self.COLUMNS[:-1]]
        row = "".join(f"  {v:>8.{d}f}" for v, d in zip(values[:-1], digits, strict=True))
        self.printer(f"{f'{epoch + 1}/{self.epochs}':>{self.width}}{row}  {values[-1]:>8.2e}")


def print_history(history, epochs, printer=print):
    """Print the epoch log of a finished run from its ``history`` (a record's): the lines
    that ``run_experiment`` printed while it trained, for a run of ``epochs`` epochs."""
    log = EpochLog(epochs, images_per_epoch=0, printer=printer)
    for epoch in range(len(history["loss"])):
        values = {key: column[epoch] for key, column in history.items()}
        log.print_row(epoch, {**values, "lr": values.get("learning_rate")})


def images_per_second(epoch_seconds, images_per_epoch):
    """Training throughput from each epoch's seconds of training steps, the first epoch
    (which compiles) left out if there are more; NaN without a timed epoch."""
    seconds = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    return len(seconds) * images_per_epoch / sum(seconds) if sum(seconds) else math.nan


def run_experiment(
    model,
    dataset,
    *,
    epochs,
    batch_size=128,
    learning_rate=1e-3,
    weight_decay=1e-4,
    seed=0,
    validation_fraction=0.1,
    early_stopping_patience=10,
    reduce_lr_patience=5,
    recipe="example",
    precision=None,
    checkpoint_dir=None,
    results_path=None,
    config=None,
    distribution=None,
    extra_callbacks=(),
):
    """Train ``model`` on ``dataset``, test it, and return the run's :class:`Result`.

    Args:
        model, dataset: an uncompiled model (images -> logits), a ``Dataset``.
        epochs, batch_size: training length; images per step, over all devices.
        learning_rate, weight_decay: AdamW's. ``seed``: of everything random.
        validation_fraction: share of the training split held out for validation.
        early_stopping_patience, reduce_lr_patience: epochs without a lower validation
            loss (no halving with a schedule). Early stopping restores the best epoch's
            weights, stopped early or not; None: no early stopping, final weights tested.
        recipe: a name from :data:`~mlp_tutorial.recipe.RECIPES` or a ``Recipe``.
        precision: the dtype policy the model was built under (``keras.config.
            set_dtype_policy``), checked; None: not checked. Recorded either way.
        checkpoint_dir: back up each epoch there: a rerun of the same run resumes exactly,
            a changed one is refused (:mod:`mlp_tutorial.checkpoint`).
        results_path, config: where to write the JSON record; the chapter's settings.
        distribution: a ``keras.distribution.Distribution`` (JAX; build the model in its
            scope) to train over several devices; None: Keras' current one, usually none.
        extra_callbacks: more callbacks, run before the backup, which saves their logs and stops.
    """
    settings = {key: value for key, value in locals().items() if key in _SETTINGS}
    recipe, recipe_name = _check_inputs(model, dataset, epochs, batch_size, recipe, precision)
    set_seed(seed)
    splits = _prepare(dataset, recipe, recipe_name, settings)
    distribution = _check_distribution(distribution, model, batch_size, splits)
    with distribution.scope() if distribution else contextlib.nullcontext():
        _compile(model, splits, settings, recipe)
        callbacks, log, backup = _callbacks(
            settings, checkpoint_dir, model, dataset, extra_callbacks
        )
        run = _timing(*_fit(model, splits, settings, recipe, callbacks, backup), log, backup)
        result = tested(model, dataset, batch_size, splits[2], **run)
    devices = distribution.device_mesh.devices.size if distribution else 1
    settings.update(epochs_resumed=result.epochs_resumed, devices=devices)
    result.record = make_record(model, dataset, result, config=config, training=settings)
    if results_path is not None:
        write_record(results_path, result.record)
    # The backup stays: rerunning a finished run (a chapter run again after a disconnect)
    # resumes at its end and only tests the final weights again.
    return result


# run_experiment's arguments that define a run (the record's "training", a resume's check):
# all but these, whose run-defining parts (recipe, precision) are recorded on their own.
_NOT_SETTINGS = {"model", "dataset", "recipe", "precision", "checkpoint_dir", "results_path",
                 "config", "distribution", "extra_callbacks"}  # fmt: skip
_SETTINGS = [name for name in inspect.signature(run_experiment).parameters
             if name not in _NOT_SETTINGS]  # fmt: skip


def _check_inputs(model, dataset, epochs, batch_size, recipe, precision):
    """Check the arguments against each other; return the recipe and its name (or None)."""
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    built = model.dtype_policy.name
    if precision is not None and check_choice("precision", precision, PRECISIONS) != built:
        raise ValueError(
            f"`precision`={precision!r}, but the model was built under {built!r}: call "
            f"keras.config.set_dtype_policy({precision!r}) before building it."
        )
    recipe, name = get_recipe(recipe), recipe
    if not isinstance(name, str):  # a Recipe: its name, if it has one
        name = next((key for key, value in RECIPES.items() if value == recipe), None)
    check_augmentation(name or recipe, augmentation_of(model))  # the one the model was built with
    if model.output_shape[-1] != dataset.num_classes:
        raise ValueError(
            f"The model has {model.output_shape[-1]} outputs but the dataset {dataset.name!r}"
            f" has {dataset.num_classes} classes; build it with num_classes={dataset.num_classes}."
        )
    return recipe, name


def _check_distribution(distribution, model, batch_size, splits):
    """``distribution`` (or Keras' current one), checked to fit the model and the batches."""
    distribution = distribution or keras.distribution.distribution()
    if distribution is None:
        return None
    if (backend := keras.backend.backend()) != "jax":
        raise ValueError(f"`distribution` needs KERAS_BACKEND=jax; got {backend!r}.")
    devices = distribution.device_mesh.devices.size
    if outside := [v.path for v in model.variables if len(v.value.sharding.device_set) != devices]:
        raise ValueError(
            f"`distribution` spans {devices} devices, but the model's variables ({outside[0]}"
            "...) were made outside it: build the model inside `with distribution.scope():`."
        )
    sizes = {batch_size} | {len(x) % batch_size for x, _ in splits}  # full and last batches
    if uneven := sorted(size for size in sizes - {0} if size % devices):
        raise ValueError(
            f"`batch_size` {batch_size} makes batches of {uneven} images, which do not split "
            f"evenly over {devices} devices; choose one whose batches all do."
        )
    return distribution


def _prepare(dataset, recipe, recipe_name, settings):
    """The ``(x, y)`` pairs to fit, validate and test on (one-hot labels if the recipe needs
    them); adds the split sizes and the recipe, with its schedule's steps, to ``settings``."""
    x_fit, y_fit, x_val, y_val = split_validation(
        dataset.x_train, dataset.y_train, settings["validation_fraction"], settings["seed"]
    )
    labels = [y_fit, y_val, dataset.y_test]
    if recipe.one_hot:
        labels = [keras.utils.to_categorical(y, dataset.num_classes) for y in labels]
        labels = [y.astype("float32") for y in labels]
    steps = math.ceil(len(x_fit) / settings["batch_size"])
    settings.update(train_images=len(x_fit), val_images=len(x_val), steps_per_epoch=steps)
    schedule = {}
    if recipe.warmup_cosine:
        lr = learning_rate_for(recipe, settings["learning_rate"], steps * settings["epochs"])
        schedule = dict(warmup_steps=lr.warmup_steps, decay_steps=lr.decay_steps)
        settings["reduce_lr_patience"] = None  # the schedule owns the learning rate
    settings["recipe"] = {"name": recipe_name, **recipe.describe(), **schedule}
    return (x_fit, labels[0]), (x_val, labels[1]), (dataset.x_test, labels[2])


def _compile(model, splits, settings, recipe):
    """Normalize with the training images' statistics; compile for the whole run's steps."""
    adapt_normalization(model, splits[0][0])
    lr, decay = settings["learning_rate"], settings["weight_decay"]
    total = settings["epochs"] * settings["steps_per_epoch"]
    compile_model(model, learning_rate=lr, weight_decay=decay, recipe=recipe, total_steps=total)


def _callbacks(settings, checkpoint_dir, model, dataset, extra):
    """The callbacks in order (``extra`` just before the backup, which then saves what they
    log and a stop they ask for), the epoch log, and the backup (None without
    ``checkpoint_dir``; refused if it holds another run)."""
    log = EpochLog(settings["epochs"], settings["train_images"])
    plateau, early = settings["reduce_lr_patience"], settings["early_stopping_patience"]
    if plateau is not None:
        plateau = keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=plateau)
    if early is not None:  # it restores the best epoch's weights even if it never stops
        early = keras.callbacks.EarlyStopping("val_loss", patience=early, restore_best_weights=True)
    backup = None
    if checkpoint_dir is not None:
        run = {key: value for key, value in settings.items() if key != "epochs"}
        fingerprint = run_fingerprint(model, dataset, run)
        backup = TrainingBackup(
            checkpoint_dir, fingerprint=fingerprint, reduce_lr=plateau, early_stopping=early
        )
        done, epochs = backup.epochs_restored, settings["epochs"]
        if done > epochs:
            raise backup.error(f"it holds {done} epochs, more than epochs={epochs}")
        if done:
            then = "it had stopped early" if backup.stopped else f"on to epoch {done + 1}"
            then = "it is complete: the test runs again" if done == epochs else then
            where = shown_path(checkpoint_dir)
            message = f"Resuming from {where}: {done}/{epochs} epochs done; {then}."
            say(message)  # at the page's width, whatever the path
    callbacks = [EpochSeeds(settings["seed"]), log, plateau, early, *extra, backup]
    return [callback for callback in callbacks if callback is not None], log, backup


def _fit(model, splits, settings, recipe, callbacks, backup):
    """Train, from where ``backup`` stopped; return the history of all epochs (restored
    ones first), each epoch's training seconds (taken out of the history: a rerun's
    differ) and the seconds this call took."""
    restored = {key: list(values) for key, values in backup.history.items()} if backup else {}
    first_epoch = backup.epochs_restored if backup else 0
    first_epoch = settings["epochs"] if backup and backup.stopped else first_epoch
    batch_size, mixing = settings["batch_size"], BatchMixing.from_recipe(recipe)
    batches = EpochBatches(*splits[0], batch_size, settings["seed"], first_epoch, mixing)
    start = time.perf_counter()
    fit = model.fit(
        batches,
        steps_per_epoch=batches.steps_per_epoch,
        epochs=settings["epochs"],
        initial_epoch=first_epoch,
        validation_data=splits[1],
        validation_batch_size=batch_size,
        shuffle=False,  # EpochBatches orders each epoch itself
        callbacks=callbacks,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    keys = dict.fromkeys([*restored, *fit.history])
    history = {k: [float(v) for v in restored.get(k, []) + fit.history.get(k, [])] for k in keys}
    return history, history.pop("train_seconds", []), seconds


def tested(model, dataset, batch_size, test, **run):
    """Test ``model`` on ``test`` = (x, y) of ``dataset``, print one line (top1, top5, loss),
    and return the :class:`Result` of the run that ``run`` describes, with those metrics."""
    metrics = model.evaluate(*test, batch_size=batch_size, verbose=0, return_dict=True)
    top1, top5, loss = (float(metrics[key]) for key in ("top1", "top5", "loss"))
    where = f"{dataset.name}, {len(test[0]):,} test images"
    print(f"test top1 {top1:.4f}  top5 {top5:.4f}  loss {loss:.4f}  ({where})")
    test_metrics = dict(test_top1=top1, test_top5=top5, test_loss=loss)
    return Result(**test_metrics, num_params=int(model.count_params()), **run)


def _timing(history, epoch_seconds, seconds, log, backup):
    """The Result fields of a run that just trained: its history and its timing."""
    return dict(
        history=history,
        train_images_per_second=images_per_second(epoch_seconds, log.images_per_epoch),
        wall_time_s=seconds,
        epoch_seconds=epoch_seconds,
        train_time_s=float(sum(epoch_seconds)),
        epochs_run=len(history.get("loss", [])),
        epochs_resumed=backup.epochs_restored if backup else 0,
    )


def make_record(model, dataset, result, *, config, training):
    """The run's results record, JSON-able: the chapter's settings (``config``, without its
    paths: a record names no folder of the machine that ran), the model's Keras config,
    the training settings, the data, the history, the test metrics, size, speed and where it
    ran (the fields below); chapter 5 reads the three models' records."""
    data = dict(name=dataset.name, source=dataset.source, num_classes=dataset.num_classes)
    return {
        "model": model.name,
        "config": {k: v for k, v in (config or {}).items() if k not in PATH_PARAMETERS},
        "model_config": model_config(model),
        "precision": model.dtype_policy.name,
        "training": training,
        "dataset": {**data, "test_images": len(dataset.x_test)},
        "history": result.history,
        "epochs_run": result.epochs_run,
        "test": {"top1": result.test_top1, "top5": result.test_top5, "loss": result.test_loss},
        "num_params": result.num_params,
        "train_images_per_second": result.train_images_per_second,
        "wall_time_s": result.wall_time_s,
        "epoch_seconds": result.epoch_seconds,
        "train_time_s": result.train_time_s,
        **environment(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
