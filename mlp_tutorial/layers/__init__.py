"""The book's Keras layers: each imports Keras only, so a reader can copy it and run it.

``MLP`` (the two-layer MLP in every block), ``Patches`` and ``PositionEmbedding`` (image to
patch sequence), ``MixerBlock``, ``FNetBlock`` (with ``fourier_mix``), ``GMLPBlock`` and
``SpatialGatingUnit``. Each is registered with Keras as ``mlp_tutorial>ClassName``, so that a
saved ``.keras`` model loads once this package is imported.
"""

from mlp_tutorial.layers.fnet import FNetBlock, fourier_mix
from mlp_tutorial.layers.gmlp import GMLPBlock, SpatialGatingUnit
from mlp_tutorial.layers.mixer import MixerBlock
from mlp_tutorial.layers.mlp import MLP
from mlp_tutorial.layers.patches import Patches, PositionEmbedding

__all__ = [
    "FNetBlock", "GMLPBlock", "MLP", "MixerBlock", "Patches", "PositionEmbedding",
    "SpatialGatingUnit", "fourier_mix",
]  # fmt: skip
