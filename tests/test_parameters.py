"""mlp_tutorial.checks and mlp_tutorial.parameters: every bad argument of a chapter or of
the book's helpers fails at once with a message that names it, shows the bad value and says
what would be valid."""

from pathlib import Path

import numpy as np
import pytest

from mlp_tutorial import DATASET_NAMES, MODEL_NAMES
from mlp_tutorial.augment import AUGMENTATIONS
from mlp_tutorial.checks import ParameterError, check_choice, check_positive_int, check_rate
from mlp_tutorial.parameters import PARAMETERS, validate_parameters
from mlp_tutorial.recipe import ABLATION_STEPS, RECIPES


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("a regular file, not a folder\n")
    return path


# (parameters, name in the message, value as shown, what is valid)
BAD = [
    # wrong type: ints must be ints, numbers must be numbers
    (dict(epochs="10"), "epochs", "'10' (a str)", "an int >= 1"),
    (dict(epochs=2.5), "epochs", "2.5 (a float)", "an int >= 1"),
    (dict(batch_size=32.0), "batch_size", "32.0 (a float)", "an int >= 1"),
    (dict(num_blocks=True), "num_blocks", "True (a bool)", "an int >= 1"),
    (dict(learning_rate="1e-3"), "learning_rate", "'1e-3' (a str)", "a finite number > 0"),
    (dict(dropout_rate=None), "dropout_rate", "None", "a number in [0, 1)"),
    (dict(train_limit=100.0), "train_limit", "100.0 (a float)", "None or an int >= 10"),
    (dict(ffn_dim=256.0), "ffn_dim", "256.0 (a float)", "None or an int >= 1"),
    (dict(channels_mlp_dim=0), "channels_mlp_dim", "0", "None or an int >= 1"),
    # zero
    (dict(epochs=0), "epochs", "0", "an int >= 1"),
    (dict(image_size=0), "image_size", "0", "an int >= 1"),
    (dict(learning_rate=0.0), "learning_rate", "0.0", "a finite number > 0"),
    # negative
    (dict(embedding_dim=-16), "embedding_dim", "-16", "an int >= 1"),
    (dict(seed=-1), "seed", "-1", "an int >= 0"),
    (dict(weight_decay=-1e-4), "weight_decay", "-0.0001", "a finite number >= 0"),
    # out of range
    (dict(dropout_rate=1.0), "dropout_rate", "1.0", "a number in [0, 1)"),
    (dict(train_limit=5), "train_limit", "5", "None or an int >= 10"),
    (dict(learning_rate=float("inf")), "learning_rate", "inf", "a finite number > 0"),
    # unknown names and choices
    (dict(dataset="imagenet"), "dataset", "'imagenet'", "'auto', 'cifar100', 'offline'"),
    (dict(dataset="cifar-100"), "dataset", "'cifar-100'", "did you mean 'cifar100'"),
    (dict(model="vit"), "model", "'vit'", "'mixer', 'fnet', 'gmlp'"),
    (dict(epoch=3), "epoch", "3", "known parameters: model, dataset, data_path, epochs"),
    # the training recipe
    (dict(recipe="moden"), "recipe", "'moden'", "did you mean 'modern'"),
    (dict(recipe=None), "recipe", "None", "'example', '+warmup_cosine'"),
    (dict(augmentation="rand"), "augmentation", "'rand'", "'example', 'shift', 'randaugment'"),
    (dict(ablation="example"), "ablation", "'example' (a str)", "a non-empty list of distinct"),
    (dict(ablation=[]), "ablation", "[]", "a non-empty list of distinct names from 'example"),
    (
        dict(ablation=["example", "+warmup"]),
        "ablation",
        "['example', '+warmup']",
        "'+warmup_cosine'",
    ),
    (
        dict(ablation=["example", "example"]),
        "ablation",
        "['example', 'example']",
        "'example' repeats",
    ),
    # train or load: a bool, not a string, a number or None
    (dict(train="False"), "train", "'False' (a str)", "True or False is needed"),
    (dict(train=0), "train", "0 (a int)", "True or False is needed"),
    (dict(train=None), "train", "None", "True or False is needed"),
]


@pytest.mark.parametrize("params, name, shown, valid", BAD)
def test_bad_value_is_named_shown_and_corrected(params, name, shown, valid):
    with pytest.raises(ParameterError) as caught:
        validate_parameters(**params)
    message = str(caught.value)
    assert f"`{name}`={shown}" in message
    assert valid in message
    assert caught.value.parameter == name
    assert isinstance(caught.value, ValueError)


def test_non_dividing_patch_lists_the_valid_patch_sizes():
    with pytest.raises(ValueError) as caught:
        validate_parameters(image_size=64, patch_size=7)
    assert str(caught.value) == (
        "`patch_size`=7 does not divide `image_size`=64: "
        "one of its divisors 1, 2, 4, 8, 16, 32, 64 is needed."
    )


def test_unknown_parameter_suggests_the_close_name():
    with pytest.raises(ValueError, match=r"unknown parameter `epoch`=3 \(did you mean 'epochs'"):
        validate_parameters(epoch=3)


def test_missing_data_path(tmp_path):
    missing = tmp_path / "cifar-100-python.tar.gz"
    with pytest.raises(ValueError, match="`data_path`=.*does not exist: None or the path of"):
        validate_parameters(data_path=missing)


def test_data_path_is_not_used_with_the_offline_dataset(tmp_path):
    with pytest.raises(ValueError, match="`data_path`=.* is not used with `dataset`='offline'"):
        validate_parameters(dataset="offline", data_path=tmp_path)


@pytest.mark.parametrize("name", ["results_dir", "checkpoint_dir"])
@pytest.mark.parametrize("where", ["under_a_file", "is_a_file"])
def test_unwritable_folder(name, where, a_file):
    """A folder whose parent is a regular file can never be created (even as root)."""
    path = a_file / "results" if where == "under_a_file" else a_file
    with pytest.raises(ParameterError) as caught:
        validate_parameters(**{name: str(path)})
    message = str(caught.value)
    assert f"`{name}`={str(path)!r}" in message
    assert "a folder that exists or can be created, and is writable" in message
    assert a_file.read_text() == "a regular file, not a folder\n"  # untouched


def test_folder_check_writes_for_real_and_leaves_no_trace(tmp_path):
    existing = tmp_path / "results"
    existing.mkdir()
    (existing / "gmlp.json").write_text("{}")
    to_create = tmp_path / "a" / "b" / "checkpoints"
    out = validate_parameters(results_dir=existing, checkpoint_dir=to_create)
    assert out == {"results_dir": str(existing), "checkpoint_dir": str(to_create)}
    assert [p.name for p in existing.iterdir()] == ["gmlp.json"]  # probe file removed
    assert not (tmp_path / "a").exists()  # folders made for the check are removed again


def test_good_parameters_come_back_normalized(tmp_path):
    params = dict(
        model="gmlp",
        dataset="cifar100",
        data_path=tmp_path,  # a Path
        epochs=np.int64(50),  # NumPy ints are ints
        batch_size=128,
        image_size=64,
        patch_size=8,
        embedding_dim=256,
        num_blocks=4,
        tokens_mlp_dim=None,  # build_model's default
        channels_mlp_dim=np.int64(512),
        ffn_dim=None,
        dropout_rate=0,  # an int where a float is expected is fine
        learning_rate=np.float32(0.005),
        weight_decay=0,
        train_limit=None,
        seed=42,
        precision="mixed_bfloat16",
        results_dir=tmp_path / "results",
        checkpoint_dir=None,
        recipe="modern",
        augmentation="none",
        ablation=["example", "+warmup_cosine"],
        train=False,
    )
    out = validate_parameters(**params)
    assert list(out) == list(params) == list(PARAMETERS)
    assert out == dict(
        params,
        data_path=str(tmp_path),
        epochs=50,
        channels_mlp_dim=512,
        dropout_rate=0.0,
        learning_rate=float(np.float32(0.005)),
        weight_decay=0.0,
        results_dir=str(tmp_path / "results"),
    )
    plain = {bool, int, float, str, type(None)}
    assert all(type(value) in plain for key, value in out.items() if key != "ablation")
    assert all(type(name) is str for name in out["ablation"])
    assert type(out["epochs"]) is int and type(out["dropout_rate"]) is float
    assert out["train"] is False
    assert not Path(out["results_dir"]).exists()  # checked, not created


def test_every_parameter_is_optional():
    assert validate_parameters() == {}
    assert validate_parameters(train_limit=None, checkpoint_dir=None) == {
        "train_limit": None,
        "checkpoint_dir": None,
    }


@pytest.mark.parametrize(
    "recipe, augmentation, needed",
    [
        ("modern", "randaugment", "'none'"),  # it augments each image before mixing
        ("modern", "example", "'none'"),
        ("+randaugment", "none", "'randaugment'"),
        ("example", "randaugment", "'example', 'shift' or 'none'"),
    ],
)
def test_augmentation_must_fit_the_recipe(recipe, augmentation, needed):
    with pytest.raises(ParameterError) as caught:
        validate_parameters(recipe=recipe, augmentation=augmentation)
    assert caught.value.parameter == "augmentation"
    assert str(caught.value) == (
        f"`augmentation`={augmentation!r} does not fit `recipe`={recipe!r}: {needed} is needed."
    )


def test_recipe_parameters_come_back_as_plain_values():
    out = validate_parameters(
        recipe="+label_smoothing", augmentation="none", ablation=("example", "modern")
    )
    assert out == {
        "recipe": "+label_smoothing",
        "augmentation": "none",
        "ablation": ["example", "modern"],
    }
    assert validate_parameters(ablation=list(ABLATION_STEPS)) == {"ablation": list(ABLATION_STEPS)}


@pytest.mark.parametrize("train", [True, False])
def test_train_is_a_bool(train):
    assert validate_parameters(train=train) == {"train": train}


def test_choices_follow_the_package():
    for name in MODEL_NAMES:
        assert validate_parameters(model=name) == {"model": name}
    for name in DATASET_NAMES:
        assert validate_parameters(dataset=name) == {"dataset": name}
    for name in RECIPES:
        assert validate_parameters(recipe=name) == {"recipe": name}
    for name in AUGMENTATIONS:
        assert validate_parameters(augmentation=name) == {"augmentation": name}


@pytest.mark.parametrize(
    "check, value, shown, needed",
    [
        (check_positive_int, 0, "0", "an int >= 1"),
        (check_positive_int, 2.0, "2.0 (a float)", "an int >= 1"),
        (check_rate, 1, "1", "a number in [0, 1)"),
        (check_rate, "0.1", "'0.1' (a str)", "a number in [0, 1)"),
    ],
)
def test_argument_checks_give_the_same_message_as_the_chapters(check, value, shown, needed):
    """Layers, build_model and plots use these checks; a mistake reads the same everywhere."""
    with pytest.raises(ParameterError) as caught:
        check("width", value)
    assert str(caught.value) == f"`width`={shown} is not valid: {needed} is needed."
    assert (caught.value.parameter, caught.value.value) == ("width", value)


def test_choice_check_lists_the_choices_and_suggests_the_close_one():
    with pytest.raises(ParameterError) as caught:
        check_choice("name", "mixr", ("mixer", "fnet", "gmlp"))
    assert str(caught.value) == (
        "`name`='mixr' is not valid (did you mean 'mixer'?): "
        "one of 'mixer', 'fnet', 'gmlp' is needed."
    )
    assert check_choice("name", "fnet", ("mixer", "fnet", "gmlp")) == "fnet"


def test_build_model_raises_the_shared_error():
    """The helpers share one message (the layers check as Keras' do: tests/test_layers.py)."""
    from mlp_tutorial import build_model

    with pytest.raises(ParameterError, match=r"`name`='vit' is not valid: one of 'mixer'"):
        build_model("vit")
    with pytest.raises(ParameterError, match=r"`patch_size`=5 does not divide `image_size`=32"):
        build_model("mixer", image_size=32, patch_size=5)


def test_paths_come_back_absolute_from_the_current_directory(tmp_path, monkeypatch):
    """What is checked is what is used: a chapter uses these strings, wherever it runs next."""
    (tmp_path / "data" / "cifar-100-python").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    out = validate_parameters(
        data_path="data/cifar-100-python", results_dir="~/results", checkpoint_dir="../ckpt"
    )
    assert out == {
        "data_path": str(tmp_path / "data" / "cifar-100-python"),
        "results_dir": str(tmp_path / "home" / "results"),
        "checkpoint_dir": str(tmp_path.parent / "ckpt"),
    }
