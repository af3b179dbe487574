"""The loader on the real CIFAR-100 archives in ``../shared/data``, and a short training run.

``cifar-100-python.tar.gz`` is the full data set (168 MB, read once per session);
``cifar-100-python.partial.tar.gz`` holds the first 486 train and 916 test images of the
official files. Both lie beside the checkout in CI; elsewhere these tests are skipped.
"""

from __future__ import annotations

import dataclasses
import pickle
import pickletools
import tarfile

import numpy as np
import pytest
from conftest import CIFAR100

from mlp_tutorial import data
from mlp_tutorial.data import CIFAR100_FINE_LABELS, load_dataset

FULL = CIFAR100
SHARED_DATA = FULL.parent
PARTIAL = SHARED_DATA / "cifar-100-python.partial.tar.gz"

pytestmark = pytest.mark.skipif(
    not (FULL.is_file() and PARTIAL.is_file()),
    reason=f"the real CIFAR-100 archives are not in {SHARED_DATA} (CI has them there)",
)


@pytest.fixture(autouse=True)
def _no_env_archive(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def full(cifar100_full):
    return cifar100_full  # conftest's: one read per process, shared with other files


@pytest.fixture(scope="module")
def partial():
    return load_dataset("cifar100", path=PARTIAL)


@pytest.fixture(scope="module")
def raw_full():
    """The full archive's unpickled train, test and meta dicts (bytes keys), read with the
    package's restricted unpickler: the loader does not return the coarse labels."""
    return {
        member: data._unpickle(where, blob)
        for member, (where, blob) in data._read_archive(FULL).items()
    }


def test_full_archive_shapes_dtypes_and_source(full):
    assert full.name == "cifar100"
    assert full.x_train.shape == (50_000, 32, 32, 3) and full.x_train.dtype == np.uint8
    assert full.x_test.shape == (10_000, 32, 32, 3) and full.x_test.dtype == np.uint8
    assert full.y_train.shape == (50_000,) and full.y_train.dtype == np.int64
    assert full.y_test.shape == (10_000,) and full.y_test.dtype == np.int64
    assert full.source == "CIFAR-100: 50,000 train / 10,000 test images, local copy"


def test_full_archive_has_500_train_and_100_test_images_per_class(full):
    assert np.bincount(full.y_train, minlength=100).tolist() == [500] * 100
    assert np.bincount(full.y_test, minlength=100).tolist() == [100] * 100


def test_full_archive_class_names_are_the_official_100_in_order(full):
    """The names come from the archive's meta file; they must be the official list."""
    assert full.class_names == CIFAR100_FINE_LABELS
    assert len(set(full.class_names)) == 100


def test_full_archive_coarse_labels_group_five_fine_classes_each(full, raw_full):
    """Coarse labels lie in 0-19, and each of the 20 superclasses holds exactly 5 fine
    classes, every fine class in one superclass (the official hierarchy): e.g. the five
    trees, and apple under fruit and vegetables."""
    coarse_names = [name.decode() for name in raw_full["meta"][b"coarse_label_names"]]
    assert len(coarse_names) == 20
    for split in ("train", "test"):
        fine = np.asarray(raw_full[split][b"fine_labels"])
        coarse = np.asarray(raw_full[split][b"coarse_labels"])
        np.testing.assert_array_equal(fine, getattr(full, f"y_{split}"))
        assert coarse.min() == 0 and coarse.max() == 19
        pairs = np.unique(np.stack([fine, coarse]), axis=1)
        assert pairs.shape[1] == 100  # each fine class has one superclass
        assert np.bincount(pairs[1], minlength=20).tolist() == [5] * 20
    superclass = dict(pairs.T.tolist())
    trees = {n for n in CIFAR100_FINE_LABELS if n.endswith("_tree")}
    assert {coarse_names[superclass[CIFAR100_FINE_LABELS.index(n)]] for n in trees} == {"trees"}
    assert coarse_names[superclass[CIFAR100_FINE_LABELS.index("apple")]] == "fruit_and_vegetables"


def test_full_archive_starts_with_the_official_images_of_the_partial_one(full, partial):
    """The partial archive holds official bytes: the full one must agree on them."""
    assert (len(partial.y_train), len(partial.y_test)) == (486, 916)
    np.testing.assert_array_equal(full.x_train[:486], partial.x_train)
    np.testing.assert_array_equal(full.y_train[:486], partial.y_train)
    np.testing.assert_array_equal(full.x_test[:916], partial.x_test)
    np.testing.assert_array_equal(full.y_test[:916], partial.y_test)
    assert partial.class_names == full.class_names


def test_partial_archive_is_marked_partial(partial):
    """A sample must never pass for the full set on a run card; its first training labels
    are the official file's (19 cattle, 29 dinosaur, 0 apple)."""
    assert partial.source == (
        "CIFAR-100: 486 train / 916 test images, PARTIAL local copy (1,402 of the 60,000 images)"
    )
    assert partial.y_train[:3].tolist() == [19, 29, 0]
    assert partial.x_train.min() == 0 and partial.x_train.max() == 255


def test_official_pickles_need_only_the_admitted_globals():
    """The restricted unpickler admits what the real files use, and gives the pixels an
    unrestricted load of the (trusted) real file gives."""
    with tarfile.open(PARTIAL) as tar:
        raw = {m: tar.extractfile(f"cifar-100-python/{m}").read() for m in ("train", "meta")}
    used = {arg for op, arg, _ in pickletools.genops(raw["train"]) if "GLOBAL" in op.name}
    assert used == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    plain = pickle.loads(raw["train"], encoding="bytes")
    ours = data._unpickle("train", raw["train"])
    np.testing.assert_array_equal(ours[b"data"], plain[b"data"])
    assert ours[b"fine_labels"] == plain[b"fine_labels"]


@pytest.mark.backend
def test_training_on_a_balanced_cifar100_subset_lowers_the_loss():
    """A tiny Mixer on 400 real CIFAR-100 images (4 per class): the training loss falls
    in each of three epochs, from near ln(100), the loss of a uniform guess. Only 1,000
    test images are evaluated, and there is no augmentation: both would only cost time."""
    from mlp_tutorial import build_model, run_experiment, set_seed

    dataset = load_dataset("cifar100", path=FULL, train_limit=400)
    assert np.bincount(dataset.y_train, minlength=100).tolist() == [4] * 100
    dataset = dataclasses.replace(
        dataset, x_test=dataset.x_test[:1000], y_test=dataset.y_test[:1000]
    )
    set_seed(0)
    model = build_model(
        "mixer", image_size=32, patch_size=8, embedding_dim=32, num_blocks=1, augmentation="none"
    )
    result = run_experiment(
        model, dataset, epochs=3, batch_size=40, learning_rate=3e-3, weight_decay=1e-4
    )
    loss = result.history["loss"]
    assert len(loss) == 3 and abs(loss[0] - np.log(100)) < 0.5, loss
    assert loss[2] < loss[1] < loss[0], loss
