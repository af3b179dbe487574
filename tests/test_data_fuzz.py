"""Fuzz the CIFAR-100 archive reader with a few hundred mutated archives.

Every case must end in one of two ways: a Dataset that passes the shape and label checks,
or an ArchiveError (a ValueError) naming the file. Never another exception, never a hang,
never code run from a pickle, never a file written outside the case's own files. Run with
``pytest -s`` to see how many cases loaded and why the others were rejected.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import os
import signal
import tarfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from cifar_archives import (
    ARCHIVE_DIR,
    archive_entries,
    file_info,
    official_dicts,
    pickle_members,
    py2_dumps,
    tar_bytes,
    write_folder,
)

from mlp_tutorial.data import ENV_VAR, ArchiveError, Dataset, load_dataset

SEED = 20240601
CASE_SECONDS = 5  # one case taking longer than this counts as a hang
MIN_CASES = 300


class _RunsCode:
    """Unpickles as ``os.system("touch <marker>")``: a tampered archive's payload."""

    def __init__(self, marker: Path):
        self.command = f"touch '{marker}'"

    def __reduce__(self):
        return os.system, (self.command,)


class Fuzzer:
    """Builds mutated archives (as bytes, or folders on disk) from one valid tiny archive.

    ``self.evil`` holds member names an unsafe reader would write outside its target
    (``../…`` relative to the working directory, and an absolute path under /tmp), with
    where they would land; the test checks none appears.
    """

    def __init__(self, root: Path, workdir: Path, rng: np.random.Generator):
        self.root, self.rng = root, rng
        self.dicts = official_dicts(n_train=20, n_test=10, seed=0)
        self.members = pickle_members(self.dicts)
        self.tar = tar_bytes(archive_entries(self.members), compression="")
        self.tar_gz = gzip.compress(self.tar, mtime=0)
        token = uuid.uuid4().hex[:12]
        self.marker = root / "markers" / "code-ran"
        names = [f"../mlp-fuzz-evil-{token}", f"../../../mlp-fuzz-evil-{token}"]
        names.append(f"/tmp/mlp-fuzz-evil-{token}")
        # name in the archive -> where an extracting reader run in workdir would write it
        self.evil = {name: Path(os.path.normpath(workdir / name)) for name in names}

    # -- helpers -----------------------------------------------------------------------

    def flip(self, blob: bytes, count: int, start: int = 0) -> bytes:
        """``blob`` with ``count`` random bytes (at offset >= start) set to random values."""
        out = bytearray(blob)
        for pos in self.rng.integers(start, len(out), size=count):
            out[pos] = int(self.rng.integers(0, 256))
        return bytes(out)

    def repack(self, members: dict[str, bytes], extra=(), compression: str = "gz") -> bytes:
        return tar_bytes([*archive_entries(members), *extra], compression)

    def structural_region(self, pickled: bytes) -> int:
        """Offset past which flips avoid the raw pixel block (they hit the pickle's
        opcodes instead: the block is most of the bytes and flips there are harmless)."""
        return 0 if self.rng.random() < 0.5 else max(0, len(pickled) - 2048)

    # -- case families: each returns (description, bytes or a folder Path) --------------

    def truncate(self):
        cut = int(self.rng.integers(0, len(self.tar_gz)))
        return f"truncate gz at {cut}", self.tar_gz[:cut]

    def flip_gz(self):
        count = int(self.rng.integers(1, 9))
        return f"flip {count} gz bytes", self.flip(self.tar_gz, count)

    def flip_tar(self):
        count = int(self.rng.integers(1, 9))
        return f"flip {count} tar bytes", gzip.compress(self.flip(self.tar, count), mtime=0)

    def flip_pickle(self):
        name = str(self.rng.choice(["train", "test", "meta"]))
        blob = self.members[name]
        count = int(self.rng.integers(1, 5))
        mutated = dict(self.members, **{name: self.flip(blob, count, self.structural_region(blob))})
        return f"flip {count} bytes of {name} pickle", self.repack(mutated)

    def truncate_pickle(self):
        name = str(self.rng.choice(["train", "test", "meta"]))
        cut = int(self.rng.integers(0, len(self.members[name])))
        mutated = dict(self.members, **{name: self.members[name][:cut]})
        return f"truncate {name} pickle at {cut}", self.repack(mutated)

    def structure(self):
        dicts = {k: dict(v) for k, v in self.dicts.items()}
        change = STRUCTURE_CHANGES[int(self.rng.integers(len(STRUCTURE_CHANGES)))]
        apply_change(dicts, change)
        return f"structure: {change[0]}", self.repack(pickle_members(dicts))

    def members_shuffle(self):
        """Missing, duplicated, linked, renamed and extra members, path-traversal names."""
        entries = list(archive_entries(self.members))
        what = MEMBER_CHANGES[int(self.rng.integers(len(MEMBER_CHANGES)))]
        entries = what(self, entries)
        compression = str(self.rng.choice(["gz", "", "bz2", "xz"]))
        return f"members: {what.__name__}/{compression or 'tar'}", tar_bytes(entries, compression)

    def other_format(self):
        options = {
            "empty": b"",
            "random bytes": self.rng.bytes(int(self.rng.integers(1, 5000))),
            "gzip of random bytes": gzip.compress(self.rng.bytes(3000)),
            "gzip of a pickle": gzip.compress(self.members["train"]),
            "bare pickle": self.members["meta"],
            "zip-like": b"PK\x03\x04" + self.rng.bytes(500),
            "valid tar, no gzip": self.tar,
        }
        key = str(self.rng.choice(sorted(options)))
        return f"format: {key}", options[key]

    def code_payload(self):
        name = str(self.rng.choice(["train", "test", "meta"]))
        dicts = {k: dict(v) for k, v in self.dicts.items()}
        key = [b"batch_label", b"filenames", b"data", b"fine_labels", b"extra"]
        dicts[name][key[int(self.rng.integers(len(key)))]] = _RunsCode(self.marker)
        return f"code payload in {name}", self.repack(pickle_members(dicts))

    def huge_claim(self):
        """A member whose header claims 0.5-8 GB but holds 60 kB: refused before reading."""
        name = f"{ARCHIVE_DIR}/{self.rng.choice(['train', 'test', 'meta'])}"
        claim = int(self.rng.integers(513 * 2**20, 8 * 2**30))
        entries = [(n, d, claim if n == name else len(d)) for n, d in archive_entries(self.members)]
        return f"{name} claims {claim:,} bytes", gzip.compress(raw_tar(entries), mtime=0)

    def crafted_pickle(self):
        """Hand-written pickles aimed at the unpickler and at our error messages."""
        key = str(self.rng.choice(sorted(CRAFTED)))
        name = str(self.rng.choice(["train", "test", "meta"]))
        return f"crafted {key} as {name}", self.repack(dict(self.members, **{name: CRAFTED[key]}))

    def folder(self):
        folder = self.root / "folders" / uuid.uuid4().hex[:8] / ARCHIVE_DIR
        members = dict(self.members)
        name = str(self.rng.choice(["train", "test", "meta"]))
        kind = str(self.rng.choice(["flip", "truncate", "delete", "valid"]))
        if kind == "flip":
            members[name] = self.flip(members[name], 4, self.structural_region(members[name]))
        elif kind == "truncate":
            members[name] = members[name][: int(self.rng.integers(0, len(members[name])))]
        elif kind == "delete":
            del members[name]
        return f"folder: {kind} {name}", write_folder(folder, members)


DROP = object()  # marks "remove this key"
NAMES = b"fine_label_names"


def _labels(values):
    return ("train", b"fine_labels", lambda batch: values)


# (description, member, key or None for the whole member, new value from the old member)
STRUCTURE_CHANGES = [
    ("data 3071 wide", "train", b"data", lambda b: np.zeros((20, 3071), np.uint8)),
    ("data HWC", "train", b"data", lambda b: np.zeros((20, 32, 32, 3), np.uint8)),
    ("data flat", "test", b"data", lambda b: np.zeros(30720, np.uint8)),
    ("data float32", "train", b"data", lambda b: b[b"data"].astype(np.float32)),
    ("data int16", "test", b"data", lambda b: b[b"data"].astype(np.int16)),
    ("data empty", "train", b"data", lambda b: np.zeros((0, 3072), np.uint8)),
    ("data list", "train", b"data", lambda b: b[b"data"].tolist()),
    ("data Fortran order", "train", b"data", lambda b: np.asfortranarray(b[b"data"])),
    ("data object dtype", "test", b"data", lambda b: b[b"data"].astype(object)),
    ("data missing", "train", b"data", DROP),
    ("data None", "test", b"data", lambda b: None),
    ("labels 100", *_labels([100] * 20)),
    ("labels -1", *_labels([-1] + [0] * 19)),
    ("labels huge", *_labels([2**70] * 20)),
    ("labels float", *_labels([0.5] * 20)),
    ("labels bytes", *_labels([b"1"] * 20)),
    ("labels nested", *_labels([[1]] * 20)),
    ("labels ragged", *_labels([[1], [1, 2]] + [0] * 18)),
    ("labels bool", *_labels([True] * 20)),
    ("labels 19", *_labels([1] * 19)),
    ("labels 21", *_labels([1] * 21)),
    ("labels ndarray", *_labels(np.arange(20) % 100)),
    ("labels dict", *_labels({1: 2})),
    ("labels missing", "test", b"fine_labels", DROP),
    ("meta 99 names", "meta", NAMES, lambda b: [b"x"] * 99),
    ("meta int names", "meta", NAMES, lambda b: list(range(100))),
    ("meta latin-1 names", "meta", NAMES, lambda b: [b"\xff\xfe"] * 100),
    ("meta str names (py3)", "meta", NAMES, lambda b: ["n"] * 100),
    ("meta empty name", "meta", NAMES, lambda b: [b""] * 100),
    ("meta missing names", "meta", NAMES, DROP),
    ("str keys (py3 pickle)", "train", None, lambda b: {k.decode(): v for k, v in b.items()}),
    ("top level list", "test", None, lambda b: [b]),
    ("top level None", "meta", None, lambda b: None),
    ("top level array", "train", None, lambda b: b[b"data"]),
]


def apply_change(dicts: dict, change) -> None:
    """Apply one STRUCTURE_CHANGES entry to the unpickled members, in place."""
    _, member, key, make = change
    if key is None:
        dicts[member] = make(dicts[member])
    elif make is DROP:
        del dicts[member][key]
    else:
        dicts[member][key] = make(dicts[member])


def missing_member(fz: Fuzzer, entries):
    del entries[int(fz.rng.integers(len(entries)))]
    return entries


def duplicate_member(fz: Fuzzer, entries):
    return [*entries, entries[int(fz.rng.integers(len(entries)))]]


def traversal_extras(fz: Fuzzer, entries):
    """Extra members whose names an extracting reader would write outside the target."""
    extra = [(name, b"pwned") for name in fz.evil]
    extra.append((f"{ARCHIVE_DIR}/../../{next(iter(fz.evil)).lstrip('./')}", b"pwned"))
    order = fz.rng.permutation(len(entries) + len(extra))
    return [[*entries, *extra][i] for i in order]


def traversal_names(fz: Fuzzer, entries):
    """The real members renamed to traversal paths: they then count as missing."""
    i = int(fz.rng.integers(len(entries)))
    name, data = entries[i]
    entries[i] = (
        str(fz.rng.choice([f"../{name}", f"/{name}", f"{name}/../x", "x/../" + name])),
        data,
    )
    return entries


def dot_slash_names(fz: Fuzzer, entries):
    """``./cifar-100-python/train``, as some tar tools write: still the same member."""
    return [(f"./{name}", data) for name, data in entries]


def link_member(fz: Fuzzer, entries):
    """A member replaced by a symlink, hard link, directory or fifo of the same name."""
    i = int(fz.rng.integers(len(entries)))
    name, _ = entries[i]
    info = tarfile.TarInfo(name)
    info.type = fz.rng.choice([tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE])
    info.linkname = str(fz.rng.choice(["/etc/passwd", "../../etc/passwd", name]))
    entries[i] = info
    return entries


MEMBER_CHANGES = [
    missing_member,
    duplicate_member,
    traversal_extras,
    traversal_names,
    dot_slash_names,
    link_member,
]


def raw_tar(entries: list[tuple[str, bytes, int]]) -> bytes:
    """An uncompressed tar whose headers claim the given sizes, whatever the data is."""
    blocks = []
    for name, data, claimed in entries:
        blocks.append(file_info(name, claimed).tobuf(format=tarfile.GNU_FORMAT))
        blocks.append(data + b"\0" * (-len(data) % 512))
    return b"".join(blocks) + b"\0" * 1024


def _deep_list(depth: int) -> bytes:
    """Pickle opcodes building a list nested ``depth`` deep (no recursion to write)."""
    return b"]" * depth + b"a" * (depth - 1)


_NAMES_KEY = b"U\x10fine_label_names"
CRAFTED = {
    "deep list": b"\x80\x02" + _deep_list(100_000) + b".",
    # meta whose 100 names are one 100,000-deep list: an error message that repr()s a
    # name would hit RecursionError.
    "deep names": b"\x80\x02}"
    + _NAMES_KEY
    + b"](" + _deep_list(100_000) + b"q\x00" + b"h\x00" * 99 + b"es.",
    "binstring claims 2 GB": b"\x80\x02T\xff\xff\xff\x7fabc.",
    "extension code": b"\x80\x02\x82\x01.",
    "persistent id": b"P0\n.",
    "stack_global os.system": b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x04true\x85R.",
    "inst os.system": b"(S'true'\nios\nsystem\n.",
    "builtins.getattr": b"\x80\x02cbuiltins\ngetattr\n.",
    "out-of-band buffer": b"\x80\x05\x97.",
    "ndarray of 2**60 bytes": b"\x80\x02cnumpy\nndarray\n\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x10"
    b"\x85\x85R.",
    "object-dtype array": py2_dumps({b"data": np.array([None, 1], dtype=object)}),
    "unhashable key": b"\x80\x02}]]s.",
    "empty": b"",
    "stop only": b".",
}  # fmt: skip


FAMILIES = {  # family: number of cases
    "truncate": 50,
    "flip_gz": 45,
    "flip_tar": 50,
    "flip_pickle": 60,
    "truncate_pickle": 25,
    "structure": 60,
    "members_shuffle": 45,
    "other_format": 20,
    "code_payload": 15,
    "huge_claim": 6,
    "crafted_pickle": 30,
    "folder": 20,
}


def check_dataset(ds: Dataset) -> None:
    """What every successfully loaded case must satisfy."""
    assert isinstance(ds, Dataset) and ds.name == "cifar100" and ds.num_classes == 100
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:] == (32, 32, 3)
        assert y.dtype == np.int64 and y.shape == (len(x),) and len(x) > 0
        assert 0 <= y.min() and y.max() < 100


def snapshot(folder: Path, skip: Path) -> set[str]:
    """Every path under ``folder`` except under ``skip``."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        found.update(os.path.join(dirpath, name) for name in [*dirnames, *filenames])
    return found


class CaseHung(BaseException):
    """Raised by the alarm. A BaseException, so the loader's ``except Exception`` clauses
    (which turn any parsing failure into ArchiveError) cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: int, description: str):
    """Turn a hang into a CaseHung error that fails the test, naming the case."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise CaseHung(f"{description}: took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_fuzzed_archives_load_or_raise_archive_error(tmp_path, monkeypatch):
    """~400 seeded mutations of a valid tiny archive; see the module docstring."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    workdir = tmp_path / "cwd"  # relative member names would land here or above
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    (tmp_path / "markers").mkdir()
    watched = tmp_path.parent
    before = snapshot(watched, skip=tmp_path)

    rng = np.random.default_rng(SEED)
    fuzzer = Fuzzer(tmp_path, workdir, rng)
    outcomes: collections.Counter[str] = collections.Counter()
    written: set[Path] = set()
    slowest = (0.0, "")
    start = time.monotonic()
    for family, count in FAMILIES.items():
        for i in range(count):
            description, payload = getattr(fuzzer, family)()
            if isinstance(payload, bytes):
                path = tmp_path / "cases" / f"{family}-{i:03d}.tar.gz"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(payload)
                written.add(path)
            else:
                path = payload
            case_start = time.monotonic()
            try:
                with time_limit(CASE_SECONDS, description):
                    ds = load_dataset("cifar100", path=path)
            except ArchiveError as exc:
                assert isinstance(exc, ValueError)
                assert str(path) in str(exc), f"{description}: error does not name the file"
                outcomes[f"rejected: {exc.reason}"] += 1
            except Exception as exc:  # the bug this test hunts for
                pytest.fail(f"{description}: {type(exc).__name__}: {exc}")
            else:
                check_dataset(ds)
                outcomes["loaded"] += 1
            slowest = max(slowest, (time.monotonic() - case_start, description))
    elapsed = time.monotonic() - start

    total = sum(outcomes.values())
    print(
        f"\nfuzzed {total} archives in {elapsed:.1f} s (slowest: {slowest[1]}, {slowest[0]:.2f} s):"
    )
    for outcome, n in sorted(outcomes.items(), key=lambda item: -item[1]):
        print(f"  {n:4d}  {outcome}")

    assert total >= MIN_CASES
    assert outcomes["loaded"] > 0 and outcomes["rejected: refused global"] > 0
    assert not fuzzer.marker.exists(), "a pickle ran code"
    assert not any(path.exists() for path in fuzzer.evil.values()), "wrote outside tmp_path"
    assert snapshot(watched, skip=tmp_path) == before, "new files beside tmp_path"
    assert list(workdir.iterdir()) == [] and list((tmp_path / "markers").iterdir()) == []
    assert {p.name for p in tmp_path.iterdir()} == {"cwd", "markers", "cases", "folders"}
    assert {p for p in (tmp_path / "cases").iterdir()} == written
    assert elapsed < 30 and slowest[0] < CASE_SECONDS
