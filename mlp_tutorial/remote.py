"""Where the book lives online, and fetching its records and trained models from there.

A chapter opened alone (Colab, Kaggle, a ``pip install``) has no ``results/`` folder
beside it, so the records and models it reads come from the book's repository instead:
:func:`fetch` takes a file from the local folder where it is there, else downloads it.
The repository is ``_config.yml``'s (a test keeps :data:`REPOSITORY` equal to it); the
download base, :func:`results_url`, can be moved with ``$MLP_TUTORIAL_RESULTS_URL`` (a
fork, a mirror, a local server).
"""

import hashlib
import json
import os
from pathlib import Path

from mlp_tutorial.display import say, shown_path

#: The book's repository and branch: ``repository`` in ``_config.yml``.
REPOSITORY = "https://github.com/mlp-tutorial/modern-mlp-book"
BRANCH = "main"
#: The environment variable that replaces :data:`RESULTS_URL` as the download base.
URL_VAR = "MLP_TUTORIAL_RESULTS_URL"
#: The repository's ``results/`` folder, raw: where downloads come from by default.
RESULTS_URL = (
    f"https://raw.githubusercontent.com/{REPOSITORY.removeprefix('https://github.com/')}"
    f"/{BRANCH}/results"
)


def results_url():
    """The download base of ``results/``: ``$MLP_TUTORIAL_RESULTS_URL`` if set, else
    :data:`RESULTS_URL`; without a trailing slash."""
    return (os.environ.get(URL_VAR) or RESULTS_URL).rstrip("/")


def fetch(folder, filename, *, sha256=None):
    """``folder/filename`` if it is there, else downloaded from :func:`results_url` into
    :func:`cache_folder` (``folder`` is never written).

    A model (``sha256`` given) is checked against its hash and kept in the cache; a record
    (no hash) is downloaded again each time, so it never lags the repository. Raises a
    ``FileNotFoundError`` naming the folder and the address when neither works."""
    import keras  # here, so that importing this module does not start a backend

    local = Path(folder) / filename
    if local.is_file():
        return local
    base = results_url()
    missing = f"{filename} is not in {shown_path(folder)}: downloading it from {base}"
    say(missing)
    cache = cache_folder(base)
    cache.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp
    try:
        got = keras.utils.get_file(
            filename, f"{base}/{filename}", file_hash=sha256, cache_dir=cache.parent,
            cache_subdir=cache.name, force_download=sha256 is None,
        )  # fmt: skip
    except Exception as error:
        (cache / filename).unlink(missing_ok=True)  # get_file keeps a file of the wrong hash
        raise FileNotFoundError(
            f"{filename} is not in {shown_path(folder)} and could not be downloaded "
            f"from {base}/{filename} ({error}). Train the model instead (`train = True`), or "
            f"download the file by hand into that folder."
        ) from error
    return Path(got)


def cache_folder(base):
    """Where downloads from ``base`` go: ``$KERAS_HOME`` (default ``~/.keras``), then
    ``mlp_tutorial/<hash of base>``, so that a fork's files never pass for the book's."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home, "mlp_tutorial", hashlib.sha256(base.encode()).hexdigest()[:12])


def load_record(folder, filename):
    """The JSON record ``filename`` (``"gmlp.json"``...) from ``folder``, else downloaded
    (see :func:`fetch`), as a dict."""
    return json.loads(fetch(folder, filename).read_text(encoding="utf-8"))
