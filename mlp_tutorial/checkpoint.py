"""Resuming training after an interruption: the ``checkpoint_dir`` backup.

After every epoch, :class:`TrainingBackup` saves the model's and optimizer's variables,
early stopping's best weights and, last and atomically, ``state.json``: the history, the
counters of ``ReduceLROnPlateau`` and ``EarlyStopping`` (which Keras' ``BackupAndRestore``
does not keep; restoring them needs Keras >= 3.7) and the run's fingerprint: precision,
data, settings, recipe and the model's full config. A rerun with the same fingerprint
continues exactly (the data order and random states are functions of seed and epoch); one
with another is refused, naming each difference (``model.config.layers[4].config.rate:
0.1 -> 0.2``). The number of epochs is not in it: a longer run is the same run.

The files of the epoch before stay too, and ``state.json`` keeps that epoch's state: if a
file of the newest epoch cannot be read (a truncated copy on a cloud drive), the rerun
resumes from the epoch before, saying so; if neither can be read, it is refused.
"""

import json
import math
import os
import re
import zipfile
import zlib
from pathlib import Path

import h5py
import keras
import numpy as np

from mlp_tutorial.display import say, shown_path
from mlp_tutorial.records import write_record

# What reading a cut-short or damaged .weights.h5 or .npz file raises (h5py: OSError).
UNREADABLE = (OSError, ValueError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile)


def model_config(model):
    """The model's Keras config as JSON data (``deserialize_keras_object`` rebuilds it)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # the optimizer and loss: the recipe's business
    return json.loads(json.dumps(config))


def run_fingerprint(model, dataset, settings):
    """What a backup must match to be resumed: precision, data, ``settings`` and model."""
    train, test = _digest(dataset.x_train, dataset.y_train), _digest(dataset.x_test, dataset.y_test)
    data = {"name": dataset.name, "source": dataset.source, "train": train, "test": test}
    return {  # the model last: a change of precision alters every layer in it
        "precision": model.dtype_policy.name,
        "data": data,
        "settings": settings,
        "model": _unnumbered(model_config(model)),
    }


def _digest(images, labels):
    crc = zlib.crc32(np.ascontiguousarray(images))
    return f"{len(images)} images, crc32 {zlib.crc32(np.ascontiguousarray(labels), crc):08x}"


def _unnumbered(value):
    """``value`` without the ``_N`` Keras appends to default names (``input_layer_7``,
    counted per process): a model built again is the same model."""
    if isinstance(value, dict):
        return {key: _unnumbered(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unnumbered(item) for item in value]
    return re.sub(r"_\d+$", "", value) if isinstance(value, str) else value


def differences(old, new, path=""):
    """Where two JSON values differ, as ``"path: old -> new"`` lines, depth first."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = dict.fromkeys([*old, *new])
        pairs = [(old.get(k, "(absent)"), new.get(k, "(absent)"), f"{path}.{k}") for k in keys]
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = [(a, b, f"{path}[{i}]") for i, (a, b) in enumerate(zip(old, new, strict=True))]
    else:
        return [] if old == new else [f"{path}: {_short(old)} -> {_short(new)}"]
    return [line for a, b, where in pairs for line in differences(a, b, where.lstrip("."))]


def _short(value):
    text = value if value == "(absent)" else repr(value)
    if len(text) > 40 and isinstance(value, (list, dict)):
        return f"<{len(value)} {'items' if isinstance(value, list) else 'keys'}>"
    return text if len(text) <= 40 else text[:37] + "..."


class TrainingBackup(keras.callbacks.Callback):
    """Save, after every epoch, all that an exact resume needs; restore it at the start.

    A backup in ``directory`` with another ``fingerprint`` is refused. Put it after
    ``reduce_lr`` and ``early_stopping`` in the callback list: it restores their counters
    after they reset them, and saves them after they update them.
    """

    STATE, FORMAT = "state.json", 2
    COUNTERS = {
        "reduce_lr": ("wait", "cooldown_counter", "best"),
        "early_stopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    }

    def __init__(self, directory, *, fingerprint, reduce_lr=None, early_stopping=None):
        super().__init__()
        self.directory = Path(directory)
        self.fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back
        self.watched = {"reduce_lr": reduce_lr, "early_stopping": early_stopping}
        self.state = self._read() or {"epochs_done": 0, "stopped": False, "history": {}}
        self.epochs_restored = self.state["epochs_done"]
        self.stopped = self.state["stopped"]  # a callback stopped the backed-up run early
        self.history = {k: [_decode(v) for v in vs] for k, vs in self.state["history"].items()}

    def error(self, what):
        return ValueError(
            f"`checkpoint_dir` {shown_path(self.directory)!r}: {what}. Delete that folder (or "
            "pass another checkpoint_dir) to start from the first epoch."
        )

    def _read(self):
        path = self.directory / self.STATE
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise self.error(f"its {self.STATE} cannot be read ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != self.FORMAT:
            raise self.error(f"its {self.STATE} is not a backup made by this version")
        if changed := differences(state["fingerprint"], self.fingerprint):
            shown = "; ".join(changed[:6]) + (f"; {len(changed) - 6} more" if changed[6:] else "")
            raise self.error(
                f"it holds a run with other settings, model or data (backup -> now: {shown}). "
                "To resume it, rerun with the settings it was made with"
            )
        return self._sound(state)

    def _sound(self, state):
        """``state``, or the epoch before's (kept in it) if a file of ``state`` cannot be
        read: that one's files, history and counters belong together. Refused if neither."""
        previous = state.pop("previous", None)
        if (damaged := self._damage(state)) is None:
            return state
        where, what, why = damaged
        if previous is None or self._damage(previous) is not None:
            raise self.error(f"{where} {what}{why}, and no earlier epoch's backup can be read")
        done = previous["epochs_done"]
        message = f"Skipping {where}, which {what}: resuming from the backup of epoch {done}."
        say(message)  # at the page's width, whatever the path
        return previous

    def _damage(self, state):
        """``(path shown, what is wrong, why)`` for the first of ``state``'s files that is
        missing or cannot be read in full, or None if all can."""
        for name in _files(state):
            path = self.directory / name
            if not path.is_file():
                return shown_path(path), "is missing", ""
            try:
                _read_all(path)
            except UNREADABLE as exc:
                return shown_path(path), "cannot be read", f" ({exc or type(exc).__name__})"
        return None

    def on_train_begin(self, logs=None):
        if not self.epochs_restored:
            return
        if not self.model.optimizer.built:  # so that its variables load too
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.directory / self.state["weights"])
        for key, callback in self.watched.items():
            for attr, value in self.state["counters"].get(key, {}).items():
                setattr(callback, attr, _decode(value))
        if self.state["best_weights"] is not None:
            with np.load(self.directory / self.state["best_weights"]) as best:
                weights = [best[f"arr_{i}"] for i in range(len(best.files))]
            self.watched["early_stopping"].best_weights = weights

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.directory.mkdir(parents=True, exist_ok=True)
        files = {"weights": f"epoch-{epoch + 1:04d}.weights.h5", "best_weights": None}
        self.model.save_weights(self.directory / files["weights"], overwrite=True)
        early = self.watched["early_stopping"]
        if early is not None and early.best_weights is not None:
            files["best_weights"] = f"best-{epoch + 1:04d}.npz"
            np.savez(self.directory / files["best_weights"], *early.best_weights)
        for name in filter(None, files.values()):  # on disk before the state names them
            with open(self.directory / name, "rb") as f:
                os.fsync(f.fileno())
        state = {
            "format": self.FORMAT,
            "fingerprint": self.fingerprint,
            "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            **files,
            "history": {k: [_encode(v) for v in vs] for k, vs in self.history.items()},
            "counters": {
                key: {attr: _encode(getattr(callback, attr)) for attr in self.COUNTERS[key]}
                for key, callback in self.watched.items()
                if callback is not None
            },
        }
        previous = self.state if self.state["epochs_done"] else None  # the fallback
        write_record(self.directory / self.STATE, {**state, "previous": previous})  # atomic
        self.state = state
        self._remove_files(keep={*_files(state), *_files(previous or state)})

    def _remove_files(self, keep=()):
        for pattern in ("epoch-*.weights.h5", "best-*.npz", f".{self.STATE}.*.tmp"):
            for file in self.directory.glob(pattern):
                if file.name not in keep:
                    file.unlink()

    def remove(self):
        """Delete the backup, and the folder if that leaves it empty."""
        if self.directory.is_dir():
            (self.directory / self.STATE).unlink(missing_ok=True)
            self._remove_files()
            if not any(self.directory.iterdir()):
                self.directory.rmdir()


def _files(state):
    """The names of the weights files ``state`` needs."""
    return [name for name in (state["weights"], state["best_weights"]) if name is not None]


def _read_all(path):
    """Read every array in the ``.weights.h5`` or ``.npz`` file at ``path``: a damaged one
    raises one of ``UNREADABLE`` (a truncated HDF5 file does so as it opens)."""
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            for key in arrays.files:
                arrays[key]
    else:
        with h5py.File(path, "r") as file:
            file.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)


def _encode(value):
    """A number for JSON, exactly: non-finite floats as ``{"float": "nan"}``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else {"float": repr(value)}


def _decode(value):
    return float(value["float"]) if isinstance(value, dict) else value
