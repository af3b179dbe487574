"""mlp_tutorial: MLP-Mixer, FNet and gMLP for image classification with Keras 3.

The package behind the book "Image classification with modern MLP models"; it runs on the
TensorFlow, JAX and PyTorch backends (choose with ``KERAS_BACKEND``). A name is imported
when first used, so ``python -m mlp_tutorial.execute`` starts without Keras; import a block
or ``build_model`` before loading a saved model, which registers the layers with Keras.
"""

import importlib
import os

# Only TensorFlow's errors, not its info and warning lines; set before TensorFlow loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_MODULES = {  # fmt: skip
    "classifier": ("MODEL_NAMES", "build_classifier", "build_model"),
    "data": ("DATASET_NAMES", "Dataset", "load_dataset"),
    "layers": (
        "FNetBlock",
        "GMLPBlock",
        "MLP",
        "MixerBlock",
        "Patches",
        "PositionEmbedding",
        "SpatialGatingUnit",
        "fourier_mix",
    ),
    "pretrained": ("load_trained", "save_trained"),
    "recipe": ("RECIPES", "Recipe"),
    "remote": ("RESULTS_URL", "load_record"),
    "training": ("Result", "run_experiment", "set_seed"),
    "parameters": ("validate_parameters",),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    """``mlp_tutorial.build_model`` and ``from mlp_tutorial import ...``: import on use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'mlp_tutorial' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mlp_tutorial.{_MODULE_OF[name]}"), name)


def __dir__():
    return sorted([*globals(), *__all__])
