"""Shared test set-up: the Keras backend, and small reference helpers.

The backend is chosen by ``KERAS_BACKEND`` (TensorFlow when unset); it must be set
before Keras is imported, which is why it happens here, at collection time.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def dataset():
    """A 200-image slice of the offline dataset, shared by the training and recipe tests."""
    from mlp_tutorial import load_dataset

    return load_dataset("offline", train_limit=200)
