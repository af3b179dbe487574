"""save_trained / load_trained: a saved model comes back with its record's test metrics and
history and no training; truncated, tampered, undownloadable or wrong-hash files are refused.

The model is the tiny gMLP of the training tests (conftest's SMALL_MODEL), trained for one
epoch on 200 offline images; downloads come from a ``file://`` folder or a stub, never
from the network.
"""

import dataclasses
import hashlib
import json
import re
import shutil
import zipfile

import keras
import numpy as np
import pytest
from conftest import REPO, SMALL_MODEL

from mlp_tutorial import build_model, run_experiment, set_seed
from mlp_tutorial import remote as remote_module
from mlp_tutorial.checks import ParameterError
from mlp_tutorial.pretrained import load_trained, save_trained
from mlp_tutorial.recipe import get_recipe
from mlp_tutorial.remote import RESULTS_URL, cache_folder

pytestmark = pytest.mark.backend


def train_and_save(dataset, folder, recipe="example"):
    """One epoch of the tiny gMLP, its record written as a chapter does and the model saved
    beside it: ``(trained model, run_experiment's Result, results folder)``."""
    set_seed(3)
    augmentation = get_recipe(recipe).augmentation
    settings = dict(SMALL_MODEL, augmentation=augmentation)
    model = build_model("gmlp", num_classes=dataset.num_classes, **settings)
    config = dict(model="gmlp", **settings, epochs=1, recipe=recipe)
    result = run_experiment(
        model, dataset, epochs=1, batch_size=20, seed=3, recipe=recipe,
        results_path=folder / "gmlp.json", config=config,
    )  # fmt: skip
    save_trained(model, folder / "gmlp.json")
    return model, result, folder


@pytest.fixture(scope="module")
def saved_run(dataset, tmp_path_factory):
    return train_and_save(dataset, tmp_path_factory.mktemp("results"))


def forbid_training(monkeypatch):
    """From now on, make ``fit``, and a download, fail the test if anything calls them."""

    def refuse(*args, **kwargs):
        raise AssertionError("fit or get_file was called")

    monkeypatch.setattr(keras.Model, "fit", refuse)
    monkeypatch.setattr(keras.utils, "get_file", refuse)


@pytest.fixture
def no_training(monkeypatch):
    forbid_training(monkeypatch)


@pytest.fixture
def no_loading(monkeypatch):
    """Make ``keras.saving.load_model`` fail the test: a refusal must come before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("load_model was called")

    monkeypatch.setattr(keras.saving, "load_model", refuse)


def copy_results(saved_run, folder, files=("gmlp.json", "gmlp.keras")):
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy(saved_run[2] / name, folder / name)
    return folder


def rewrite_config(path, change):
    """Rewrite the ``.keras`` zip at ``path`` with ``change(config)`` applied to config.json."""
    with zipfile.ZipFile(path) as archive:
        members = [(item, archive.read(item)) for item in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for item, data in members:
            if item.filename == "config.json":
                config = json.loads(data)
                change(config)
                data = json.dumps(config)
            archive.writestr(item, data)


def entries(config, class_name):
    """Every dict in ``config`` whose class_name is ``class_name``."""
    if isinstance(config, dict):
        if config.get("class_name") == class_name:
            yield config
        config = list(config.values())
    for value in config if isinstance(config, list) else []:
        yield from entries(value, class_name)


def test_results_url_is_the_configured_repository(repository):
    """RESULTS_URL is _config.yml's repository and branch, raw, in results/."""
    owner_name = repository.url.removeprefix("https://github.com/")
    expected = f"https://raw.githubusercontent.com/{owner_name}/{repository.branch}/results"
    assert RESULTS_URL == expected


def test_save_trained_records_the_file(saved_run):
    _, _, folder = saved_run
    record = json.loads((folder / "gmlp.json").read_text(encoding="utf-8"))
    data = (folder / "gmlp.keras").read_bytes()
    assert record["model_file"] == {
        "name": "gmlp.keras",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert record["test"]["top1"] == saved_run[1].test_top1  # the rest of the record is kept


def test_load_reproduces_the_saved_run_without_training(saved_run, dataset, no_training):
    trained, result, folder = saved_run
    model, loaded = load_trained("gmlp", dataset=dataset, results_dir=folder)
    assert loaded.test_top1 == pytest.approx(result.test_top1, abs=1e-6)
    assert loaded.test_top5 == pytest.approx(result.test_top5, abs=1e-6)
    assert loaded.test_loss == pytest.approx(result.test_loss, rel=1e-5)
    assert loaded.history == result.history and loaded.epochs_run == 1
    assert loaded.train_time_s == result.train_time_s > 0
    assert loaded.num_params == result.num_params == model.count_params()
    images = dataset.x_test[:20]
    logits = model.predict(images, verbose=0)  # the same weights; XLA may round differently
    np.testing.assert_allclose(logits, trained.predict(images, verbose=0), atol=1e-5)


def test_settings_other_than_the_trained_ones_are_refused(saved_run, dataset, no_loading):
    """A chapter whose settings differ from the record's would draw its figures for a model
    it did not load; where files are and whether to train are not compared."""
    config = json.loads((saved_run[2] / "gmlp.json").read_text(encoding="utf-8"))["config"]
    changed = dict(config, epochs=7)
    with pytest.raises(ParameterError, match=r"`epochs`=7, but the model of gmlp\.json"):
        load_trained("gmlp", dataset=dataset, results_dir=saved_run[2], config=changed)
    same = dict(config, train=False, results_dir="elsewhere", checkpoint_dir=None)
    with pytest.raises(AssertionError, match="load_model"):  # passed the check: loading
        load_trained("gmlp", dataset=dataset, results_dir=saved_run[2], config=same)


def test_a_smoothed_one_hot_model_reloads(dataset, tmp_path, monkeypatch):
    """A cosine schedule and smoothed one-hot labels: tested with the record's recipe."""
    _, result, folder = train_and_save(dataset, tmp_path, recipe="+label_smoothing")
    forbid_training(monkeypatch)
    _, loaded = load_trained("gmlp", dataset=dataset, results_dir=folder)
    assert loaded.test_top1 == pytest.approx(result.test_top1, abs=1e-6)
    assert loaded.test_loss == pytest.approx(result.test_loss, rel=1e-5)


def test_an_uncompiled_model_is_compiled_for_the_test(saved_run, dataset, tmp_path, no_training):
    """Saved without its compile config, the model is tested with the record's recipe."""
    folder = copy_results(saved_run, tmp_path / "results")
    rewrite_config(folder / "gmlp.keras", lambda config: config.pop("compile_config"))
    model, loaded = load_trained("gmlp", dataset=dataset, results_dir=folder)
    assert model.compiled
    assert loaded.test_top1 == pytest.approx(saved_run[1].test_top1, abs=1e-6)
    assert loaded.test_loss == pytest.approx(saved_run[1].test_loss, rel=1e-5)


def test_a_truncated_file_is_refused(saved_run, dataset, tmp_path, no_loading):
    folder = copy_results(saved_run, tmp_path / "results")
    path = folder / "gmlp.keras"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a whole .keras archive")):
        load_trained("gmlp", dataset=dataset, results_dir=folder)


def foreign_class(config):
    block = next(entries(config, "GMLPBlock"))
    block.update(module="evil.payload", class_name="Payload", registered_name="evil>Payload")


def keras_module_foreign_name(config):
    block = next(entries(config, "Dense"))
    block.update(class_name="Payload", registered_name="evil>Payload")


def lambda_marker(config):
    next(entries(config, "__keras_tensor__")).update(class_name="__lambda__")


@pytest.mark.parametrize("tamper", [foreign_class, keras_module_foreign_name, lambda_marker])
def test_a_tampered_config_is_refused(saved_run, dataset, tmp_path, no_loading, tamper):
    folder = copy_results(saved_run, tmp_path / "results")
    rewrite_config(folder / "gmlp.keras", tamper)
    with pytest.raises(ValueError, match=r"names the class '(Payload|__lambda__)'.*not loaded"):
        load_trained("gmlp", dataset=dataset, results_dir=folder)


@pytest.mark.parametrize("present", [(), ("gmlp.json",)])
def test_a_failed_download_says_where_and_what_to_do(dataset, tmp_path, monkeypatch, present):
    folder = tmp_path / "results"
    folder.mkdir()
    for name in present:  # a record without its model: the model's download fails
        (folder / name).write_text(json.dumps({"model_file": {"sha256": "0" * 64}}))

    def offline(filename, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    missing = "gmlp.keras" if present else "gmlp.json"
    url = re.escape(f"{RESULTS_URL}/{missing}")
    with pytest.raises(FileNotFoundError, match=rf"{url}.*`train = True`.*by hand into"):
        load_trained("gmlp", dataset=dataset, results_dir=folder)


@pytest.fixture
def remote(saved_run, tmp_path, monkeypatch):
    """A copy of the saved run served at a ``file://`` $MLP_TUTORIAL_RESULTS_URL, with a
    Keras home of its own for the downloads."""
    folder = copy_results(saved_run, tmp_path / "remote")
    monkeypatch.setenv("MLP_TUTORIAL_RESULTS_URL", folder.as_uri())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return folder


def test_a_download_is_used_when_the_files_are_not_here(remote, saved_run, dataset, tmp_path):
    """From $MLP_TUTORIAL_RESULTS_URL into the cache; the named folder is never written."""
    local = tmp_path / "results"
    _, loaded = load_trained("gmlp", dataset=dataset, results_dir=local)
    cache = cache_folder(remote.as_uri())
    assert cache.is_relative_to(tmp_path / "keras-home")
    assert (cache / "gmlp.keras").read_bytes() == (remote / "gmlp.keras").read_bytes()
    assert loaded.test_top1 == pytest.approx(saved_run[1].test_top1, abs=1e-6)
    assert not local.exists()


def test_a_downloaded_record_is_fetched_again_the_model_is_not(remote, dataset, monkeypatch):
    """A record can change upstream and has no hash to check: it is never taken from the
    cache. A model is, as long as its hash is the record's."""
    load_trained("gmlp", dataset=dataset, results_dir=remote.parent / "nowhere")
    fetched = []
    get_file = keras.utils.get_file

    def counting(filename, origin, **kwargs):
        fetched.append((filename, kwargs["force_download"]))
        return get_file(filename, origin, **kwargs)

    monkeypatch.setattr(keras.utils, "get_file", counting)
    cache = cache_folder(remote.as_uri())
    stamp = (cache / "gmlp.keras").stat().st_mtime_ns
    load_trained("gmlp", dataset=dataset, results_dir=remote.parent / "nowhere")
    assert fetched == [("gmlp.json", True), ("gmlp.keras", False)]
    assert (cache / "gmlp.keras").stat().st_mtime_ns == stamp  # not downloaded again


def test_a_download_of_the_wrong_hash_is_refused_and_removed(remote, dataset, tmp_path):
    with open(remote / "gmlp.keras", "ab") as file:
        file.write(b"\0")  # still a loadable zip, but not the recorded file
    url = re.escape(f"{remote.as_uri()}/gmlp.keras")
    with pytest.raises(FileNotFoundError, match=rf"{url} \(.*hash does not match"):
        load_trained("gmlp", dataset=dataset, results_dir=tmp_path / "results")
    cache = cache_folder(remote.as_uri())
    assert (cache / "gmlp.json").exists() and not (cache / "gmlp.keras").exists()


def test_the_download_base_defaults_to_the_repository_and_follows_the_variable(monkeypatch):
    monkeypatch.delenv("MLP_TUTORIAL_RESULTS_URL", raising=False)
    assert remote_module.results_url() == RESULTS_URL
    monkeypatch.setenv("MLP_TUTORIAL_RESULTS_URL", "http://127.0.0.1:8000/fork/results/")
    assert remote_module.results_url() == "http://127.0.0.1:8000/fork/results"


def test_a_loaded_model_prints_the_epoch_log_that_its_training_printed(
    dataset, tmp_path, capsys, monkeypatch
):
    """A chapter run with `train = False` shows how the model it loads was trained: the
    lines come from the record, and are those that `run_experiment` printed."""
    epoch_line = re.compile(r"^\s*(epoch\s+loss\s|\d+/\d+\s)")
    train_and_save(dataset, tmp_path)
    trained = [line for line in capsys.readouterr().out.splitlines() if epoch_line.match(line)]
    forbid_training(monkeypatch)
    load_trained("gmlp", dataset=dataset, results_dir=tmp_path)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "gmlp's training, as its record logged it:"
    assert len(trained) == 2 and printed[1:3] == trained  # the header and the one epoch
    assert printed[3] == "loaded gmlp.keras, tested again:"


def test_another_dataset_or_a_path_as_name_is_refused(saved_run, dataset):
    other = dataclasses.replace(dataset, name="cifar100")
    with pytest.raises(ValueError, match="trained on 'offline'.*`train = True`"):
        load_trained("gmlp", dataset=other, results_dir=saved_run[2])
    with pytest.raises(ValueError, match="`name` must be a file stem"):
        load_trained("../gmlp", dataset=dataset, results_dir=saved_run[2])


# ------------------------------------------------------------ the book's trained models
RESULTS = REPO / "results"


@pytest.mark.backend
@pytest.mark.parametrize("model_file", sorted(RESULTS.glob("*.keras")), ids=lambda p: p.stem)
def test_a_committed_model_scores_its_records_test_accuracy(model_file, cifar100_full):
    """Every model the book ships, loaded as a chapter with ``train = False`` loads it,
    tests on CIFAR-100 as its record says, on every backend."""
    model, result = load_trained(model_file.stem, dataset=cifar100_full, results_dir=RESULTS)
    record = json.loads(model_file.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["dataset"]["source"].startswith("CIFAR-100: 50,000 train / 10,000 test")
    # A few of the 10,000 test images may flip between backends' float32 arithmetic.
    assert result.test_top1 == pytest.approx(record["test"]["top1"], abs=5e-4)
    assert result.test_top5 == pytest.approx(record["test"]["top5"], abs=5e-4)
