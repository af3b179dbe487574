"""Resuming training after an interruption: the ``checkpoint_dir`` backup.

With ``checkpoint_dir``, :class:`TrainingBackup` saves after every epoch everything an
exact continuation needs, and a rerun with the same ``checkpoint_dir`` and settings
continues with the next epoch:

* ``epoch-NNNN.weights.h5``: the model and optimizer variables (``model.save_weights``;
  this includes the step counter, Adam's moments and the current learning rate);
* ``best-NNNN.npz``: the weights early stopping would restore (its ``best_weights``);
* ``state.json``, written last and atomically (``records.write_record``), so it is the
  commit point: the number of epochs done, the per-epoch history of all of them, the
  counters of ``ReduceLROnPlateau`` and ``EarlyStopping`` (``wait``, ``best``,
  ``cooldown_counter``, ``best_epoch``...), whether early stopping ended training, the
  names of the two files above, and a fingerprint of the run's settings and data.

What is *not* saved, because it is re-derived: the data order and the random-layer
states (functions of ``(seed, epoch)``, see above). A rerun whose fingerprint differs
(another model, dataset, batch size, learning rate, seed...) is refused with a message
naming the differences. The returned history covers all epochs (restored ones first);
the wall time and images/s cover only the epochs run in this call. After a successful
run (evaluation and record included) the backup files are deleted, and the folder too
if nothing else is in it. Keras' ``BackupAndRestore`` is not used: it keeps weights and
epoch in two files written one after the other, knows nothing of the history or the
callbacks' counters, and deletes the whole folder when training ends.

Not covered: the state of callbacks passed as ``extra_callbacks`` (they see the true
epoch numbers, but start afresh); a kill while an epoch's files are being written loses
that epoch (the rerun repeats it, with the same result); and a rerun on another backend
or machine resumes, but is only as exact as the determinism above (not at all across
backends).
"""

import json
import math
import os
from pathlib import Path

import keras
import numpy as np

from mlp_tutorial.records import write_record


class TrainingBackup(keras.callbacks.Callback):
    """Save, after every epoch, all that an exact resume needs; restore it at the start.

    See the module docstring for what is saved and why. Put it in the callback list
    after ``ReduceLROnPlateau`` and ``EarlyStopping``: it must restore their counters
    after they reset them (``on_train_begin``) and save them after they update them
    (``on_epoch_end``).

    Args:
        directory: the backup folder (created at the first save).
        fingerprint: a JSON-able dict of the settings and data this backup belongs to;
            a backup with another fingerprint is refused.
        reduce_lr, early_stopping: the run's callbacks whose counters to save, or None.
    """

    STATE = "state.json"
    FORMAT = 1
    _COUNTERS = {
        "reduce_lr": ("wait", "cooldown_counter", "best"),
        "early_stopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    }

    def __init__(self, directory, *, fingerprint, reduce_lr=None, early_stopping=None):
        super().__init__()
        self.directory = Path(directory)
        self.fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back
        self.watched = {"reduce_lr": reduce_lr, "early_stopping": early_stopping}
        self.state = self._read()
        self.history = self._decode_history(self.state["history"]) if self.state else {}
        self._saved_best = None

    @property
    def epochs_done(self):
        """Epochs the backup holds (0 without one)."""
        return self.state["epochs_done"] if self.state else 0

    @property
    def stopped(self):
        """Whether early stopping ended the backed-up run."""
        return bool(self.state and self.state["stopped"])

    def error(self, what):
        """A ValueError about this backup folder that says how to start over."""
        return ValueError(
            f"`checkpoint_dir` {str(self.directory)!r}: {what}. Delete that folder (or pass "
            "another checkpoint_dir) to start from the first epoch."
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
        saved = state.get("fingerprint", {})
        changed = [
            f"{key}: {saved.get(key)!r} in the backup, {value!r} now"
            for key, value in self.fingerprint.items()
            if saved.get(key) != value
        ]
        if changed:
            raise self.error(
                "it holds the backup of a run with other settings or data ("
                + "; ".join(changed)
                + "). To resume it, rerun with the settings it was made with"
            )
        for name in (state["weights"], state["best_weights"]):
            if name is not None and not (self.directory / name).is_file():
                raise self.error(f"{name}, named by its {self.STATE}, is missing")
        return state

    # -- restoring -------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if not self.state:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)  # so its variables load too
        self.model.load_weights(self.directory / self.state["weights"])
        for key, callback in self.watched.items():
            if callback is not None:
                for attr, value in self.state["counters"][key].items():
                    setattr(callback, attr, _decode_number(value))
        early = self.watched["early_stopping"]
        if early is not None and self.state["best_weights"] is not None:
            with np.load(self.directory / self.state["best_weights"]) as stored:
                early.best_weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
            self._saved_best = (early.best_weights, self.state["best_weights"])

    # -- saving ----------------------------------------------------------------------

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        history = {
            key: [v if math.isfinite(v) else _encode_number(v) for v in values]
            for key, values in self.history.items()
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{epoch + 1:04d}.weights.h5"
        self.model.save_weights(self.directory / weights, overwrite=True)
        _fsync(self.directory / weights)
        best = self._save_best_weights()
        counters = {
            key: {attr: _encode_number(getattr(callback, attr)) for attr in self._COUNTERS[key]}
            for key, callback in self.watched.items()
            if callback is not None
        }
        state = {
            "format": self.FORMAT,
            "fingerprint": self.fingerprint,
            "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "weights": weights,
            "best_weights": best,
            "history": history,
            "counters": counters,
        }
        write_record(self.directory / self.STATE, state)  # atomic: the commit point
        self.state = state
        self._remove_files(keep={weights, best})

    def _save_best_weights(self):
        """Write early stopping's best weights when they changed; return the file name."""
        early = self.watched["early_stopping"]
        if early is None or early.best_weights is None:
            return None
        if self._saved_best is not None and self._saved_best[0] is early.best_weights:
            return self._saved_best[1]
        name = f"best-{early.best_epoch + 1:04d}.npz"
        with open(self.directory / name, "wb") as f:
            np.savez(f, *early.best_weights)
            f.flush()
            os.fsync(f.fileno())
        self._saved_best = (early.best_weights, name)
        return name

    def _remove_files(self, keep=()):
        for pattern in ("epoch-*.weights.h5", "best-*.npz"):
            for file in self.directory.glob(pattern):
                if file.name not in keep:
                    file.unlink(missing_ok=True)

    def remove(self):
        """Delete the backup, and the folder if that leaves it empty."""
        if not self.directory.is_dir():
            return
        (self.directory / self.STATE).unlink(missing_ok=True)
        self._remove_files()
        for leftover in self.directory.glob(f".{self.STATE}.*.tmp"):
            leftover.unlink(missing_ok=True)
        try:
            self.directory.rmdir()
        except OSError:
            pass  # the folder holds other files: leave them and it alone

    @staticmethod
    def _decode_history(history):
        return {key: [float(_decode_number(v)) for v in values] for key, values in history.items()}


def _fsync(path):
    """Flush ``path`` to disk, so that the state file never names a file still in cache."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _encode_number(value):
    """A number for JSON, exactly: floats as ``{"float": hex}``, so NaN and inf survive."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return value if value is None else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return {"float": float(value).hex()}


def _decode_number(value):
    if isinstance(value, dict):
        return float.fromhex(value["float"])
    return value
