"""The book's trained models: save one beside its record, load it back safely, no training.

A chapter run with ``train = False`` loads ``results/<name>.keras`` and the history in
``results/<name>.json``, from the folder or else from the repository
(:func:`mlp_tutorial.remote.fetch`), and re-tests it. A ``.keras`` file is code as much
as weights, so before Keras reads one its ``config.json`` may name only Keras' own
classes and ``mlp_tutorial``'s registered layers, and Keras loads it with
``safe_mode=True`` (no lambdas).
"""

import hashlib
import json
import re
import zipfile
from pathlib import Path

import keras

import mlp_tutorial.classifier  # noqa: F401  (registers every layer of ours with Keras)
from mlp_tutorial.checks import ParameterError
from mlp_tutorial.parameters import COMPARED_PARAMETERS
from mlp_tutorial.recipe import Recipe, loss_for, metrics_for
from mlp_tutorial.records import write_record
from mlp_tutorial.remote import fetch
from mlp_tutorial.training import print_history, tested

# Keras' own markers for values (not classes) in a config; they carry no module.
_KERAS_VALUES = {"__keras_tensor__", "__tensor__", "__numpy__"}


def save_trained(model, record_path):
    """Save ``model`` as ``<record stem>.keras`` beside its record and add its size and
    SHA-256 to the record (``"model_file"``), so that a download can be checked."""
    record_path = Path(record_path)
    path = record_path.with_suffix(".keras")
    model.save(path)
    data = path.read_bytes()
    record = json.loads(record_path.read_text(encoding="utf-8"))
    digest = hashlib.sha256(data).hexdigest()
    record["model_file"] = {"name": path.name, "bytes": len(data), "sha256": digest}
    write_record(record_path, record)
    return path


def load_trained(name, *, dataset, results_dir="results", batch_size=None, config=None):
    """The model ``name`` (``"gmlp"``...) trained and saved by the book, and a ``Result``:
    the saved history, the test metrics measured again on ``dataset``'s test split (in
    batches of ``batch_size``, by default the training's). Never trains. ``config``: the
    chapter's settings; one that differs from the record's is a ``ParameterError``."""
    if not re.fullmatch(r"[\w-]+", name):
        raise ValueError(f"`name` must be a file stem such as 'gmlp'; got {name!r}.")
    record_path = fetch(results_dir, f"{name}.json")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    _check_settings(config or {}, record.get("config", {}), record_path.name)
    sha256 = record.get("model_file", {}).get("sha256")
    path = fetch(results_dir, f"{name}.keras", sha256=sha256)
    check_archive(path)
    model = keras.saving.load_model(path, safe_mode=True)
    return model, _retest(model, dataset, record, batch_size, path)


def _check_settings(config, saved, source):
    """Refuse chapter settings (``config``) that differ from those the model trained with."""
    for key, value in config.items():
        if key in COMPARED_PARAMETERS and key in saved and saved[key] != value:
            raise ParameterError(
                key, value, f"`{key}`={value!r}, but the model of {source} trained with "
                f"{saved[key]!r}: set it back, or train (`train = True`).",
            )  # fmt: skip


def check_archive(path):
    """Refuse a ``.keras`` file that is not a whole zip archive, or whose ``config.json``
    names a class that is neither Keras' own nor one of ``mlp_tutorial``'s registered ones."""
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
            config = json.loads(archive.read("config.json")) if broken is None else None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        broken = f"{type(error).__name__}: {error}"
    if broken is not None:
        raise ValueError(f"{path} is not a whole .keras archive ({broken}); fetch it again.")
    ours = {
        key: cls.__name__
        for key, cls in keras.saving.get_custom_objects().items()
        if key.startswith("mlp_tutorial>") and cls.__module__.startswith("mlp_tutorial.")
    }
    for module, class_name, registered in _classes(config):
        if not _allowed(module, class_name, registered, ours):
            raise ValueError(
                f"{path} names the class {class_name!r} (module {module!r}, registered as "
                f"{registered!r}), which is neither Keras' nor mlp_tutorial's: not loaded."
            )


def _allowed(module, class_name, registered, ours):
    """Keras' own class (or value marker), or one of ``ours``: {registered name: class name}."""
    if module is None:
        return class_name in _KERAS_VALUES
    if module == "keras" or module.startswith("keras."):
        return registered in (None, class_name)
    # Ours by the name it is registered under, from any module of the package: a model saved
    # before the layers moved to mlp_tutorial.layers names their old modules, and Keras
    # finds a registered class by that name, not by its module.
    return module.startswith("mlp_tutorial") and ours.get(registered) == class_name


def _classes(config):
    """Every ``(module, class_name, registered_name)`` in a Keras config, nested ones too."""
    if isinstance(config, dict):
        if "class_name" in config:
            yield config.get("module"), config["class_name"], config.get("registered_name")
        config = list(config.values())
    if isinstance(config, list):
        for value in config:
            yield from _classes(value)


def _retest(model, dataset, record, batch_size, path):
    """Print the epoch log that ``record`` keeps, test ``model`` on ``dataset`` as
    ``run_experiment`` does, and return the Result of ``record``."""
    saved, training = record["dataset"], record["training"]
    if (dataset.name, dataset.num_classes) != (saved["name"], saved["num_classes"]):
        raise ValueError(
            f"{path} was trained on {saved['name']!r} ({saved['num_classes']} classes), not on "
            f"{dataset.name!r}: load that dataset, or train the model (`train = True`)."
        )
    fields = Recipe.__dataclass_fields__
    recipe = Recipe(**{k: v for k, v in training.get("recipe", {}).items() if k in fields})
    labels = dataset.y_test
    if recipe.one_hot:
        labels = keras.utils.to_categorical(labels, dataset.num_classes).astype("float32")
    if not model.compiled:
        model.compile(loss=loss_for(recipe), metrics=metrics_for(recipe))
    batch_size = batch_size or training["batch_size"]
    print(f"{path.stem}'s training, as its record logged it:")
    print_history(record["history"], training["epochs"])
    print(f"loaded {path.name}, tested again:")  # a line of its own: the page's width
    keys = "train_images_per_second wall_time_s epoch_seconds train_time_s epochs_run".split()
    run = {key: record[key] for key in keys}
    test = (dataset.x_test, labels)
    return tested(model, dataset, batch_size, test, history=record["history"], **run, record=record)
