"""What this execution runs on: backend, device and versions, for run cards and records."""

import importlib
import platform
import textwrap

import keras
import numpy as np

from mlp_tutorial.display import PAGE_WIDTH, shown_path
from mlp_tutorial.parameters import PATH_PARAMETERS


def device_name():
    """A short name for the device Keras computes on: ``"CPU"`` or ``"GPU: <model>"``."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        kind = device.platform.upper()
        return kind if kind == "CPU" else f"{kind}: {device.device_kind}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        return f"GPU: {details.get('device_name', gpus[0].name)}" if gpus else "CPU"
    if backend == "torch":
        import torch

        return f"GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU"
    return "unknown"


def versions():
    """Versions of Python, Keras, the backend library and NumPy, as a dict of strings."""
    backend = keras.backend.backend()  # also the name of the library it runs on
    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        backend: importlib.import_module(backend).__version__,
        "numpy": np.__version__,
    }


def environment():
    """Backend, device and versions in one dict (stored in every results record)."""
    return {"backend": keras.backend.backend(), "device": device_name(), "versions": versions()}


def print_run_card(data, /, **settings):
    """Print what this execution uses: ``data.source`` (the dataset actually loaded),
    backend, device, precision (Keras' dtype policy in force), versions, and a line per
    ``settings`` item (the chapter's parameters) but ``precision``, paths relative to the
    chapter's folder (:func:`~mlp_tutorial.display.shown_path`). A value too long for a
    line of ``PAGE_WIDTH`` characters goes on under itself."""
    env = environment()
    rows = [
        ("data", data.source),
        ("backend", env["backend"]),
        ("device", env["device"]),
        ("precision", keras.config.dtype_policy().name),
        ("versions", ", ".join(f"{k} {v}" for k, v in env["versions"].items())),
        *((key, repr(_shown(key, value))) for key, value in settings.items() if key != "precision"),
    ]  # the precision in force, not the one asked for
    width = max(len(key) for key, _ in rows)
    options = dict(width=PAGE_WIDTH, subsequent_indent=" " * (width + 4), break_on_hyphens=False)
    lines = [textwrap.fill(v, initial_indent=f"  {k:<{width}}  ", **options) for k, v in rows]
    print("Run card\n" + "\n".join(lines))


def _shown(key, value):
    """A setting as the run card prints it: a path relative to the chapter's folder."""
    return shown_path(value) if key in PATH_PARAMETERS and value is not None else value
