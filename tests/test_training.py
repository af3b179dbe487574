"""run_experiment: learning, determinism, exact resume, refused resumes, argument errors,
the records, and data-parallel training over two devices.

Every run here is tiny (offline dataset, 200 training images, a 1-block gMLP of width 16 on
16x16 images). Batches of 20 split the 180 training, 20 validation and 1,000 test images
evenly: one compiled shape each.
"""

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mlp_tutorial import build_model
from mlp_tutorial.checkpoint import TrainingBackup, differences, run_fingerprint
from mlp_tutorial.environment import environment
from mlp_tutorial.recipe import compile_model
from mlp_tutorial.records import write_record
from mlp_tutorial.training import (
    EpochBatches,
    EpochSeeds,
    run_experiment,
    set_seed,
    split_validation,
)

pytestmark = pytest.mark.backend

SMALL = dict(image_size=16, patch_size=4, embedding_dim=16, num_blocks=1)
SEED = 3


def train(dataset, *, seed=SEED, model=None, **kwargs):
    """Build the small gMLP after set_seed(seed), as a chapter does, and train it.

    ``model``: build_model arguments that replace or add to SMALL's."""
    set_seed(seed)
    model = build_model("gmlp", num_classes=dataset.num_classes, **{**SMALL, **(model or {})})
    return run_experiment(model, dataset, seed=seed, batch_size=20, **kwargs)


@pytest.fixture(scope="module")
def learning_run(dataset, tmp_path_factory):
    """Four epochs at a learning rate that learns; the record is written to a file."""
    path = tmp_path_factory.mktemp("results") / "gmlp.json"
    config = dict(model="gmlp", **SMALL, learning_rate=1e-2)
    result = train(dataset, epochs=4, learning_rate=1e-2, results_path=path, config=config)
    return result, path


class Interrupted(Exception):
    """Stands for whatever ends a run early: a lost Colab session, a kill, a crash."""


class Interrupt(keras.callbacks.Callback):
    """Kill the run after epoch ``after`` (1-based) and its backup: as the next one starts
    (an extra callback's ``on_epoch_end`` runs before the backup's)."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.after:
            raise Interrupted(f"interrupted after epoch {self.after}")


class DieAtTrainEnd(keras.callbacks.Callback):
    """Kill the run after its last epoch (and its backup), before the evaluation."""

    def on_train_end(self, logs=None):
        raise Interrupted("died before evaluation")


class MarkAndStop(keras.callbacks.Callback):
    """Log ``marker`` = the epoch (0-based) and stop the run at the end of epoch ``stop``."""

    def __init__(self, stop):
        super().__init__()
        self.stop = stop

    def on_epoch_end(self, epoch, logs=None):
        logs["marker"] = float(epoch)
        if epoch + 1 == self.stop:
            self.model.stop_training = True


class SeenEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


# ------------------------------------------------------------------------------------
# Learning and determinism
# ------------------------------------------------------------------------------------


def test_training_lowers_the_loss(learning_run):
    """On real images (MNIST digits) the training loss falls clearly in four epochs."""
    result, _ = learning_run
    loss = result.history["loss"]
    assert len(loss) == result.epochs_run == 4
    assert loss[-1] < loss[0] - 0.15, loss
    assert result.history["val_loss"][-1] < result.history["val_loss"][0], result.history
    assert result.test_top1 > 0.2  # 10 classes: chance is 0.1


def test_same_seed_gives_bit_identical_runs(dataset, learning_run):
    """Same data, seed and settings: every per-epoch metric and test metric, bit for bit."""
    first, _ = learning_run
    again = train(dataset, epochs=4, learning_rate=1e-2)
    assert again.history == first.history
    assert (again.test_top1, again.test_top5, again.test_loss) == (
        first.test_top1,
        first.test_top5,
        first.test_loss,
    )
    other = train(dataset, seed=SEED + 1, epochs=1, learning_rate=1e-2)
    assert other.history["loss"][0] != first.history["loss"][0]  # the seed matters


def test_epoch_order_depends_only_on_seed_and_epoch():
    """Every epoch visits each image once; a resumed sequence continues the same orders."""
    x = np.arange(50).reshape(50, 1)
    y = np.arange(50)
    batches = EpochBatches(x, y, batch_size=16, seed=7)
    assert batches.steps_per_epoch == 4
    epochs = [np.concatenate([batches[e * 4 + s][1] for s in range(4)]) for e in range(3)]
    for seen in epochs:
        assert sorted(seen) == list(range(50))
    assert not np.array_equal(epochs[0], epochs[1])
    resumed = EpochBatches(x, y, batch_size=16, seed=7, first_epoch=2)
    np.testing.assert_array_equal(np.concatenate([resumed[s][1] for s in range(4)]), epochs[2])


def test_epoch_seeds_reach_every_random_layer(dataset):
    """Head dropout, block dropout, flip and zoom: four generators, reset per epoch."""
    model = build_model("gmlp", num_classes=dataset.num_classes, dropout_rate=0.2, **SMALL)
    seeds = EpochSeeds(seed=5)
    seeds.set_model(model)
    states = seeds.seed_states()
    assert len(states) == 4

    def values():
        return [tuple(keras.ops.convert_to_numpy(s.value)) for s in states]

    seeds.on_epoch_begin(3)
    epoch3 = values()
    assert len(set(epoch3)) == 4 and all(counter == 0 for _, counter in epoch3)
    seeds.on_epoch_begin(4)
    assert values() != epoch3
    seeds.on_epoch_begin(3)
    assert values() == epoch3


# ------------------------------------------------------------------------------------
# Resuming after an interruption
# ------------------------------------------------------------------------------------

# The learning rate is so small that the validation loss stays on a plateau (changes below
# ReduceLROnPlateau's min_delta of 1e-4): its wait counter reaches reduce_lr_patience=2 at
# the end of epoch 3, one epoch after the interruption, and halves the learning rate for
# epoch 4. Without the saved counters, the resumed run would not halve it.
PLATEAU = dict(epochs=4, learning_rate=1e-8, reduce_lr_patience=2)


def test_resume_after_interruption_is_exact(dataset, tmp_path, capsys):
    folder = tmp_path / "backup"
    whole = train(dataset, **PLATEAU)
    assert whole.history["learning_rate"][3] == pytest.approx(whole.history["learning_rate"][2] / 2)

    with pytest.raises(Interrupted):
        train(dataset, **PLATEAU, checkpoint_dir=folder, extra_callbacks=[Interrupt(after=2)])
    state = json.loads((folder / "state.json").read_text())
    assert state["epochs_done"] == 2
    assert len(state["history"]["loss"]) == 2
    first_seconds = state["history"]["train_seconds"]  # the interrupted call's epochs

    # A rerun with other settings is refused, naming what differs; the backup survives.
    with pytest.raises(ValueError, match=r"settings\.batch_size: 20 -> 10"):
        set_seed(SEED)
        model = build_model("gmlp", num_classes=dataset.num_classes, **SMALL)
        run_experiment(model, dataset, seed=SEED, batch_size=10, **PLATEAU, checkpoint_dir=folder)
    assert (folder / "state.json").is_file()

    capsys.readouterr()
    seen = SeenEpochs()
    resumed = train(dataset, **PLATEAU, checkpoint_dir=folder, extra_callbacks=[seen])
    printed = capsys.readouterr().out.splitlines()

    assert seen.epochs == [2, 3]  # zero-based: epochs 3 and 4
    header = "epoch loss top1 top5 val_loss val_top1 val_top5 lr".split()
    first_row = [line.split() for line in printed].index(header)
    rows = [line.split()[0] for line in printed[first_row:] if re.match(r"\s*\d+/\d+ ", line)]
    message = " ".join(printed[:first_row])  # wrapped to the page's width
    assert message.startswith("Resuming from") and "on to epoch 3" in message
    assert rows == ["3/4", "4/4"]
    assert resumed.history == whole.history  # all four epochs, bit for bit
    assert (resumed.test_top1, resumed.test_top5, resumed.test_loss) == (
        whole.test_top1,
        whole.test_top5,
        whole.test_loss,
    )
    assert resumed.epochs_run == 4 and resumed.epochs_resumed == 2
    # The training time covers all four epochs, the two restored ones as they were timed.
    assert len(resumed.epoch_seconds) == 4 and min(resumed.epoch_seconds) > 0
    assert resumed.epoch_seconds[:2] == first_seconds
    assert resumed.train_time_s == pytest.approx(sum(resumed.epoch_seconds))
    assert resumed.record["training"]["epochs_resumed"] == 2
    assert json.loads((folder / "state.json").read_text())["epochs_done"] == 4  # kept


@pytest.fixture(scope="module")
def plateau_run(dataset):
    """The uninterrupted PLATEAU run, which a resumed one must equal."""
    return train(dataset, **PLATEAU)


def cut_short(path):
    """Truncate the file at ``path`` to half its size, as an unfinished copy leaves it."""
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("damaged", ["epoch-0003.weights.h5", "best-0003.npz"])
def test_resume_skips_a_damaged_newest_epoch(
    dataset, plateau_run, tmp_path, monkeypatch, capsys, damaged
):
    """A file of the newest epoch (3) cut short: the rerun names it and resumes from epoch
    2's files, history and counters (epoch 3's would not halve the rate for epoch 4), and
    ends as the uninterrupted run did."""
    monkeypatch.chdir(tmp_path)  # paths are shown relative to it
    backup = Path("backup")
    with pytest.raises(Interrupted):
        train(dataset, **PLATEAU, checkpoint_dir=backup, extra_callbacks=[Interrupt(after=3)])
    assert sorted(path.name for path in backup.glob("epoch-*")) == [
        "epoch-0002.weights.h5",
        "epoch-0003.weights.h5",
    ]
    cut_short(backup / damaged)
    capsys.readouterr()
    seen = SeenEpochs()
    resumed = train(dataset, **PLATEAU, checkpoint_dir=backup, extra_callbacks=[seen])
    printed = capsys.readouterr().out
    assert " ".join(printed.split()).startswith(
        f"Skipping {backup / damaged}, which cannot be read: resuming from the backup of "
        "epoch 2. Resuming from backup: 2/4 epochs done; on to epoch 3."
    )
    assert max(len(line) for line in printed.splitlines()) <= 88
    assert seen.epochs == [2, 3]
    assert (resumed.epochs_run, resumed.epochs_resumed) == (4, 2)
    assert resumed.history == plateau_run.history
    assert resumed.test_loss == plateau_run.test_loss
    state = json.loads((backup / "state.json").read_text())
    assert (state["epochs_done"], state["previous"]["epochs_done"]) == (4, 3)
    assert sorted(path.name for path in backup.iterdir()) == [
        "best-0003.npz",
        "best-0004.npz",
        "epoch-0003.weights.h5",  # written again: sound
        "epoch-0004.weights.h5",
        "state.json",
    ]


def test_resume_refuses_a_backup_with_no_sound_epoch(dataset, tmp_path, monkeypatch):
    """Every weights file cut short: a ValueError (not h5py's OSError, which names no file)
    names the newest and says how to start over; doing so trains from the first epoch."""
    monkeypatch.chdir(tmp_path)
    backup = Path("backup")
    settings = dict(epochs=2, learning_rate=1e-2, checkpoint_dir=backup)
    with pytest.raises(Interrupted):
        train(dataset, **settings, extra_callbacks=[DieAtTrainEnd()])
    for path in backup.glob("epoch-*.weights.h5"):
        cut_short(path)
    with pytest.raises(ValueError) as refused:
        train(dataset, **settings)
    message = str(refused.value)
    assert message.startswith(
        f"`checkpoint_dir` 'backup': {backup / 'epoch-0002.weights.h5'} cannot be read ("
    )
    assert "truncated file" in message  # h5py's reason
    assert message.endswith(
        ", and no earlier epoch's backup can be read. Delete that folder (or pass another "
        "checkpoint_dir) to start from the first epoch."
    )
    shutil.rmtree(backup)  # as it says
    again = train(dataset, **settings)
    assert (again.epochs_run, again.epochs_resumed) == (2, 0)


def test_rerunning_a_finished_run_trains_nothing_and_gives_its_results(dataset, tmp_path, capsys):
    """A chapter run again after its run finished (a rerun after a disconnect) resumes at
    the end: the backup is kept, and the rerun only tests the final weights again."""
    folder = tmp_path / "backup"
    first = train(dataset, epochs=2, learning_rate=1e-2, checkpoint_dir=folder)
    capsys.readouterr()
    seen = SeenEpochs()
    again = train(dataset, epochs=2, learning_rate=1e-2, checkpoint_dir=folder,
                  extra_callbacks=[seen])  # fmt: skip
    printed = capsys.readouterr().out
    assert "2/2 epochs done; it is complete" in " ".join(printed.split())
    assert max(len(line) for line in printed.splitlines()) <= 88  # however long the path
    assert seen.epochs == []
    assert again.history == first.history
    assert (again.test_top1, again.test_loss) == (first.test_top1, first.test_loss)
    assert (again.epochs_run, again.epochs_resumed) == (2, 2)
    assert again.epoch_seconds == first.epoch_seconds  # the first run's, as timed
    # The throughput comes from those seconds: this call trained nothing, yet the rerun's
    # record keeps the run's speed (second epoch: the first one compiles).
    images = again.record["training"]["train_images"]
    assert again.train_images_per_second == pytest.approx(images / again.epoch_seconds[1])
    assert again.train_images_per_second == first.train_images_per_second
    assert again.record["train_images_per_second"] == again.train_images_per_second


def test_resume_after_early_stopping_trains_no_more(dataset, tmp_path, capsys):
    """Killed after early stopping but before the end: the rerun only evaluates."""
    # learning rate 0: the validation loss never improves, so patience 1 stops at epoch 2
    settings = dict(epochs=5, learning_rate=0.0, early_stopping_patience=1)
    whole = train(dataset, **settings)
    assert whole.epochs_run == 2
    folder = tmp_path / "backup"
    with pytest.raises(Interrupted):
        train(dataset, **settings, checkpoint_dir=folder, extra_callbacks=[DieAtTrainEnd()])
    capsys.readouterr()
    seen = SeenEpochs()
    resumed = train(dataset, **settings, checkpoint_dir=folder, extra_callbacks=[seen])
    assert "it had stopped early" in capsys.readouterr().out
    assert seen.epochs == []
    assert resumed.history == whole.history
    assert resumed.test_loss == whole.test_loss
    assert (folder / "state.json").is_file()  # kept after success


def test_backup_keeps_what_extra_callbacks_log_and_their_stop(dataset, tmp_path):
    """Extra callbacks run before the backup: the ``marker`` one logs each epoch and the
    stop it asks for at epoch 2 of 4 are saved, so a rerun after a crash restores both:
    the marker for every epoch, and no training past the stop."""
    folder = tmp_path / "backup"
    settings = dict(epochs=4, learning_rate=1e-2, checkpoint_dir=folder)
    with pytest.raises(Interrupted):
        train(dataset, **settings, extra_callbacks=[MarkAndStop(2), DieAtTrainEnd()])
    state = json.loads((folder / "state.json").read_text())
    assert (state["epochs_done"], state["stopped"]) == (2, True)
    assert state["history"]["marker"] == [0.0, 1.0]
    seen = SeenEpochs()
    resumed = train(dataset, **settings, extra_callbacks=[MarkAndStop(2), seen])
    assert seen.epochs == []
    assert (resumed.epochs_run, resumed.epochs_resumed) == (2, 2)
    assert resumed.history["marker"] == [0.0, 1.0]
    assert len(resumed.history["loss"]) == 2
    assert (folder / "state.json").is_file()  # kept after success


def test_backup_restores_callback_counters_and_best_weights(dataset, tmp_path):
    """What BackupAndRestore leaves out: EarlyStopping/ReduceLROnPlateau state, NaN too."""
    folder = tmp_path / "backup"

    def compiled():
        model = build_model("gmlp", num_classes=dataset.num_classes, **SMALL)
        compile_model(model, learning_rate=1e-3, weight_decay=1e-4)
        model.optimizer.build(model.trainable_variables)
        return model

    def callbacks():
        return (
            keras.callbacks.ReduceLROnPlateau(),
            keras.callbacks.EarlyStopping(restore_best_weights=True),
        )

    set_seed(0)
    model = compiled()
    reduce_lr, early = callbacks()
    reduce_lr.wait, reduce_lr.cooldown_counter, reduce_lr.best = 1, 2, float("nan")
    early.wait, early.best, early.best_epoch = 3, 0.1 + 0.2, 4
    early.best_weights = [w + 1 for w in model.get_weights()]
    model.optimizer.iterations.assign(7)
    model.optimizer.learning_rate = 0.25
    backup = TrainingBackup(
        folder, fingerprint={"seed": 0}, reduce_lr=reduce_lr, early_stopping=early
    )
    backup.set_model(model)
    model.stop_training = True
    backup.on_epoch_end(5, logs={"loss": 1.25, "val_loss": float("inf")})
    assert sorted(p.name for p in folder.iterdir()) == [
        "best-0006.npz",
        "epoch-0006.weights.h5",
        "state.json",
    ]

    set_seed(1)  # different initial weights
    other = compiled()
    reduce_lr2, early2 = callbacks()
    restored = TrainingBackup(
        folder, fingerprint={"seed": 0}, reduce_lr=reduce_lr2, early_stopping=early2
    )
    assert (restored.epochs_restored, restored.stopped) == (6, True)
    assert restored.history == {"loss": [1.25], "val_loss": [float("inf")]}
    restored.set_model(other)
    for callback in (reduce_lr2, early2):
        callback.on_train_begin()  # they reset their counters first...
    restored.on_train_begin()  # ...then the backup restores them
    assert (reduce_lr2.wait, reduce_lr2.cooldown_counter) == (1, 2)
    assert math.isnan(reduce_lr2.best)
    assert (early2.wait, early2.best, early2.best_epoch) == (3, 0.1 + 0.2, 4)
    for got, want in zip(early2.best_weights, early.best_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert int(keras.ops.convert_to_numpy(other.optimizer.iterations)) == 7
    assert float(keras.ops.convert_to_numpy(other.optimizer.learning_rate)) == 0.25

    with pytest.raises(ValueError, match="seed: 0 -> 1"):
        TrainingBackup(folder, fingerprint={"seed": 1})
    restored.remove()
    assert not folder.exists()


def misled_dataset(dataset):
    """``dataset`` with every validation image labelled 9, a class no training image has
    (those become 0): training lowers p(9), so the validation loss grows every epoch."""
    val = np.arange(len(dataset.y_train))
    val = split_validation(val, val, 0.1, SEED)[2]  # the indices run_experiment holds out
    labels = np.where(dataset.y_train == 9, 0, dataset.y_train)
    labels[val] = 9
    return dataclasses.replace(dataset, y_train=labels)


class FinalWeights(keras.callbacks.Callback):
    """Keep a copy of the weights as each epoch ends: after training, the last epoch's."""

    def on_epoch_end(self, epoch, logs=None):
        self.weights = self.model.get_weights()


def test_without_early_stopping_the_final_weights_are_tested(dataset, tmp_path, monkeypatch):
    """The validation loss grows every epoch. With early stopping (patience 10, the default)
    Keras restores epoch 1's weights at the end although it never stopped; with
    ``early_stopping_patience=None`` there is no EarlyStopping, every epoch runs, and the
    test metrics are those of the final weights. The backup works without it too."""
    made = []
    early_stopping = keras.callbacks.EarlyStopping

    def recording(*args, **kwargs):
        made.append(early_stopping(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(keras.callbacks, "EarlyStopping", recording)
    misled = misled_dataset(dataset)
    settings = dict(epochs=3, learning_rate=1e-2)
    runs = {}
    for patience in (10, None):
        set_seed(SEED)
        model = build_model("gmlp", num_classes=dataset.num_classes, **SMALL)
        final = FinalWeights()
        result = run_experiment(
            model, misled, seed=SEED, batch_size=20, **settings,
            early_stopping_patience=patience, extra_callbacks=[final],
        )  # fmt: skip
        runs[patience] = model, result, final.weights
        assert len(made) == 1  # made by the first run only
    model, result, final = runs[None]
    val_loss = result.history["val_loss"]
    assert result.epochs_run == 3 and val_loss[0] < val_loss[1] < val_loss[2], val_loss
    for got, want in zip(model.get_weights(), final, strict=True):
        np.testing.assert_array_equal(got, want)
    tested = model.evaluate(
        misled.x_test, misled.y_test, batch_size=20, verbose=0, return_dict=True
    )
    assert tested["loss"] == pytest.approx(result.test_loss, rel=1e-6)
    assert tested["top1"] == pytest.approx(result.test_top1)
    assert result.record["training"]["early_stopping_patience"] is None

    restored, early_result, early_final = runs[10]  # the same training, then a restore
    assert early_result.history == result.history
    assert not all(map(np.array_equal, restored.get_weights(), early_final))
    assert early_result.test_loss != result.test_loss

    folder = tmp_path / "backup"
    settings.update(early_stopping_patience=None, checkpoint_dir=folder)
    with pytest.raises(Interrupted):
        train(misled, **settings, extra_callbacks=[Interrupt(after=2)])
    state = json.loads((folder / "state.json").read_text())
    assert state["best_weights"] is None and "early_stopping" not in state["counters"]
    resumed = train(misled, **settings)
    assert (resumed.epochs_run, resumed.epochs_resumed) == (3, 2)
    assert resumed.history == result.history
    assert resumed.test_loss == result.test_loss


def test_resume_keeps_the_counters_when_validation_gets_worse(dataset, tmp_path, monkeypatch):
    """Every validation image is labelled 9, a class no training image has (those become 0),
    so training lowers p(9) and the validation loss grows every epoch: plateau halves the
    rate after epochs 2 and 3, and early stopping (patience 2) ends the run at epoch 3, the
    first resumed one. A resume that forgot the callbacks' counters (as Keras < 3.7 does,
    resetting ``best``) would see an improvement there and train on to epoch 6."""
    made = []

    def recording(kind):
        class Recording(kind):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                made.append(self)

        return Recording

    for name in ("EarlyStopping", "ReduceLROnPlateau"):
        monkeypatch.setattr(keras.callbacks, name, recording(getattr(keras.callbacks, name)))
    misled = misled_dataset(dataset)
    settings = dict(epochs=6, learning_rate=1e-2, early_stopping_patience=2, reduce_lr_patience=1)

    def counters():  # of the last run's two callbacks, made in this order
        plateau, early = made[-2:]
        assert isinstance(early, keras.callbacks.EarlyStopping)
        return (
            (early.wait, early.best, early.best_epoch, early.stopped_epoch),
            (plateau.wait, plateau.best, plateau.cooldown_counter),
        )

    whole = train(misled, **settings)
    val_loss, lr = whole.history["val_loss"], whole.history["learning_rate"]
    assert whole.epochs_run == 3 and val_loss[0] < val_loss[1] < val_loss[2], val_loss
    assert lr == pytest.approx([1e-2, 1e-2, 5e-3], rel=1e-6)  # logged before the halving
    whole_counters = counters()
    assert whole_counters[0][2:] == (0, 2)  # best epoch 1, stopped at epoch 3

    folder = tmp_path / "backup"
    with pytest.raises(Interrupted):
        train(misled, **settings, checkpoint_dir=folder, extra_callbacks=[Interrupt(after=2)])
    resumed = train(misled, **settings, checkpoint_dir=folder)
    assert resumed.epochs_resumed == 2
    assert resumed.history == whole.history  # stopped at epoch 3, the rate halved twice
    assert counters() == whole_counters
    assert resumed.test_loss == whole.test_loss  # the best (epoch 1) weights restored


def test_resume_refuses_a_changed_model_precision_or_data(dataset, tmp_path):
    """Each change is refused, naming it, and leaves the backup; the same run resumes."""
    folder = tmp_path / "backup"
    settings = dict(epochs=2, learning_rate=1e-2, checkpoint_dir=folder)
    with pytest.raises(Interrupted):
        train(dataset, **settings, model=dict(dropout_rate=0.1), extra_callbacks=[Interrupt(1)])
    x_train = dataset.x_train.copy()
    x_train[0, 0, 0, 0] ^= 1  # one bit of one image
    changes = [
        (
            dict(model=dict(dropout_rate=0.2)),
            r"model\.config\.layers\[\d+\]\.config\.\w*rate: 0\.1 -> 0\.2",
        ),
        (
            dict(model=dict(dropout_rate=0.1, augmentation="none")),
            r"model\.config\.layers\[\d+\]\.config\.layers: <\d+ items> -> ",
        ),
        (
            dict(model=dict(dropout_rate=0.1), data=dataclasses.replace(dataset, x_train=x_train)),
            r"data\.train: '200 images, crc32 \w+' -> '200 images, crc32 \w+'",
        ),
    ]
    for change, message in changes:
        data = change.pop("data", dataset)
        with pytest.raises(ValueError, match=message):
            train(data, **settings, **change)
        assert (folder / "state.json").is_file()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        with pytest.raises(ValueError, match="precision: 'float32' -> 'mixed_bfloat16'"):
            train(dataset, **settings, model=dict(dropout_rate=0.1))
    finally:
        keras.config.set_dtype_policy("float32")
    resumed = train(dataset, **settings, model=dict(dropout_rate=0.1))
    assert resumed.epochs_resumed == 1
    assert (folder / "state.json").is_file()  # kept after success


def test_differences_name_each_changed_key():
    old = {"a": 1, "layers": [{"rate": 0.1, "units": 8}, {"name": "x"}], "list": [1, 2], "gone": 1}
    new = {"a": 1, "layers": [{"rate": 0.2, "units": 8}, {"name": "y"}], "list": [1, 2, 3]}
    assert differences(old, new) == [
        "layers[0].rate: 0.1 -> 0.2",
        "layers[1].name: 'x' -> 'y'",
        "list: [1, 2] -> [1, 2, 3]",
        "gone: 1 -> (absent)",
    ]
    long = {"xs": list(range(30))}
    assert differences(long, {"xs": []}) == ["xs: <30 items> -> []"]
    assert differences(old, json.loads(json.dumps(old))) == []


# ------------------------------------------------------------------------------------
# Argument errors
# ------------------------------------------------------------------------------------


def test_zero_epochs_is_an_error(dataset):
    model = build_model("gmlp", num_classes=dataset.num_classes, **SMALL)
    with pytest.raises(ValueError, match="`epochs`"):
        run_experiment(model, dataset, epochs=0)


def test_mixed_precision_trains_with_float32_logits_and_is_recorded(dataset):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        result = train(dataset, epochs=1, precision="mixed_bfloat16")
        model = build_model("gmlp", num_classes=dataset.num_classes, **SMALL)
    finally:
        keras.config.set_dtype_policy("float32")
    block = model.get_layer("gmlp_block_0")
    assert (block.compute_dtype, block.variable_dtype) == ("bfloat16", "float32")
    assert keras.backend.standardize_dtype(model.output.dtype) == "float32"
    assert result.record["precision"] == "mixed_bfloat16"
    assert math.isfinite(result.history["loss"][0])
    with pytest.raises(ValueError, match=r"set_dtype_policy\('float32'\) before"):
        run_experiment(model, dataset, epochs=1, precision="float32")
    with pytest.raises(ValueError, match="`precision`='bf16'.*'mixed_bfloat16'"):
        run_experiment(model, dataset, epochs=1, precision="bf16")


def test_class_count_mismatch_is_an_error(dataset):
    model = build_model("gmlp", num_classes=100, **SMALL)
    with pytest.raises(ValueError, match="100 outputs.*10 classes.*num_classes=10"):
        run_experiment(model, dataset, epochs=1)


# ------------------------------------------------------------------------------------
# Results records
# ------------------------------------------------------------------------------------


def _reject_constant(name):
    raise ValueError(f"non-finite number {name} in a record")


def _numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_record_has_the_design_fields(dataset, learning_run):
    result, path = learning_run
    text = Path(path).read_text(encoding="utf-8")
    record = json.loads(text, parse_constant=_reject_constant)  # no NaN/Infinity tokens
    assert record == json.loads(json.dumps(result.record))
    assert record["config"] == dict(model="gmlp", **SMALL, learning_rate=1e-2)
    assert record["dataset"]["name"] == "offline"
    assert "NOT CIFAR-100" in record["dataset"]["source"]
    assert record["epochs_run"] == 4
    assert set(record["history"]) >= {"loss", "top1", "top5", "val_loss", "val_top1", "val_top5"}
    assert all(len(values) == 4 for values in record["history"].values())
    assert 0 <= record["test"]["top1"] <= record["test"]["top5"] <= 1
    assert record["num_params"] == result.num_params > 0
    assert record["train_images_per_second"] > 0
    assert record["wall_time_s"] > record["train_time_s"] > 0  # validation is not training
    assert len(record["epoch_seconds"]) == 4
    assert record["train_time_s"] == pytest.approx(sum(record["epoch_seconds"]))
    env = environment()
    assert record["backend"] == keras.backend.backend() == env["backend"]
    assert record["device"] == env["device"]
    assert record["versions"]["keras"] == keras.__version__
    assert record["training"]["train_images"] == 180
    assert record["training"]["devices"] == 1
    assert record["precision"] == "float32"
    # The model that ran, rebuilt from the record alone: the same model, as a resume sees it.
    rebuilt = keras.saving.deserialize_keras_object(record["model_config"])
    built = build_model("gmlp", num_classes=10, **SMALL)
    assert run_fingerprint(rebuilt, dataset, {}) == run_fingerprint(built, dataset, {})
    assert rebuilt.count_params() == record["num_params"]
    measured = [*record["test"].values(), *(v for vs in record["history"].values() for v in vs)]
    assert None not in measured  # write_record stores NaN as null: nothing was NaN
    assert all(math.isfinite(n) for n in _numbers(record))


@pytest.mark.parametrize("failing", ["json.dumps", "os.fsync", "os.replace"])
def test_interrupted_record_write_keeps_the_old_record(tmp_path, monkeypatch, failing):
    """A write that fails before, during or at the rename leaves the old file, no temp."""
    path = tmp_path / "gmlp.json"
    write_record(path, {"test": {"top1": 0.5}})
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(f"simulated failure in {failing}")

    module, name = failing.split(".")
    monkeypatch.setattr(f"mlp_tutorial.records.{module}.{name}", boom)
    with pytest.raises(OSError, match="simulated failure"):
        write_record(path, {"test": {"top1": 0.9}})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["gmlp.json"]


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX's")
def test_a_record_is_readable_by_everyone(tmp_path):
    """Not the 0600 of the temporary file it is written through."""
    path = write_record(tmp_path / "gmlp.json", {"test": {"top1": 0.5}})
    assert path.stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------------------------
# Several devices
# ------------------------------------------------------------------------------------

TWO_DEVICES = """
import contextlib, json
import jax, keras
from mlp_tutorial import build_model, load_dataset
from mlp_tutorial.training import run_experiment, set_seed

SMALL = dict(image_size=16, patch_size=4, embedding_dim=16, num_blocks=1)
data = load_dataset("offline", train_limit=200)
shards = []  # how each batch that Keras hands to JAX is laid out over the devices
make_array = jax.make_array_from_process_local_data

def recording(sharding, local_data, *args, **kwargs):
    array = make_array(sharding, local_data, *args, **kwargs)
    shards.append([[s.device.id, *s.data.shape] for s in array.addressable_shards])
    return array

jax.make_array_from_process_local_data = recording

def train(distribution=None, batch_size=20):
    set_seed(3)
    with distribution.scope() if distribution else contextlib.nullcontext():
        model = build_model("gmlp", num_classes=10, **SMALL)
    result = run_experiment(model, data, epochs=2, batch_size=batch_size, learning_rate=1e-2,
                            seed=3, distribution=distribution)
    return model, result

def error(call):
    try:
        call()
    except ValueError as exc:
        return str(exc)

one_model, one = train()
single_shards = len(shards)
parallel = keras.distribution.DataParallel()
model, two = train(parallel)
print(json.dumps(dict(
    devices=[str(d) for d in jax.devices()],
    mesh=list(parallel.device_mesh.shape),
    single_shards=single_shards,
    shards=shards,
    replicated=sorted({len(v.value.sharding.device_set) for v in model.variables}),
    one=one.history, two=two.history, one_test=one.test_loss, two_test=two.test_loss,
    record_devices=two.record["training"]["devices"],
    outside=error(lambda: run_experiment(one_model, data, epochs=1, distribution=parallel)),
    uneven=error(lambda: train(parallel, batch_size=15)),
)))
"""


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="starts its own JAX process with two CPU devices: run once, in the JAX session",
)
def test_data_parallel_training_on_two_devices_matches_one():
    """DataParallel over two host CPU devices: every batch is split 10 + 10 over both, the
    variables are replicated on both, and the losses equal a one-device run's to 1e-5
    (the same global batch; only the order of the sums differs)."""
    env = dict(
        os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )
    run = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(out["devices"]) == 2 and out["mesh"] == [2]
    assert out["single_shards"] == 0  # one device: Keras hands JAX whole batches
    assert len(out["shards"]) >= 2 * 9  # two epochs of 9 training batches, plus validation
    for batch in out["shards"]:
        assert sorted(shard[0] for shard in batch) == [0, 1]  # device ids
        assert len({shard[1] for shard in batch}) == 1  # equal halves
    assert {shard[1] for batch in out["shards"] for shard in batch} >= {10}  # 20 = 10 + 10
    assert out["replicated"] == [2]
    for key in ("loss", "val_loss", "top1", "val_top1"):
        np.testing.assert_allclose(out["two"][key], out["one"][key], rtol=1e-5, atol=1e-6)
    assert out["two_test"] == pytest.approx(out["one_test"], rel=1e-5)
    assert out["record_devices"] == 2
    assert "build the model inside `with distribution.scope():`" in out["outside"]
    assert "[5, 15] images, which do not split evenly over 2 devices" in out["uneven"]
