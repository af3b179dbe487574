"""Tests for ``python -m mlp_tutorial.execute`` on tiny throwaway notebooks.

The notebooks here take a fraction of a second to run; the real chapters are exercised by
the notebook tests.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import mlp_tutorial
from mlp_tutorial import execute

PARAMETERS_SOURCE = (
    'dataset = "cifar100"\ndata_path = None\nepochs = 50\nresults_dir = "../results"'
)
# Lines that TensorFlow, absl, XLA and CUDA write when they start.
LOG_LINE = re.compile(
    r"^(WARNING: All log messages|[IWEF]\d{4} |.*(tensorflow/|oneDNN|cuda))", re.M
)


def write_notebook(path, *sources, parameters=PARAMETERS_SOURCE):
    """Write a notebook whose first code cell is the tagged parameters cell."""
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = new_notebook(metadata={"kernelspec": kernelspec})
    notebook.cells = [
        new_markdown_cell("# A tiny chapter"),
        new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        *(new_code_cell(source) for source in sources),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def outputs_text(path):
    """Everything the code cells of an executed notebook printed, joined."""
    notebook = nbformat.read(path, as_version=4)
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@pytest.fixture
def chapters(tmp_path, monkeypatch):
    """A book folder, the current directory, with two chapters and a scratch notebook."""
    folder = tmp_path / "notebooks"
    write_notebook(folder / "01_tiny.ipynb", "print(dataset, data_path, epochs, results_dir)")
    write_notebook(folder / "02_broken.ipynb", "x = 1", 'raise ValueError("broken on purpose")')
    write_notebook(folder / "scratch.ipynb", "print('not a chapter')")
    monkeypatch.chdir(tmp_path)
    return folder


def test_smoke_parameters_keep_only_names_the_notebook_defines(chapters, tmp_path):
    notebook = chapters / "01_tiny.ipynb"
    parameters = execute.chapter_parameters([notebook], {}, smoke_output=tmp_path / "out")
    assert parameters[notebook] == {
        "dataset": "offline",
        "epochs": 2,
        "results_dir": str((tmp_path / "out" / "results").resolve()),
    }


def test_smoke_copies_get_the_chapters_relative_default_paths_made_absolute(chapters, tmp_path):
    """nbval re-runs a smoke copy in the folder it lies in, so a default such as
    ``"../checkpoints"`` must not depend on that folder; ``None`` stays ``None``, and a
    run that is not a smoke run keeps the chapter's own defaults."""
    notebook = write_notebook(
        chapters / "05_paths.ipynb",
        "print(checkpoint_dir)",
        parameters='data_path = None\ncheckpoint_dir = "../checkpoints"\nepochs = 3',
    )
    parameters = execute.chapter_parameters([notebook], {}, smoke_output=tmp_path / "out")
    assert parameters[notebook] == {
        "checkpoint_dir": str((tmp_path / "checkpoints").resolve()),
        "epochs": 2,
    }
    assert execute.chapter_parameters([notebook], {})[notebook] == {}
    override = {"checkpoint_dir": None}
    assert execute.chapter_parameters([notebook], override, tmp_path / "out")[notebook] == {
        "checkpoint_dir": None,
        "epochs": 2,
    }


def test_default_selection_is_every_chapter_in_name_order(chapters):
    selected = execute.select_notebooks([], chapters)
    assert [path.name for path in selected] == ["01_tiny.ipynb", "02_broken.ipynb"]


def test_selection_by_stem_and_by_path(chapters):
    by_stem = execute.select_notebooks(["02_broken"], chapters)
    by_path = execute.select_notebooks([str(chapters / "01_tiny.ipynb")], chapters)
    assert by_stem == [(chapters / "02_broken.ipynb").resolve()]
    assert by_path == [(chapters / "01_tiny.ipynb").resolve()]


def test_unknown_notebook_is_an_error_that_lists_the_chapters(chapters, capsys):
    assert execute.main(["03_missing"]) == 2
    message = capsys.readouterr().err
    assert "'03_missing'" in message
    assert "01_tiny, 02_broken" in message


def test_smoke_run_writes_executed_copy_to_output(chapters, tmp_path, capsys):
    output_dir = tmp_path / "out"
    assert execute.main(["--smoke", "--output", str(output_dir), "01_tiny"]) == 0

    executed = output_dir / "01_tiny.ipynb"
    results_dir = (output_dir / "results").resolve()
    assert outputs_text(executed) == f"offline None 2 {results_dir}\n"
    assert outputs_text(chapters / "01_tiny.ipynb") == ""
    printed = capsys.readouterr().out
    assert "[1/1] 01_tiny ..." in printed
    assert "[1/1] 01_tiny done in" in printed


def test_full_run_executes_in_place_with_own_parameters(chapters):
    assert execute.main(["01_tiny"]) == 0
    assert outputs_text(chapters / "01_tiny.ipynb") == "cifar100 None 50 ../results\n"


def test_an_in_place_run_leaves_a_chapter_a_reader_can_run_all(chapters, tmp_path):
    """In place, the values that made the page go into the parameters cell (comments kept),
    the data reaches the kernel as $MLP_TUTORIAL_CIFAR100, other paths are used but not
    kept, and neither an injected-parameters cell nor papermill's paths stay behind."""
    notebook = write_notebook(
        chapters / "03_reader.ipynb",
        "import os\nprint(data_path, epochs, results_dir, os.environ['MLP_TUTORIAL_CIFAR100'])",
        parameters="data_path = None  # a local copy\nepochs = [\n    50,\n]  # every epoch\n"
        'results_dir = "../results"  # where the record goes\nname = "é"',
    )
    args = ["03_reader", "-p", "epochs", "7", "-p", "data_path", "data/c.tar.gz"]
    assert execute.main([*args, "-p", "results_dir", "out", "-p", "name", "ü"]) == 0

    executed = nbformat.read(notebook, as_version=4)
    assert [c.metadata.get("tags", []) for c in executed.cells if c.cell_type == "code"] == [
        ["parameters"],
        [],
    ]
    assert executed.cells[1].source == (
        "data_path = None  # a local copy\nepochs = 7  # every epoch\n"
        "results_dir = \"../results\"  # where the record goes\nname = 'ü'"
    )
    assert "papermill" not in executed.metadata
    assert outputs_text(notebook) == f"None 7 {tmp_path / 'out'} {tmp_path / 'data/c.tar.gz'}\n"
    for cell in executed.cells[2:]:
        cell.outputs = []  # what the test's cell printed; the rest must name no folder
    assert str(tmp_path) not in nbformat.writes(executed)


def test_an_executed_copy_keeps_the_injected_cell(chapters, tmp_path):
    """Into --output (scratch copies, the smoke run that nbval re-runs) papermill's cell
    stays: the copy must run again with the same values."""
    assert execute.main(["--output", "out", "01_tiny", "-p", "epochs", "3"]) == 0
    copy = nbformat.read(tmp_path / "out" / "01_tiny.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in copy.cells if c.cell_type == "code"]
    assert tags[:2] == [["parameters"], ["injected-parameters"]]
    assert "epochs = 50" in copy.cells[1].source


def test_failing_cell_stops_the_run_with_status_1(chapters, tmp_path, capsys):
    output_dir = tmp_path / "out"
    status = execute.main(["--smoke", "--output", str(output_dir), "02_broken", "01_tiny"])

    assert status == 1
    message = capsys.readouterr().err
    # Cell 0 is the title, 1 the parameters, 2 the smoke parameters papermill injects.
    assert "FAILED 02_broken: cell 4" in message
    assert "ValueError: broken on purpose" in message
    assert not (output_dir / "01_tiny.ipynb").exists()


# ---------------------------------------------------------------- parameters from -p


def test_unknown_parameter_stops_before_anything_runs(chapters, tmp_path, capsys):
    output_dir = tmp_path / "out"
    status = execute.main(["--output", str(output_dir), "01_tiny", "-p", "epoch", "1"])

    assert status == 2
    message = capsys.readouterr().err
    assert "unknown parameter 'epoch' (did you mean 'epochs'?)" in message
    assert "dataset, data_path, epochs, results_dir" in message  # what 01_tiny defines
    assert not list(output_dir.glob("*.ipynb"))
    assert outputs_text(chapters / "01_tiny.ipynb") == ""


def test_parameter_of_one_selected_chapter_goes_only_to_that_chapter(chapters, tmp_path):
    write_notebook(chapters / "03_other.ipynb", "print(width)", parameters="width = 8")
    output_dir = tmp_path / "out"
    args = ["--output", str(output_dir), "01_tiny", "03_other", "-p", "width", "16"]
    assert execute.main([*args, "-p", "epochs", "3"]) == 0

    assert outputs_text(output_dir / "01_tiny.ipynb") == "cifar100 None 3 ../results\n"
    assert outputs_text(output_dir / "03_other.ipynb") == "16\n"
    # A name that none of the selected chapters defines is refused, even if another does.
    assert execute.main(["--output", str(output_dir), "03_other", "-p", "epochs", "3"]) == 2


def test_relative_paths_start_from_the_current_directory(chapters, tmp_path, monkeypatch):
    """The notebook runs in notebooks/, but `data` means the folder the user is in."""
    write_notebook(
        chapters / "03_paths.ipynb",
        "import os\nprint(data_path)\nprint(os.environ['MLP_TUTORIAL_CIFAR100'])",
    )
    monkeypatch.setenv("MLP_TUTORIAL_CIFAR100", "archives/cifar-100-python.tar.gz")
    output_dir = tmp_path / "out"
    assert execute.main(["--output", "out", "03_paths", "-p", "data_path", "data/cifar"]) == 0

    assert outputs_text(output_dir / "03_paths.ipynb") == (
        f"{tmp_path / 'data' / 'cifar'}\n{tmp_path / 'archives' / 'cifar-100-python.tar.gz'}\n"
    )


# ---------------------------------------------------------------- quiet output


def test_library_lines_on_the_kernels_stderr_stay_out_of_the_notebook(chapters, tmp_path):
    """What C++ code writes straight to stderr goes to the kernel's log; Python's stays."""
    write_notebook(
        chapters / "03_noisy.ipynb",
        "import os, sys\nos.write(2, b'I0000 00:00 port.cc:153] oneDNN custom operations\\n')\n"
        "print('a warning the reader should see', file=sys.stderr)",
    )
    output_dir = tmp_path / "out"
    assert execute.main(["--output", str(output_dir), "03_noisy"]) == 0

    text = outputs_text(output_dir / "03_noisy.ipynb")
    assert text == "a warning the reader should see\n"
    assert "I0000 00:00 port.cc:153] oneDNN" in (output_dir / "03_noisy.log").read_text()


def test_help_starts_without_keras_and_prints_no_log_line():
    code = (
        "import sys, runpy\nsys.argv = ['execute', '--help']\n"
        "try:\n    runpy.run_module('mlp_tutorial.execute', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('keras imported:', 'keras' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "usage: python -m mlp_tutorial.execute" in run.stdout
    assert "keras imported: False" in run.stdout
    assert not LOG_LINE.findall(run.stdout + run.stderr)


# ---------------------------------------------------------------- a non-editable install


@pytest.fixture
def installed(tmp_path):
    """A copy of the package outside any checkout, as pip installs it (on Colab, say)."""
    site = tmp_path / "site-packages"
    source = Path(mlp_tutorial.__file__).parent
    shutil.copytree(source, site / "mlp_tutorial", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(site))
    where = [sys.executable, "-c", "import mlp_tutorial.execute as m; print(m.__file__)"]
    imported = subprocess.run(where, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert imported.stdout.startswith(str(site)), imported.stderr  # the copy, not the checkout
    return lambda *args, cwd: subprocess.run(
        [sys.executable, "-m", "mlp_tutorial.execute", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_installed_runner_finds_the_notebooks_of_the_current_directory(installed, tmp_path):
    book = tmp_path / "book"
    write_notebook(book / "notebooks" / "01_tiny.ipynb", "print(epochs)")
    run = installed("01_tiny", "-p", "epochs", "7", cwd=book)

    assert run.returncode == 0, run.stderr
    assert outputs_text(book / "notebooks" / "01_tiny.ipynb") == "7\n"


def test_installed_runner_takes_a_notebooks_folder_or_says_how(installed, tmp_path):
    book = tmp_path / "book"
    write_notebook(book / "chapters" / "01_tiny.ipynb", "print(epochs)")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    lost = installed(cwd=elsewhere)
    assert lost.returncode == 2
    assert "--notebooks DIR" in lost.stderr
    found = installed("--notebooks", str(book / "chapters"), cwd=elsewhere)
    assert found.returncode == 0, found.stderr
    assert outputs_text(book / "chapters" / "01_tiny.ipynb") == "50\n"
