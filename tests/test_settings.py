"""The chapters' CPU settings: one table (mlp_tutorial.parameters), the chapters' parameters
cells, and the time-to-accuracy records they came from, all equal."""

import ast
import json

import nbformat
import pytest
from conftest import REPO

from mlp_tutorial.classifier import WIDTHS, block_widths
from mlp_tutorial.parameters import CPU_RECORDS, CPU_SETTINGS, example_settings

CHAPTERS = {"mixer": "02_mlp_mixer", "fnet": "03_fnet", "gmlp": "04_gmlp"}


def parameters_of(stem):
    """The names and literal values assigned in a chapter's ``parameters`` cell."""
    notebook = nbformat.read(REPO / "notebooks" / f"{stem}.ipynb", as_version=4)
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    values = {}
    for node in ast.parse(cell.source).body:
        (target,) = node.targets
        values[target.id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("model", sorted(CHAPTERS))
def test_a_chapter_runs_with_the_cpu_settings(model):
    parameters = parameters_of(CHAPTERS[model])
    assert {name: parameters.get(name, "(absent)") for name in CPU_SETTINGS[model]} == (
        CPU_SETTINGS[model]
    )


def test_the_tables_cover_the_same_settings():
    for model in CHAPTERS:
        assert set(CPU_SETTINGS[model]) == set(example_settings(model))
        widths = {k: v for k, v in example_settings(model).items() if k in WIDTHS}
        # the example's hidden widths at its width 256 and 64 patches: P and P; C; 2C
        expected = {"mixer": [64, 64], "fnet": [256], "gmlp": [512]}[model]
        assert list(block_widths(model, 256, **widths).values()) == expected
    assert set(CPU_RECORDS) == set(CPU_SETTINGS)


def appendix_commands():
    """{chapter stem: {parameter: value}} of the GPU appendix's papermill commands, with
    ``$CONFIG`` expanded and the values read as papermill reads ``-p`` values."""
    text = (REPO / "book" / "reproduce_gpu.md").read_text(encoding="utf-8")
    shell = "\n".join(block.split("```", 1)[0] for block in text.split("```bash")[1:])
    shell = shell.replace("\\\n", " ")
    config = shell.split('CONFIG="', 1)[1].split('"', 1)[0]
    commands = {}
    for line in shell.splitlines():
        words = line.replace("$CONFIG", config).split()
        if words[:1] == ["papermill"]:
            stem = words[1].rsplit("/", 1)[-1].removesuffix(".ipynb")
            pairs = [(words[i + 1], words[i + 2]) for i, w in enumerate(words) if w == "-p"]
            commands[stem] = {name: _literal(value) for name, value in pairs}
    return commands


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@pytest.mark.parametrize("model", sorted(CHAPTERS))
def test_the_gpu_appendix_runs_a_chapter_with_the_example_settings(model):
    passed = appendix_commands()[CHAPTERS[model]]
    defaults = parameters_of(CHAPTERS[model])
    assert set(passed) <= set(defaults)  # papermill would add an unknown name silently
    ran = {name: passed.get(name, defaults[name]) for name in example_settings(model)}
    assert ran == example_settings(model)


@pytest.mark.parametrize("model", sorted(CHAPTERS))
def test_the_cpu_settings_are_those_of_their_time_to_accuracy_run(model):
    path = REPO / "results" / CPU_RECORDS[model]
    ran = json.loads(path.read_text(encoding="utf-8"))["settings"]
    assert ran["model"] == model and ran["train_limit"] is None  # the full CIFAR-100
    widths = block_widths(model, ran["embedding_dim"], **ran["widths"])
    recorded = {**{k: v for k, v in ran.items() if k != "widths"}, **widths}
    assert {name: recorded.get(name, "(absent)") for name in CPU_SETTINGS[model]} == (
        CPU_SETTINGS[model]
    )


def test_the_recipe_chapter_trains_the_gmlp_at_its_cpu_settings():
    """Chapter 6's ablation varies the recipe only: the model is chapter 4's (its
    ``epochs`` and ``learning_rate`` are its own parameters, with no width of its own)."""
    parameters = parameters_of("06_training_recipe")
    gmlp = CPU_SETTINGS["gmlp"]
    assert parameters["model"] == "gmlp"
    model_settings = ("image_size", "patch_size", "embedding_dim", "num_blocks", "dropout_rate")
    assert {k: parameters[k] for k in model_settings} == {k: gmlp[k] for k in model_settings}
    assert block_widths("gmlp", parameters["embedding_dim"]) == {"ffn_dim": gmlp["ffn_dim"]}
    assert "ffn_dim" not in parameters  # else the assertion above would not be the width
