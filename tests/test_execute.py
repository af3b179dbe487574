"""Tests for ``python -m mlp_tutorial.execute`` on tiny throwaway notebooks.

The notebooks here take a fraction of a second to run; the real chapters are exercised by
the notebook tests.
"""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mlp_tutorial import execute

PARAMETERS_SOURCE = 'dataset = "cifar100"\nepochs = 50\nresults_dir = "../results"'


def write_notebook(path, *sources):
    """Write a notebook whose first code cell is the tagged parameters cell."""
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = new_notebook(metadata={"kernelspec": kernelspec})
    notebook.cells = [
        new_markdown_cell("# A tiny chapter"),
        new_code_cell(PARAMETERS_SOURCE, metadata={"tags": ["parameters"]}),
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
    """A notebooks folder with two chapters and a scratch notebook, used as NOTEBOOK_DIR."""
    folder = tmp_path / "notebooks"
    write_notebook(folder / "01_tiny.ipynb", "print(dataset, epochs, results_dir)")
    write_notebook(folder / "02_broken.ipynb", "x = 1", 'raise ValueError("broken on purpose")')
    write_notebook(folder / "scratch.ipynb", "print('not a chapter')")
    monkeypatch.setattr(execute, "NOTEBOOK_DIR", folder)
    return folder


def test_smoke_parameters_keep_only_names_the_notebook_defines(chapters, tmp_path):
    parameters = execute.smoke_parameters(chapters / "01_tiny.ipynb", tmp_path / "out")
    assert parameters == {
        "dataset": "offline",
        "epochs": 2,
        "results_dir": str((tmp_path / "out" / "results").resolve()),
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
    assert outputs_text(executed) == f"offline 2 {results_dir}\n"
    assert outputs_text(chapters / "01_tiny.ipynb") == ""
    printed = capsys.readouterr().out
    assert "[1/1] 01_tiny ..." in printed
    assert "[1/1] 01_tiny done in" in printed


def test_full_run_executes_in_place_with_own_parameters(chapters):
    assert execute.main(["01_tiny"]) == 0
    assert outputs_text(chapters / "01_tiny.ipynb") == "cifar100 50 ../results\n"


def test_failing_cell_stops_the_run_with_status_1(chapters, tmp_path, capsys):
    output_dir = tmp_path / "out"
    status = execute.main(["--smoke", "--output", str(output_dir), "02_broken", "01_tiny"])

    assert status == 1
    message = capsys.readouterr().err
    # Cell 0 is the title, 1 the parameters, 2 the smoke parameters papermill injects.
    assert "FAILED 02_broken: cell 4" in message
    assert "ValueError: broken on purpose" in message
    assert not (output_dir / "01_tiny.ipynb").exists()
