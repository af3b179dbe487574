"""mlp_tutorial: MLP-Mixer, FNet and gMLP for image classification with Keras 3.

The package behind the book "Image classification with modern MLP models". Every layer
is written with ``keras.ops`` only, so it runs on the TensorFlow, JAX and PyTorch
backends; choose one with the ``KERAS_BACKEND`` environment variable.
"""

from mlp_tutorial.classifier import MODEL_NAMES, build_classifier, build_model
from mlp_tutorial.data import DATASET_NAMES, Dataset, load_dataset
from mlp_tutorial.fnet import FNetBlock, fourier_mix
from mlp_tutorial.gmlp import GMLPBlock, SpatialGatingUnit
from mlp_tutorial.mixer import MixerBlock
from mlp_tutorial.parameters import validate_parameters
from mlp_tutorial.patches import Patches, PositionEmbedding
from mlp_tutorial.recipe import RECIPES, Recipe
from mlp_tutorial.training import Result, run_experiment, set_seed

__version__ = "0.1.0"

__all__ = [
    "DATASET_NAMES",
    "MODEL_NAMES",
    "Dataset",
    "FNetBlock",
    "GMLPBlock",
    "MixerBlock",
    "Patches",
    "PositionEmbedding",
    "RECIPES",
    "Recipe",
    "Result",
    "SpatialGatingUnit",
    "build_classifier",
    "build_model",
    "fourier_mix",
    "load_dataset",
    "run_experiment",
    "set_seed",
    "validate_parameters",
]
