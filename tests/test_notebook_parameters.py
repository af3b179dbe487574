"""A mistyped parameter stops a chapter in the validation cell, before any data is loaded.

Each case runs a training chapter with papermill and one bad value; the run must fail in
the cell right after the parameters (the one calling ``chapter.check_parameters``), with a
message naming the parameter, and no later cell may have run.
"""

import os
import re
from pathlib import Path

import nbformat
import papermill
import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTER = REPO / "notebooks" / "04_gmlp.ipynb"

pytestmark = pytest.mark.notebooks


def _blocked_dir(tmp_path):
    """A results_dir that cannot be created: its parent is a regular file."""
    parent = tmp_path / "a_file"
    parent.write_text("not a folder")
    return str(parent / "results")


CASES = [
    ("epochs", "ten", "`epochs`"),  # wrong type
    ("batch_size", 0, "`batch_size`"),  # zero
    ("learning_rate", -0.001, "`learning_rate`"),  # negative
    ("patch_size", 7, "does not divide `image_size`"),  # non-dividing patch
    ("dataset", "imagenet", "`dataset`"),  # unknown dataset
    ("dropout_rate", 1.5, "`dropout_rate`"),  # out of range
    ("data_path", "/no/such/cifar-100-python.tar.gz", "`data_path`"),  # missing path
    ("results_dir", "BLOCKED", "`results_dir`"),  # unwritable results dir
    ("seed", 2.5, "`seed`"),  # float for an int
    ("train", "False", "True or False is needed"),  # a string for a bool
]


def _validation_cell_index(notebook):
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and "check_parameters(" in cell.source:
            return index
    raise AssertionError("no check_parameters cell")


@pytest.mark.parametrize("name, value, message", CASES, ids=[c[0] for c in CASES])
def test_bad_parameter_fails_in_the_validation_cell(tmp_path, name, value, message):
    if value == "BLOCKED":
        value = _blocked_dir(tmp_path)
    output = tmp_path / "out.ipynb"
    env_backup = os.environ.pop("MLP_TUTORIAL_CIFAR100", None)
    try:
        with pytest.raises(papermill.PapermillExecutionError) as failure:
            papermill.execute_notebook(
                str(CHAPTER),
                str(output),
                parameters={name: value, "results_dir": str(tmp_path / "results")}
                if name != "results_dir"
                else {name: value},
                kernel_name="python3",
                cwd=str(CHAPTER.parent),
                progress_bar=False,
            )
    finally:
        if env_backup is not None:
            os.environ["MLP_TUTORIAL_CIFAR100"] = env_backup
    error = failure.value
    assert error.ename == "ParameterError"
    assert message in error.evalue
    assert repr(value) in error.evalue  # the message shows the bad value itself
    executed = nbformat.read(output, as_version=4)
    stop = _validation_cell_index(executed)
    failed = executed.cells[stop]
    assert error.exec_count == failed.execution_count
    assert [o.ename for o in failed.outputs if o.output_type == "error"] == ["ParameterError"]
    later = [c for c in executed.cells[stop + 1 :] if c.cell_type == "code"]
    assert later and all(c.get("execution_count") is None for c in later)


@pytest.mark.parametrize("stem", ["02_mlp_mixer", "03_fnet", "04_gmlp", "06_training_recipe"])
def test_training_chapters_check_train_and_show_which_way_they_ran(stem):
    """`train` is checked with the others: True trains, False loads the book's model. The
    committed page was made with the value its parameters cell holds, and shows it: the
    epoch log of a training, or each loaded model tested again."""
    chapter = REPO / "notebooks" / f"{stem}.ipynb"
    defined = papermill.inspect_notebook(str(chapter))
    assert defined["train"]["default"] in ("True", "False")
    assert "False: load" in defined["train"]["help"]
    printed = "".join(
        output.get("text", "")
        for cell in nbformat.read(chapter, as_version=4).cells
        for output in cell.get("outputs", [])
    )
    loaded = re.findall(r"^loaded (\S+)\.keras, tested again:$", printed, re.M)
    if defined["train"]["default"] == "True":
        assert loaded == []
    else:
        assert loaded and all(f"{name}'s training, as its record logged it:" in printed
                              for name in loaded)  # fmt: skip
    code = "\n".join(cell.source for cell in nbformat.read(chapter, as_version=4).cells
                     if cell.cell_type == "code")  # fmt: skip
    # chapter.train_or_load saves what it trains and loads otherwise, from params["train"]
    helper = "chapter.check_parameters(" in code and "chapter.train_or_load(" in code
    by_hand = "train=train" in code and "if train:" in code and "save_trained(" in code
    assert helper or (by_hand and "load_trained(" in code)


@pytest.mark.parametrize(
    "stem", ["01_patches", "02_mlp_mixer", "03_fnet", "04_gmlp", "06_training_recipe"]
)
def test_chapters_default_to_cifar100_and_never_fall_back(stem):
    """No silent stand-in: without CIFAR-100 a chapter stops with the loader's error."""
    chapter = REPO / "notebooks" / f"{stem}.ipynb"
    defined = papermill.inspect_notebook(str(chapter))
    assert (defined["dataset"]["default"], defined["data_path"]["default"]) == (
        '"cifar100"',
        "None",
    )
