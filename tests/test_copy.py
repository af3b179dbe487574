"""The code a chapter displays runs on its own, and computes what the package computes.

For each chapter, the displayed cells (``page_code(...)``: the imports, then the sources)
are written to a module outside the package and imported; the module may import nothing
but Keras and NumPy. The copied block gets the package block's weights and must give
the package block's outputs.
"""

import ast
import importlib.util

import keras
import numpy as np
import pytest

from mlp_tutorial.display import page_code
from mlp_tutorial.layers import (
    MLP,
    FNetBlock,
    GMLPBlock,
    MixerBlock,
    Patches,
    PositionEmbedding,
    SpatialGatingUnit,
    fourier_mix,
)  # fmt: skip

pytestmark = pytest.mark.backend

# chapter: (the display cells' arguments, in page order; each layer to compare, its input)
CHAPTERS = {
    "01_patches": (
        [(Patches, PositionEmbedding)],
        [(lambda: Patches(4), (2, 8, 12, 3)), (lambda: PositionEmbedding(), (2, 9, 6))],
    ),
    "02_mlp_mixer": ([(MLP, MixerBlock)], [(lambda: MixerBlock(5, 12), (2, 9, 6))]),
    "03_fnet": ([(fourier_mix,), (MLP, FNetBlock)], [(lambda: FNetBlock(10), (2, 8, 6))]),
    "04_gmlp": (
        [(SpatialGatingUnit,), (GMLPBlock,)],
        [(lambda: SpatialGatingUnit(), (2, 9, 8)), (lambda: GMLPBlock(12), (2, 9, 6))],
    ),
}


def imported_modules(source):
    """Top-level names of every module that ``source`` imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0])
    return names


@pytest.fixture
def keras_registry():
    """Restore Keras' serialization registry: the copy registers "mlp_tutorial>MixerBlock"
    and friends again, and the package's classes must keep those names."""
    saved = dict(keras.saving.get_custom_objects())
    yield
    keras.saving.get_custom_objects().clear()
    keras.saving.get_custom_objects().update(saved)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_displayed_code_runs_alone_and_matches_the_package(chapter, tmp_path, rng, keras_registry):
    cells, layers = CHAPTERS[chapter]
    source = "\n\n".join(page_code(*objects) for objects in cells)
    assert imported_modules(source) <= {"keras", "numpy"}
    path = tmp_path / f"copied_{chapter}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    copied = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copied)

    for make_layer, shape in layers:
        layer = make_layer()
        layer.build(shape)
        for variable in layer.weights:
            variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
        copy = getattr(copied, type(layer).__name__).from_config(layer.get_config())
        assert type(copy).__module__ == path.stem
        copy.build(shape)
        copy.set_weights(layer.get_weights())
        x = rng.normal(size=shape).astype("float32")
        expected = keras.ops.convert_to_numpy(layer(x))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(copy(x)), expected, atol=1e-6)
