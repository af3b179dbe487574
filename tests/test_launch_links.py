"""Launch links and the install cell: every chapter points at the one configured repository.

The repository's address is set in exactly one place, ``repository.url`` in ``_config.yml``
(the book's repository button and Colab launch links are built from it; the ``repository``
fixture of ``conftest.py`` reads it). The chapters repeat it where Sphinx cannot reach: the
first code cell installs the package from it on Colab and Kaggle, and the "Open in Kaggle"
badge imports the notebook from it. These tests keep those copies equal to the configured
one, and run the install cell with only the pip call mocked.
"""

import importlib.util
import re
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KAGGLE_BADGE = "https://kaggle.com/static/images/open-in-kaggle.svg"


def first_code_cell(chapter):
    notebook = nbformat.read(chapter, as_version=4)
    return next(cell for cell in notebook.cells if cell.cell_type == "code")


def markdown(chapter):
    notebook = nbformat.read(chapter, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def test_the_repository_url_is_a_plain_github_address(repository):
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository.url), repository.url
    assert not repository.url.endswith(".git")


def test_there_are_chapters():
    """Guards the tests below against passing with nothing to check."""
    assert [chapter.stem for chapter in CHAPTERS][:4] == [
        "01_patches",
        "02_mlp_mixer",
        "03_fnet",
        "04_gmlp",
    ]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_install_cell_installs_from_the_configured_repository(chapter, repository):
    source = first_code_cell(chapter).source
    assert re.findall(r"git\+[^\s\"']+", source) == [f"git+{repository.url}"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_kaggle_badge_imports_this_chapter_from_the_configured_repository(chapter, repository):
    text = markdown(chapter)
    kaggle = repository.kaggle_url(f"notebooks/{chapter.name}")
    assert f"[![Open in Kaggle]({KAGGLE_BADGE})]({kaggle})" in text
    # No Kaggle link anywhere in the chapter points at another notebook or repository.
    assert re.findall(
        r"(?:https?://)?(?:www\.)?kaggle\.com/kernels/welcome\?src=[^\s)\"']+", text
    ) == [kaggle]


def test_clone_commands_in_the_book_and_readme_use_the_configured_repository(repository):
    pages = [REPO / "README.md", *sorted((REPO / "book").glob("*.md"))]
    clones = [
        (page.name, url)
        for page in pages
        for url in re.findall(r"git clone (\S+)", page.read_text(encoding="utf-8"))
    ]
    assert clones, "no `git clone` command found: the reader's local set-up lost its address"
    assert all(url == repository.url for _, url in clones), clones


def run_install_cell(chapter, *, package_missing):
    """Execute the first cell's source as IPython runs it (``%pip`` becomes a call of
    ``get_ipython().run_line_magic``, which is mocked); returns that mock.

    With ``package_missing``, ``importlib.util.find_spec`` answers None for
    ``mlp_tutorial`` (and the truth for every other name), as on a fresh Colab machine.
    """
    source = TransformerManager().transform_cell(first_code_cell(chapter).source)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if package_missing and name == "mlp_tutorial":
            return None
        return real_find_spec(name, *args, **kwargs)

    ipython = mock.Mock()
    with mock.patch("importlib.util.find_spec", side_effect=find_spec) as spec:
        namespace = {"__name__": "__main__", "get_ipython": lambda: ipython}
        exec(compile(source, f"{chapter.name}, first code cell", "exec"), namespace)
    assert mock.call("mlp_tutorial") in spec.call_args_list, "the cell never looked for the package"
    return ipython.run_line_magic


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_install_cell_pip_installs_the_package_when_it_is_missing(chapter, repository):
    magic = run_install_cell(chapter, package_missing=True)
    magic.assert_called_once_with("pip", f"install -q git+{repository.url}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_install_cell_does_nothing_when_the_package_is_there(chapter):
    assert importlib.util.find_spec("mlp_tutorial") is not None  # installed for the tests
    run_install_cell(chapter, package_missing=False).assert_not_called()


def test_every_address_of_the_repository_is_the_configured_one(repository):
    """The package's REPOSITORY and every GitHub or raw address of a repository that the
    book's files write (notebooks, pages, README, package, workflows) name _config.yml's."""
    from mlp_tutorial.remote import BRANCH, REPOSITORY

    assert (REPOSITORY, BRANCH) == (repository.url, repository.branch)
    files = [
        *CHAPTERS, REPO / "README.md", *sorted((REPO / "book").glob("*.md")),
        *sorted((REPO / "mlp_tutorial").glob("*.py")),
        *sorted((REPO / ".github" / "workflows").glob("*.yml")),
    ]  # fmt: skip
    owner_name = repository.url.removeprefix("https://github.com/")
    address = re.compile(r"(?:github\.com|raw\.githubusercontent\.com)/([\w.-]+/[\w.-]+)")
    found = {(path.name, m) for path in files for m in address.findall(path.read_text("utf-8"))}
    assert {name for name, _ in found} >= {chapter.name for chapter in CHAPTERS}
    assert {m for _, m in found} == {owner_name}, sorted(found)
