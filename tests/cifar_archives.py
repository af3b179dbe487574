"""Tiny CIFAR-100 archives in the official python format, for the data tests.

The official files are Python 2 pickles at protocol 2: every Python 2 ``str`` (dict keys,
file names, the raw pixel buffer) is a SHORT_BINSTRING/BINSTRING opcode, which Python 3
reads back as ``bytes`` with ``encoding="bytes"``, and numpy arrays are rebuilt through
``numpy.core.multiarray._reconstruct``. Python 3's own pickler writes ``bytes`` at protocol
2 as calls to ``_codecs.encode`` instead, a global the real files never use. So
:class:`Py2Pickler` writes bytes the Python 2 way and, by default, names ``_reconstruct``
under ``numpy.core`` as the real file does: the generated pickles then reference exactly
the real file's three globals.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from mlp_tutorial.data import CIFAR100_FINE_LABELS

MEMBER_NAMES = ("train", "test", "meta")  # the official archive's member order
ARCHIVE_DIR = "cifar-100-python"

COARSE_LABELS = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)  # fmt: skip

_RECONSTRUCT = np.empty(0).__reduce__()[0]


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes ``bytes`` as Python 2 ``str`` opcodes.

    ``legacy_numpy=True`` names numpy's ``_reconstruct`` ``numpy.core.multiarray`` (as the
    official files, written with numpy 1.x, do); False keeps numpy 2's ``numpy._core``.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file, *, legacy_numpy: bool = True):
        super().__init__(file, protocol=2)
        self.legacy_numpy = legacy_numpy

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None) -> None:
        if obj is _RECONSTRUCT and self.legacy_numpy:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def py2_dumps(obj, *, legacy_numpy: bool = True) -> bytes:
    """``obj`` pickled the way Python 2 wrote the official CIFAR files."""
    buffer = io.BytesIO()
    Py2Pickler(buffer, legacy_numpy=legacy_numpy).dump(obj)
    return buffer.getvalue()


def planes_to_rows(images_hwc: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 32, 32, 3)`` images as official rows ``(N, 3072)``.

    Spelled out from the format description rather than with a transpose: each row is
    the 1024 red values of the image in row-major order, then the 1024 green, then blue.
    """
    return np.stack(
        [
            np.concatenate([img[:, :, c].reshape(1024) for c in range(3)])
            for img in np.asarray(images_hwc, dtype=np.uint8)
        ]
    )


def make_batch(n: int, rng: np.random.Generator, *, split: str = "train") -> dict:
    """A batch dict like the official one: bytes keys, uint8 data (n, 3072), int labels."""
    fine = rng.integers(0, 100, size=n)
    return {
        b"filenames": [f"image_{split}_{i:05d}.png".encode() for i in range(n)],
        b"batch_label": b"training batch 1 of 1" if split == "train" else b"testing batch 1 of 1",
        b"fine_labels": [int(v) for v in fine],
        b"coarse_labels": [int(v) % 20 for v in fine],
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
    }


def make_meta(names: Iterable[str] = CIFAR100_FINE_LABELS) -> dict:
    """The meta dict: fine and coarse class names as bytes."""
    return {
        b"fine_label_names": [name.encode() for name in names],
        b"coarse_label_names": [name.encode() for name in COARSE_LABELS],
    }


def official_dicts(n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, dict]:
    """Unpickled contents ``{"train": batch, "test": batch, "meta": meta}``."""
    rng = np.random.default_rng(seed)
    return {
        "train": make_batch(n_train, rng, split="train"),
        "test": make_batch(n_test, rng, split="test"),
        "meta": make_meta(),
    }


def pickle_members(dicts: Mapping[str, object], *, legacy_numpy: bool = True) -> dict:
    """``{member: pickle bytes}`` for ``{member: object}``."""
    return {name: py2_dumps(obj, legacy_numpy=legacy_numpy) for name, obj in dicts.items()}


def official_members(n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, bytes]:
    """Pickled train, test and meta of a tiny random CIFAR-100 lookalike."""
    return pickle_members(official_dicts(n_train, n_test, seed))


def file_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 1_300_000_000
    return info


def tar_bytes(
    entries: Iterable[tuple[str, bytes] | tarfile.TarInfo], compression: str = "gz"
) -> bytes:
    """A tar archive of ``(name, bytes)`` files and bare TarInfo entries (links, dirs)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                tar.addfile(file_info(name, len(data)), io.BytesIO(data))
    return buffer.getvalue()


def archive_entries(members: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """``cifar-100-python/<member>`` entries in the official order."""
    return [(f"{ARCHIVE_DIR}/{name}", members[name]) for name in MEMBER_NAMES if name in members]


def write_archive(path: Path, members: Mapping[str, bytes], compression: str = "gz") -> Path:
    """Write ``cifar-100-python.tar.gz``-style archive at ``path``; return ``path``."""
    path.write_bytes(tar_bytes(archive_entries(members), compression))
    return path


def write_folder(folder: Path, members: Mapping[str, bytes]) -> Path:
    """Write the members as files into ``folder`` (created); return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in members.items():
        (folder / name).write_bytes(data)
    return folder
