"""The book builds with Jupyter Book, warnings treated as errors.

The build (the ``built_book`` fixture of ``conftest.py``) runs on a copy of the repository,
so that it never writes into the working tree. It needs every chapter listed in
``_toc.yml``: a missing notebook fails the build, and so this test.
"""


def test_book_builds_without_warnings(built_book, repository):
    build, html = built_book
    assert build.returncode == 0, build.stdout[-8000:] + build.stderr[-8000:]

    chapter = (html / "notebooks" / "04_gmlp.html").read_text(encoding="utf-8")
    colab = repository.colab_url("notebooks/04_gmlp.ipynb")
    assert colab in chapter, "the Colab launch button does not open this chapter"
    intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
    # An in-text citation, linked to the bibliography, carrying the full reference.
    assert "Tolstikhin <em>et al.</em>" in intro
    assert 'href="bibliography.html#' in intro
    assert "mlp-mixer: an all-mlp architecture for vision" in intro.lower()
