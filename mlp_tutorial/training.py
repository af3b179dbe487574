"""Compile, train, evaluate, and record: the seeds' experiment, made reproducible.

The recipe is the Keras example's: AdamW, sparse categorical cross-entropy on logits,
top-1 and top-5 accuracy, 10% of the training split held out for validation,
reduce-LR-on-plateau and early stopping that restores the best weights.
"""

import dataclasses
import datetime
import time

import keras
import numpy as np

from mlp_tutorial.augment import adapt_normalization
from mlp_tutorial.environment import environment
from mlp_tutorial.records import write_record
from mlp_tutorial.validation import check_positive_int


@dataclasses.dataclass
class Result:
    """What one training run produced.

    ``history`` maps each metric (``loss``, ``top1``, ``top5`` and their ``val_``
    versions, plus ``learning_rate``) to one value per epoch run.
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


def set_seed(seed):
    """Seed Python, NumPy and the backend, and ask TensorFlow for deterministic kernels.

    Call it before building a model: weight initialisation draws from these seeds.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def compile_model(model, *, learning_rate, weight_decay):
    """Compile ``model`` with AdamW, cross-entropy from logits, and top-1/top-5 accuracy."""
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
    )


def split_validation(x, y, fraction, seed):
    """Hold out a seeded random ``fraction`` of ``(x, y)``: returns x_fit, y_fit, x_val, y_val."""
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_fraction` must be in (0, 1); got {fraction!r}.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(len(x) * fraction))
    val, fit = order[:n_val], order[n_val:]
    return x[fit], y[fit], x[val], y[val]


class EpochLog(keras.callbacks.Callback):
    """Print one line per epoch (no progress bar), and time the training steps.

    The first epoch includes tracing and compilation, so throughput is measured over
    the later epochs when there are any.
    """

    def __init__(self, epochs, batch_size, printer=print):
        super().__init__()
        self.epochs, self.batch_size, self.printer = epochs, batch_size, printer
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
        self.step_images.append(self._steps * self.batch_size)
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
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
        seed: seeds initial shuffling, dropout and augmentation, and the validation split.
        validation_fraction: share of the training split held out for validation.
        early_stopping_patience, reduce_lr_patience: in epochs, on validation loss.
        checkpoint_dir: if given, back up every epoch there (``BackupAndRestore``) so a
            rerun after an interruption resumes; the backup is deleted on success.
        results_path: if given, write the JSON record there (atomically).
        config: the model/chapter settings to store in the record.
        extra_callbacks: more Keras callbacks.

    Returns: a :class:`Result`.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
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
    compile_model(model, learning_rate=learning_rate, weight_decay=weight_decay)
    log = EpochLog(epochs, batch_size)
    callbacks = [
        log,
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=reduce_lr_patience
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
        ),
        *extra_callbacks,
    ]
    if checkpoint_dir is not None:
        callbacks.insert(0, keras.callbacks.BackupAndRestore(str(checkpoint_dir)))

    start = time.perf_counter()
    fit = model.fit(
        x_fit,
        y_fit,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=callbacks,
        verbose=0,
    )
    wall_time = time.perf_counter() - start
    test = model.evaluate(
        dataset.x_test, dataset.y_test, batch_size=batch_size, verbose=0, return_dict=True
    )
    print(
        f"test top1 {test['top1']:.4f}  top5 {test['top5']:.4f}  loss {test['loss']:.4f}"
        f"  ({dataset.name}, {len(dataset.x_test):,} test images)"
    )
    history = {key: [float(v) for v in values] for key, values in fit.history.items()}
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
    )
    result.record = make_record(
        model,
        dataset,
        result,
        config=config,
        training=dict(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            seed=seed,
            validation_fraction=validation_fraction,
            train_images=len(x_fit),
            val_images=len(x_val),
        ),
    )
    if results_path is not None:
        write_record(results_path, result.record)
    return result


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
