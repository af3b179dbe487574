"""The committed chapters' stored outputs: what a reader of the rendered book sees.

- Every training chapter ran on the full CIFAR-100: its run card and its results records
  say so, with the split sizes.
- No stored output holds a library's log line (TensorFlow's start-up chatter) or an error.
- No line of a code cell, and no line a chapter printed, is wider than the page (88
  characters, ANSI colours removed).

The checks of stored outputs cover every chapter: all are executed and committed.
"""

import json
import re

import nbformat
import pytest
from conftest import REPO
from test_execute import LOG_LINE  # TensorFlow's and absl's log lines
from test_notebooks import SAVED_MODELS  # each training chapter's records, by stem

CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDTH = 88
FULL_CIFAR100 = "CIFAR-100: 50,000 train / 10,000 test images"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def code_cells(chapter):
    """(cell index, cell) for every code cell of the chapter."""
    cells = enumerate(nbformat.read(chapter, as_version=4).cells)
    return [(index, cell) for index, cell in cells if cell.cell_type == "code"]


def code_lines(chapter):
    """(cell index, line) for every line of the chapter's code cells."""
    return [(i, line) for i, cell in code_cells(chapter) for line in cell.source.splitlines()]


def printed_lines(chapter):
    """(cell index, line) for every line of the chapter's stored stream outputs."""
    return [
        (index, line)
        for index, cell in code_cells(chapter)
        for output in cell.outputs
        if output.output_type == "stream"
        for line in ANSI.sub("", output.text).splitlines()
    ]


def run_card(chapter):
    """The stored run card, its wrapped lines joined: ``{"data": ..., ...}``."""
    text = "\n".join(line for _, line in printed_lines(chapter))
    card = text.split("Run card\n", 1)[1]
    rows, key = {}, None
    for line in card.splitlines():
        if line.startswith("  ") and not line.startswith("    ") and line.split():
            key, _, value = line.strip().partition(" ")
            rows[key] = value.strip()
        elif line.startswith("    ") and key is not None:
            rows[key] += " " + line.strip()  # a long value goes on under itself
        else:
            break
    return rows


@pytest.mark.parametrize("stem", sorted(SAVED_MODELS))
def test_training_chapters_ran_on_the_full_cifar100(stem):
    card = run_card(REPO / "notebooks" / f"{stem}.ipynb")
    assert card["data"].startswith(FULL_CIFAR100), card["data"]
    for name in SAVED_MODELS[stem]:
        record = json.loads((REPO / "results" / f"{name}.json").read_text(encoding="utf-8"))
        assert record["dataset"]["source"].startswith(FULL_CIFAR100), name
        assert record["dataset"]["test_images"] == 10_000


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(chapter):
    wide = [
        f"cell {i}: {len(line)}: {line}" for i, line in code_lines(chapter) if len(line) > WIDTH
    ]
    assert not wide, "\n".join(wide)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_stored_output_holds_a_log_line(chapter):
    logs = [f"cell {i}: {line[:100]}" for i, line in printed_lines(chapter) if LOG_LINE.match(line)]
    assert not logs, "\n".join(logs)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_printed_lines_fit_the_page(chapter):
    wide = [
        f"cell {i}: {len(line)}: {line}" for i, line in printed_lines(chapter) if len(line) > WIDTH
    ]
    assert not wide, "\n".join(wide)


def test_the_checks_can_fail(tmp_path):
    """A notebook with wide lines, a log line and a stand-in run card fails every check."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("y = 1\n" + "x" * (WIDTH + 1))
    text = (
        "Run card\n  data    offline stand-in (NOT CIFAR-100): MNIST\n  backend tensorflow\n"
        "I0000 00:00:1795251438.705207 17123 cuda_platform.cc:52] failed call to cuInit\n"
        + "x" * (WIDTH + 1)
        + "\n"
    )
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    notebook.cells.append(cell)
    path = tmp_path / "07_bad.ipynb"
    nbformat.write(notebook, path)
    assert not run_card(path)["data"].startswith(FULL_CIFAR100)
    assert any(LOG_LINE.match(line) for _, line in printed_lines(path))
    assert any(len(line) > WIDTH for _, line in printed_lines(path))
    assert any(len(line) > WIDTH for _, line in code_lines(path))
