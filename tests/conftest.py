"""Shared test set-up: the Keras backend, and fixtures that several test files use.

The backend is chosen by ``KERAS_BACKEND`` (TensorFlow when unset); it must be set
before Keras is imported, which is why it happens here, at collection time.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The full CIFAR-100 beside the checkout (CI has it there; it is never copied in).
CIFAR100 = REPO.parent / "shared" / "data" / "cifar-100-python.tar.gz"

#: The tiny model of the training and recipe tests: one gMLP block of width 16, 16x16 inputs.
SMALL_MODEL = dict(image_size=16, patch_size=4, embedding_dim=16, num_blocks=1)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def dataset():
    """A 200-image slice of the offline dataset, shared by the training and recipe tests."""
    from mlp_tutorial import load_dataset

    return load_dataset("offline", train_limit=200)


@pytest.fixture(scope="session")
def cifar100_full():
    """The full CIFAR-100 (168 MB), read once per test process; skipped where it is absent."""
    if not CIFAR100.is_file():
        pytest.skip(f"the real CIFAR-100 archive is not at {CIFAR100} (CI has it)")
    from mlp_tutorial import load_dataset

    return load_dataset("cifar100", path=CIFAR100)


@pytest.fixture(scope="session")
def train_small():
    """``train(dataset, *, recipe="example", seed=3, batch_size=20, model=None, **kwargs)``.

    Builds the tiny gMLP after ``set_seed(seed)``, as a chapter does, with the recipe's
    augmentation (``model``: build_model arguments that replace or add to SMALL_MODEL's),
    and returns ``run_experiment(...)``'s Result; ``kwargs`` go to run_experiment.
    """
    from mlp_tutorial import build_model, run_experiment, set_seed
    from mlp_tutorial.recipe import get_recipe

    def train(dataset, *, recipe="example", seed=3, batch_size=20, model=None, **kwargs):
        set_seed(seed)
        settings = {**SMALL_MODEL, "augmentation": get_recipe(recipe).augmentation, **(model or {})}
        built = build_model("gmlp", num_classes=dataset.num_classes, **settings)
        return run_experiment(
            built, dataset, seed=seed, batch_size=batch_size, recipe=recipe, **kwargs
        )

    return train


@dataclass(frozen=True)
class Repository:
    """The repository that ``_config.yml`` names: every launch link must point at it."""

    url: str  # https://github.com/OWNER/NAME
    branch: str

    def notebook_url(self, notebook):
        """``notebook`` (e.g. ``"notebooks/01_patches.ipynb"``) on GitHub, on the branch."""
        return f"{self.url}/blob/{self.branch}/{notebook}"

    def colab_url(self, notebook):
        """The address that opens ``notebook`` from this repository in Colab."""
        github = self.notebook_url(notebook).removeprefix("https://github.com/")
        return f"https://colab.research.google.com/github/{github}"

    def kaggle_url(self, notebook):
        """The address that imports ``notebook`` from this repository into Kaggle."""
        return f"https://kaggle.com/kernels/welcome?src={self.notebook_url(notebook)}"


@pytest.fixture(scope="session")
def repository():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["repository"]
    return Repository(url=config["url"], branch=config.get("branch", "main"))


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """``jupyter-book build -W`` of a copy of the repository (the working tree is never
    written to): ``(the finished process, its _build/html folder)``. Built once per session
    for the build test and the browser test."""
    book = tmp_path_factory.mktemp("book") / "book"
    ignored = ("_build", ".git", ".venv", ".pytest_cache", ".ruff_cache", "__pycache__")
    shutil.copytree(REPO, book, ignore=shutil.ignore_patterns(*ignored, "*.egg-info"))
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    assert jupyter_book.exists(), f"jupyter-book is not installed next to {sys.executable}"
    build = subprocess.run(
        [str(jupyter_book), "build", str(book), "-W"], capture_output=True, text=True, timeout=900
    )
    return build, book / "_build" / "html"
