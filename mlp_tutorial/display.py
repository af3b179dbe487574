"""The code a chapter shows: package source under the imports it needs to run on its own."""

import inspect

IMPORTS = "import keras\nfrom keras import layers, ops"


def page_code(*objects):
    """``IMPORTS``, then the source of each of ``objects``: code a reader can copy and run."""
    return "\n\n\n".join([IMPORTS, *(inspect.getsource(obj) for obj in objects)]) + "\n"
