"""What a chapter shows: package source under the imports it needs, and paths as a page
prints them."""

import inspect
import os
import textwrap

#: The longest line a page shows at 1280 px without scrolling: every printed line fits.
PAGE_WIDTH = 88
IMPORTS = "import keras\nfrom keras import layers, ops"


def page_code(*objects):
    """``IMPORTS``, then the source of each of ``objects``: code a reader can copy and run."""
    return "\n\n\n".join([IMPORTS, *(inspect.getsource(obj) for obj in objects)]) + "\n"


def say(message):
    """Print ``message`` wrapped to lines of at most :data:`PAGE_WIDTH` characters."""
    print(textwrap.fill(message, PAGE_WIDTH))


def shown_path(path):
    """``path`` as a page prints it: relative to the current directory (the chapter's
    folder), so that an executed page names no folder of the machine that ran it.

    >>> shown_path(os.path.join(os.getcwd(), "results", "gmlp.json")) == os.path.join(
    ...     "results", "gmlp.json")
    True
    """
    try:
        return os.path.relpath(os.fspath(path))
    except ValueError:  # on Windows, a path on another drive has no relative form
        return os.path.basename(os.fspath(path))
