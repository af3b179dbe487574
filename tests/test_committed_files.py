"""What is committed carries nothing of the machine that made it.

A chapter is opened alone in Colab or Kaggle, and its Run all must not depend on, or
show, the folders of the machine that executed it: no papermill ``injected-parameters``
cell (it would set that machine's paths), no papermill metadata (it names them), and no
absolute path in an output, a code cell's value or a record. Paths that the book's prose
gives as examples for a reader (``/content/drive/...`` in a comment or on a page) are not
of the executing machine and are not looked at.
"""

import ast
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RECORDS = sorted([*(REPO / "results").glob("*.json"), *(REPO / "benchmarks").rglob("*.json")])
# A POSIX path of at least two parts that starts at the root (not the path of a URL, not a
# fraction such as 1/2 or a unit such as images/s), or a Windows drive path.
ABSOLUTE = re.compile(r"(?<![\w.:/~%-])/[\w.-]+/[\w.@%+-][^\s\"'`)\],:]*|(?<!\w)[A-Za-z]:\\\S+")


def absolute_paths(text):
    return ABSOLUTE.findall(text)


def names_a_folder(string):
    """Whether a string value is, or holds, an absolute path ("/" alone is not one)."""
    return bool(absolute_paths(string)) or (os.path.isabs(string) and len(Path(string).parts) > 1)


def test_the_pattern_finds_machine_paths_and_nothing_else():
    """Guards the tests below: what the pattern must see, and what it must let pass."""
    found = "data_path '/work/shared/data/c.tar.gz'\nResuming from /home/me/ckpt/seed: 3/20"
    assert absolute_paths(found) == ["/work/shared/data/c.tar.gz", "/home/me/ckpt/seed"]
    assert absolute_paths(r"C:\Users\me\results") == [r"C:\Users\me\results"]
    kept = (
        "https://raw.githubusercontent.com/o/n/main/results 1/2 500 images/s 50,000 / 10,000 "
        "../results results/gmlp.json ~/.keras/x val_top1/s"
    )
    assert absolute_paths(kept) == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_committed_chapter_has_no_papermill_cell_or_metadata(chapter):
    notebook = nbformat.read(chapter, as_version=4)
    tags = [tag for cell in notebook.cells for tag in cell.metadata.get("tags", [])]
    assert "injected-parameters" not in tags
    assert "papermill" not in notebook.metadata


def shown_text(notebook):
    """Every output a page shows as text, and every metadata value, of ``notebook``."""
    parts = [json.dumps(notebook.metadata)]
    for cell in notebook.cells:
        parts.append(json.dumps(cell.metadata))
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            parts += output.get("traceback", [])
    return "\n".join(part if isinstance(part, str) else "".join(part) for part in parts)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_committed_chapter_shows_no_absolute_path(chapter):
    assert absolute_paths(shown_text(nbformat.read(chapter, as_version=4))) == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_code_cell_of_a_chapter_sets_an_absolute_path(chapter):
    """A string in the code itself, not in a comment: what Run all would use."""
    notebook = nbformat.read(chapter, as_version=4)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    strings = [
        node.value
        for source in code
        for node in ast.walk(ast.parse(TransformerManager().transform_cell(source)))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert [s for s in strings if names_a_folder(s)] == []


def strings_in(value):
    """Every string (keys included) in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_there_are_records():
    assert len(RECORDS) > 10 and (REPO / "results" / "gmlp.json") in RECORDS


@pytest.mark.parametrize("record", RECORDS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_record_holds_an_absolute_path(record):
    strings = strings_in(json.loads(record.read_text(encoding="utf-8")))
    assert [s for s in strings if names_a_folder(s)] == []
