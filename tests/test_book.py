"""The book builds with Jupyter Book, warnings treated as errors.

The build runs on a copy of the repository so that it never writes into the working tree.
It needs every chapter listed in ``_toc.yml``: a missing notebook fails the build, and so
this test.
"""

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOT_COPIED = shutil.ignore_patterns(
    "_build", ".git", ".venv", ".pytest_cache", ".ruff_cache", "__pycache__", "*.egg-info"
)


def jupyter_book_executable():
    """The ``jupyter-book`` command installed next to the running Python."""
    executable = Path(sys.executable).with_name("jupyter-book")
    assert executable.exists(), f"jupyter-book is not installed next to {sys.executable}"
    return executable


def test_book_builds_without_warnings(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(REPO_ROOT, book, ignore=NOT_COPIED)

    build = subprocess.run(
        [str(jupyter_book_executable()), "build", str(book), "-W"],
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert build.returncode == 0, build.stdout[-8000:] + build.stderr[-8000:]
    html = book / "_build" / "html"
    chapter = (html / "notebooks" / "04_gmlp.html").read_text(encoding="utf-8")
    assert "colab.research.google.com/github/" in chapter, "the Colab launch button is missing"
    intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
    # An in-text citation, linked to the bibliography, carrying the full reference.
    assert "Tolstikhin <em>et al.</em>" in intro
    assert 'href="bibliography.html#' in intro
    assert "mlp-mixer: an all-mlp architecture for vision" in intro.lower()
