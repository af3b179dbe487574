"""Compile, train, evaluate, and record: the seeds' experiment, made reproducible.

The default recipe, ``recipe="seed"``, is the Keras example's: AdamW, sparse categorical
cross-entropy on logits, top-1 and top-5 accuracy, 10% of the training split held out for
validation, reduce-LR-on-plateau and early stopping that restores the best weights.
``recipe="modern"`` (or any :class:`mlp_tutorial.recipe.Recipe`) adds warmup and cosine
decay, label smoothing, RandAugment and MixUp/CutMix; see :mod:`mlp_tutorial.recipe`.

Determinism
-----------
Everything random in a run is a function of ``seed`` and the epoch, never of how many
``fit`` calls it took or of hidden global state:

* the validation split: ``np.random.default_rng(seed)``;
* the order of the training images in epoch ``e``: a permutation drawn from a generator
  seeded with ``(seed, e)`` (:class:`EpochBatches`; Keras' own ``shuffle=True`` is not
  used, because a new ``fit`` call would restart its sequence of orders);
* dropout and the random flip/zoom (and RandAugment) in epoch ``e``: every
  ``SeedGenerator`` in the model is reset at the start of each epoch to a state derived
  from ``(seed, e)`` (:class:`EpochSeeds`);
* MixUp/CutMix of batch ``i`` of epoch ``e``: drawn from a generator seeded with
  ``(seed, e, i)`` (:class:`EpochBatches`).

With the model built after ``set_seed(seed)``, two runs of :func:`run_experiment` with
the same data and settings on the same CPU give bit-identical per-epoch histories and test
metrics, with the TensorFlow and with the JAX backend. How sure that is differs:

* TensorFlow *promises* it: ``set_seed`` calls
  ``tf.config.experimental.enable_op_determinism()``, documented to make every op (and
  ``tf.data``) give the same outputs for the same inputs on the same hardware, or raise
  an error where an op has no deterministic kernel (which can happen on a GPU).
* JAX makes *no documented promise* and has no such switch for the CPU. We measured it:
  XLA's CPU code gave identical bits for all three models, run twice in one process and
  in separate processes (TensorFlow 2.21, JAX 0.10, Keras 3.15, x86-64, 2 threads), and
  ``tests/test_training.py`` asserts it under each backend, so a change would be caught.
  On a GPU, JAX needs ``XLA_FLAGS=--xla_gpu_deterministic_ops=true``; not tested here.

Neither promises the same bits on another CPU, library version or thread count, and the
backends draw different random numbers, so a TensorFlow run and a JAX run differ.

Resuming after an interruption is :mod:`mlp_tutorial.checkpoint`'s job (``checkpoint_dir``).
"""

import dataclasses
import datetime
import math
import time
import zlib

import keras
import numpy as np

from mlp_tutorial.augment import adapt_normalization, uses_randaugment
from mlp_tutorial.checkpoint import TrainingBackup
from mlp_tutorial.environment import environment
from mlp_tutorial.recipe import (
    RECIPES,
    BatchMixing,
    get_recipe,
    learning_rate_for,
    loss_for,
    metrics_for,
)
from mlp_tutorial.records import write_record
from mlp_tutorial.validation import check_positive_int

# Purposes for np.random.default_rng([seed, purpose, ...]): independent streams.
_DATA_ORDER, _LAYER_SEEDS, _BATCH_MIXING = 1, 2, 3


@dataclasses.dataclass
class Result:
    """What one training run produced.

    ``history`` maps each metric (``loss``, ``top1``, ``top5`` and their ``val_``
    versions, plus ``learning_rate``) to one value per epoch, from the first epoch on,
    including epochs restored from a backup. ``epochs_resumed`` is how many of them were
    restored (0 for an uninterrupted run); ``wall_time_s`` and
    ``train_images_per_second`` cover only the epochs run in this call.
    """

    history: dict
    test_top1: float
    test_top5: float
    test_loss: float
    num_params: int
    train_images_per_second: float
    wall_time_s: float
    epochs_run: int
    record: dict
    epochs_resumed: int = 0


def set_seed(seed):
    """Seed Python, NumPy and the backend, and ask TensorFlow for deterministic kernels.

    Call it before building a model: weight initialisation draws from these seeds.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def compile_model(model, *, learning_rate, weight_decay, recipe="seed", total_steps=None):
    """Compile ``model`` with AdamW, cross-entropy from logits, and top-1/top-5 accuracy.

    ``recipe`` picks the loss (smoothed, on one-hot labels, if it smooths or mixes) and
    the learning rate (a warmup-cosine schedule over ``total_steps`` if it asks for one).
    """
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=learning_rate_for(recipe, learning_rate, total_steps),
            weight_decay=weight_decay,
        ),
        loss=loss_for(recipe),
        metrics=metrics_for(recipe),
    )


def split_validation(x, y, fraction, seed):
    """Hold out a seeded random ``fraction`` of ``(x, y)``: returns x_fit, y_fit, x_val, y_val."""
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_fraction` must be in (0, 1); got {fraction!r}.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(len(x) * fraction))
    val, fit = order[:n_val], order[n_val:]
    return x[fit], y[fit], x[val], y[val]


class EpochBatches(keras.utils.PyDataset):
    """Training batches whose order in epoch ``e`` depends only on ``(seed, e)``.

    An endless sequence: batch ``i`` belongs to epoch ``first_epoch + i // steps_per_epoch``,
    so ``fit`` must be given ``steps_per_epoch``. Each epoch visits every image once, in
    the order of ``np.random.default_rng([seed, 1, epoch]).permutation(n)``; the last batch
    of an epoch may be smaller. With ``mixing`` (a :class:`~mlp_tutorial.recipe.BatchMixing`,
    and one-hot ``y``), batch ``b`` of an epoch is then mixed with the generator
    ``np.random.default_rng([seed, 3, epoch, b])``. Because ``__getitem__`` is a pure
    function of the index, Keras may prefetch as it likes, and a resumed run
    (``first_epoch`` > 0) sees exactly the batches an uninterrupted run would have seen
    from that epoch on.
    """

    def __init__(self, x, y, batch_size, seed, first_epoch=0, mixing=None):
        super().__init__()  # one worker, no multiprocessing: batches come in index order
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"need as many labels as images (> 0); got {len(x)} and {len(y)}.")
        self.x, self.y = x, y
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = seed
        self.first_epoch = first_epoch
        self.mixing = mixing
        self.steps_per_epoch = math.ceil(len(x) / self.batch_size)
        self._cached = (None, None)  # (epoch, order): replaced whole, so safe to share

    @property
    def num_batches(self):
        return None  # endless: ``fit(steps_per_epoch=...)`` cuts it into epochs

    def order(self, epoch):
        """The permutation of the training images used in ``epoch`` (0-based)."""
        cached_epoch, order = self._cached
        if cached_epoch != epoch:
            order = np.random.default_rng([self.seed, _DATA_ORDER, epoch]).permutation(len(self.x))
            self._cached = (epoch, order)
        return order

    def __getitem__(self, index):
        epoch, step = divmod(index, self.steps_per_epoch)
        epoch += self.first_epoch
        rows = self.order(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        if self.mixing is None:
            return self.x[rows], self.y[rows]
        rng = np.random.default_rng([self.seed, _BATCH_MIXING, epoch, step])
        return self.mixing(self.x[rows], self.y[rows], rng)


class EpochSeeds(keras.callbacks.Callback):
    """Reset every random layer's seed at the start of each epoch, from ``(seed, epoch)``.

    Dropout, RandomFlip and RandomZoom each own a ``keras.random.SeedGenerator`` whose
    state advances with every training step. That state is not among the weights that
    ``save_weights`` writes, so a resumed run would replay the first epoch's draws.
    Setting the state of generator ``i`` to ``[s, 0]`` with ``s`` drawn from
    ``np.random.default_rng([seed, 2, epoch, i])`` makes each epoch's randomness a
    function of the seed and the epoch alone, however the run was split into calls.
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def seed_states(self):
        """The model's seed-generator state variables (Keras names them this way)."""
        return [v for v in self.model.variables if v.name == "seed_generator_state"]

    def on_epoch_begin(self, epoch, logs=None):
        for i, state in enumerate(self.seed_states()):
            rng = np.random.default_rng([self.seed, _LAYER_SEEDS, epoch, i])
            value = np.array([rng.integers(1, 2**31 - 1), 0])
            state.assign(value.astype(keras.backend.standardize_dtype(state.dtype)))


class EpochLog(keras.callbacks.Callback):
    """Print one line per epoch (no progress bar), and time the training steps.

    The first epoch of a ``fit`` call includes tracing and compilation, so throughput is
    measured over the later epochs when there are any. The learning rate at the end of
    the epoch goes into the logs as ``learning_rate`` unless a later callback
    (``ReduceLROnPlateau``) puts it there itself.

    Args:
        epochs: the number of epochs, for the ``epoch 3/50`` counter.
        batch_size: images per step, used when ``images_per_epoch`` is not given.
        printer: where the lines go.
        images_per_epoch: the exact number of training images in an epoch (the last
            batch may be smaller than ``batch_size``).
    """

    def __init__(self, epochs, batch_size, printer=print, images_per_epoch=None):
        super().__init__()
        self.epochs, self.batch_size, self.printer = epochs, batch_size, printer
        self.images_per_epoch = images_per_epoch
        self.step_seconds, self.step_images = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._steps = 0
        self._train_seconds = None

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        self._train_seconds = time.perf_counter() - self._epoch_start

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.step_seconds.append(self._train_seconds or 0.0)
        self.step_images.append(self.images_per_epoch or self._steps * self.batch_size)
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs.setdefault("learning_rate", lr)
        self.printer(
            f"epoch {epoch + 1:>3}/{self.epochs}"
            f"  loss {logs.get('loss', float('nan')):.4f}"
            f"  top1 {logs.get('top1', float('nan')):.3f}"
            f"  top5 {logs.get('top5', float('nan')):.3f}"
            f"  | val_loss {logs.get('val_loss', float('nan')):.4f}"
            f"  val_top1 {logs.get('val_top1', float('nan')):.3f}"
            f"  val_top5 {logs.get('val_top5', float('nan')):.3f}"
            f"  | lr {lr:.2e}"
        )

    def images_per_second(self):
        """Training images per second, excluding the first (compiling) epoch if possible."""
        seconds, images = self.step_seconds, self.step_images
        if len(seconds) > 1:
            seconds, images = seconds[1:], images[1:]
        total = sum(seconds)
        return sum(images) / total if total > 0 else float("nan")


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
    recipe="seed",
    checkpoint_dir=None,
    results_path=None,
    config=None,
    extra_callbacks=(),
):
    """Train ``model`` on ``dataset``, evaluate on its test split, optionally record it.

    Args:
        model: an uncompiled model from ``build_model`` (images -> logits).
        dataset: a ``Dataset`` from ``load_dataset``.
        epochs, batch_size: training length and batch size.
        learning_rate, weight_decay: AdamW's.
        seed: seeds the validation split, the per-epoch order of the training images,
            and dropout and augmentation (see the module docstring).
        validation_fraction: share of the training split held out for validation.
        early_stopping_patience, reduce_lr_patience: in epochs, on validation loss
            (``reduce_lr_patience`` is unused when the recipe has a schedule).
        recipe: a name from :data:`mlp_tutorial.recipe.RECIPES` (``"seed"``, the Keras
            example's; ``"modern"``; an ablation step such as ``"+label_smoothing"``)
            or a :class:`mlp_tutorial.recipe.Recipe`. A recipe with RandAugment needs a
            model built with it (``augmentation=recipe.augmentation``), and vice versa.
        checkpoint_dir: if given, back up every epoch there so that a rerun with the
            same settings after an interruption resumes exactly where it stopped; the
            backup is deleted on success (see the module docstring).
        results_path: if given, write the JSON record there (atomically).
        config: the model/chapter settings to store in the record.
        extra_callbacks: more Keras callbacks, called after the built-in ones.

    Returns: a :class:`Result`.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    recipe, recipe_name = get_recipe(recipe), recipe
    if not isinstance(recipe_name, str):  # a Recipe: its name, if it has one
        recipe_name = next((name for name, r in RECIPES.items() if r == recipe), None)
    if uses_randaugment(model) != recipe.randaugment:
        wants, has = ("uses", "has no") if recipe.randaugment else ("has no", "has a")
        raise ValueError(
            f"`recipe` {recipe_name or recipe!r} {wants} RandAugment, but the model {has} "
            f"RandAugment layer: build the model with augmentation={recipe.augmentation!r} "
            "(the recipe's `augmentation`)."
        )
    if model.output_shape[-1] != dataset.num_classes:
        raise ValueError(
            f"The model has {model.output_shape[-1]} outputs but the dataset "
            f"{dataset.name!r} has {dataset.num_classes} classes; build it with "
            f"num_classes={dataset.num_classes}."
        )
    set_seed(seed)
    x_fit, y_fit, x_val, y_val = split_validation(
        dataset.x_train, dataset.y_train, validation_fraction, seed
    )
    adapt_normalization(model, x_fit)
    steps_per_epoch = math.ceil(len(x_fit) / batch_size)
    compile_model(
        model,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        recipe=recipe,
        total_steps=epochs * steps_per_epoch,
    )
    schedule = {}
    if recipe.warmup_cosine:
        reduce_lr_patience = None  # the schedule owns the learning rate
        lr = learning_rate_for(recipe, learning_rate, epochs * steps_per_epoch)
        schedule = dict(warmup_steps=lr.warmup_steps, decay_steps=lr.decay_steps)
    training = dict(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        seed=seed,
        validation_fraction=validation_fraction,
        early_stopping_patience=early_stopping_patience,
        reduce_lr_patience=reduce_lr_patience,
        train_images=len(x_fit),
        val_images=len(x_val),
    )
    training["recipe"] = {"name": recipe_name, **recipe.describe(), **schedule}
    if recipe.one_hot:
        y_fit, y_val, y_test = (
            keras.utils.to_categorical(y, dataset.num_classes).astype("float32")
            for y in (y_fit, y_val, dataset.y_test)
        )
    else:
        y_test = dataset.y_test
    reduce_lr = None
    if not recipe.warmup_cosine:
        reduce_lr = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=reduce_lr_patience
        )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
    )
    log = EpochLog(epochs, batch_size, images_per_epoch=len(x_fit))
    callbacks = [EpochSeeds(seed), log, *([reduce_lr] if reduce_lr else []), early_stopping]

    backup, initial_epoch, resumed, restored = None, 0, 0, {}
    if checkpoint_dir is not None:
        fingerprint = {
            "model": model.name,
            "num_params": int(model.count_params()),
            "dataset": dataset.name,
            "labels_crc32": zlib.crc32(np.ascontiguousarray(y_fit).tobytes()),
            **{k: v for k, v in training.items() if k != "epochs"},
        }
        backup = TrainingBackup(
            checkpoint_dir,
            fingerprint=fingerprint,
            reduce_lr=reduce_lr,
            early_stopping=early_stopping,
        )
        initial_epoch = resumed = backup.epochs_done
        restored = {key: list(values) for key, values in backup.history.items()}
        if resumed > epochs:
            raise backup.error(f"it holds {resumed} epochs, more than epochs={epochs}")
        if initial_epoch:
            then = (
                "early stopping had ended training"
                if backup.stopped
                else f"training continues at epoch {initial_epoch + 1}"
            )
            print(f"Resuming from {checkpoint_dir}: {initial_epoch}/{epochs} epochs done; {then}.")
        if backup.stopped:
            initial_epoch = epochs  # nothing left to train
        callbacks.append(backup)
    callbacks += list(extra_callbacks)

    batches = EpochBatches(
        x_fit,
        y_fit,
        batch_size,
        seed,
        first_epoch=initial_epoch,
        mixing=BatchMixing.from_recipe(recipe),
    )
    start = time.perf_counter()
    fit = model.fit(
        batches,
        steps_per_epoch=batches.steps_per_epoch,
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=(x_val, y_val),
        validation_batch_size=batch_size,
        shuffle=False,  # EpochBatches orders each epoch itself
        callbacks=callbacks,
        verbose=0,
    )
    wall_time = time.perf_counter() - start
    test = model.evaluate(
        dataset.x_test, y_test, batch_size=batch_size, verbose=0, return_dict=True
    )
    print(
        f"test top1 {test['top1']:.4f}  top5 {test['top5']:.4f}  loss {test['loss']:.4f}"
        f"  ({dataset.name}, {len(dataset.x_test):,} test images)"
    )
    history = _merge_history(restored, fit.history)
    result = Result(
        history=history,
        test_top1=float(test["top1"]),
        test_top5=float(test["top5"]),
        test_loss=float(test["loss"]),
        num_params=int(model.count_params()),
        train_images_per_second=float(log.images_per_second()),
        wall_time_s=float(wall_time),
        epochs_run=len(history.get("loss", [])),
        record={},
        epochs_resumed=resumed,
    )
    training["epochs_resumed"] = resumed
    result.record = make_record(model, dataset, result, config=config, training=training)
    if results_path is not None:
        write_record(results_path, result.record)
    if backup is not None:
        backup.remove()  # only now: a crash in evaluation or recording can still resume
    return result


def _merge_history(restored, new):
    """Epochs restored from a backup, then this call's epochs, as float lists per key."""
    keys = list(dict.fromkeys([*restored, *new]))
    return {
        key: [float(v) for v in restored.get(key, [])] + [float(v) for v in new.get(key, [])]
        for key in keys
    }


def make_record(model, dataset, result, *, config, training):
    """The JSON-able results record described in DESIGN.md."""
    return {
        "model": model.name,
        "config": dict(config or {}),
        "training": training,
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "num_classes": dataset.num_classes,
            "test_images": len(dataset.x_test),
        },
        "history": result.history,
        "epochs_run": result.epochs_run,
        "test": {"top1": result.test_top1, "top5": result.test_top5, "loss": result.test_loss},
        "num_params": result.num_params,
        "train_images_per_second": result.train_images_per_second,
        "wall_time_s": result.wall_time_s,
        **environment(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
