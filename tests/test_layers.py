"""Each block against a NumPy reference of its paper's equation, on the active backend.

Weights (LayerNorm scales and offsets included) are set to random values first, so a
reference that skipped a bias, a norm or a transpose would not match by accident.
"""

import inspect

import keras
import numpy as np
import pytest
import reference as ref

from mlp_tutorial import (
    FNetBlock,
    GMLPBlock,
    MixerBlock,
    Patches,
    PositionEmbedding,
    SpatialGatingUnit,
    fourier_mix,
)
from mlp_tutorial.layers import MLP

pytestmark = pytest.mark.backend

ATOL = 2e-5


def randomize(layer, rng, scale=0.3):
    """Give every variable of a built layer random values; return nothing."""
    for variable in layer.weights:
        variable.assign(rng.normal(0, scale, variable.shape).astype("float32"))


def np_(variable):
    return keras.ops.convert_to_numpy(variable).astype("float64")


def weights(layer):
    """A layer's weights in creation order, as float64 arrays: (gamma, beta) of a
    LayerNorm, (W, b) of a Dense layer, (W1, b1, W2, b2) of an MLP."""
    return tuple(np_(variable) for variable in layer.weights)


def run(layer, x, **kwargs):
    return keras.ops.convert_to_numpy(layer(x.astype("float32"), **kwargs)).astype("float64")


# ---------------------------------------------------------------- patches


def test_patches_match_slicing_reference(rng):
    """Patch k is the k-th p x p tile in reading order, flattened as (row, col, channel)."""
    images = rng.integers(0, 256, (3, 32, 24, 3)).astype("float32")
    out = run(Patches(8), images)
    assert out.shape == (3, 4 * 3, 8 * 8 * 3)
    np.testing.assert_array_equal(out, ref.patches(images, 8))


def test_patches_match_keras_extract_patches(rng):
    """The reshape/transpose gives the same sequence as keras.ops.image.extract_patches."""
    images = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.ops.image.extract_patches(images, 4))
    np.testing.assert_allclose(run(Patches(4), images), expected.reshape(2, 16, 48), atol=1e-6)


def test_position_embedding_adds_one_vector_per_position(rng):
    """PositionEmbedding(x) = x + E with E of shape (P, D), the same for every example."""
    layer = PositionEmbedding()
    x = rng.normal(size=(4, 6, 5))
    out = run(layer, x)
    table = np_(layer.embeddings)
    assert table.shape == (6, 5)
    np.testing.assert_allclose(out - x, np.broadcast_to(table, x.shape), atol=1e-6)


def test_position_table_starts_glorot_uniform():
    """The table starts uniform in +-sqrt(6 / (P + D)) (the Keras example's start); ViT's
    std-0.02 normal did no better on CIFAR-100 (benchmarks/README.md)."""
    layer = PositionEmbedding()
    layer.build((None, 64, 32))
    table = np_(layer.embeddings)
    limit = np.sqrt(6 / (64 + 32))
    assert np.abs(table).max() <= limit
    np.testing.assert_allclose(table.std(), limit / np.sqrt(3), rtol=0.05)


# ---------------------------------------------------------------- Mixer


def test_mixer_block_matches_reference(rng):
    """Token MLP along patches per channel, channel MLP per patch, two separate LayerNorms."""
    layer = MixerBlock(tokens_mlp_dim=5, channels_mlp_dim=7)
    x = rng.normal(size=(2, 9, 4))
    layer.build(x.shape)
    randomize(layer, rng)
    names = ("norm_tokens", "mlp_tokens", "norm_channels", "mlp_channels")
    w = {name: weights(getattr(layer, name)) for name in names}
    np.testing.assert_allclose(run(layer, x), ref.mixer_block(x, w), atol=ATOL)


@pytest.mark.parametrize(
    "silenced, changed", [("mlp_channels", "norm_channels"), ("mlp_tokens", "norm_tokens")]
)
def test_mixer_norms_act_on_their_own_mlp_only(silenced, changed, rng):
    """With one MLP's output zeroed, rescaling that MLP's LayerNorm changes nothing, and
    rescaling the other norm does: each norm feeds one MLP (the seed shares one norm)."""
    layer = MixerBlock(tokens_mlp_dim=3, channels_mlp_dim=4)
    x = rng.normal(size=(2, 6, 5))
    layer.build(x.shape)
    randomize(layer, rng)
    out_dense = getattr(layer, silenced).dense_2
    for variable in out_dense.weights:
        variable.assign(np.zeros(variable.shape, "float32"))
    other = {"norm_channels": "norm_tokens", "norm_tokens": "norm_channels"}[changed]
    before = run(layer, x)
    for name, expect_change in ((changed, False), (other, True)):
        gamma = getattr(layer, name).gamma
        gamma.assign(3.0 * keras.ops.convert_to_numpy(gamma))
        after = run(layer, x)
        assert np.allclose(after, before, atol=1e-6) is not expect_change, name
        before = after


# ---------------------------------------------------------------- FNet


def test_fourier_mix_is_real_part_of_fft2(rng):
    """fourier_mix(x) = Re(FFT2(x)) over (patches, channels), batch by batch."""
    x = rng.normal(size=(3, 8, 6))
    out = keras.ops.convert_to_numpy(fourier_mix(x.astype("float32")))
    np.testing.assert_allclose(out, np.fft.fft2(x, axes=(1, 2)).real, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_fourier_mix_accepts_mixed_precision_inputs(dtype, rng):
    """Low-precision inputs are transformed in float32 and come back in their own dtype
    (TensorFlow's FFT takes float32/float64 only), so FNet trains under mixed precision."""
    x = rng.normal(size=(2, 8, 6))
    out = fourier_mix(keras.ops.cast(x, dtype))
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    out = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
    np.testing.assert_allclose(out, np.fft.fft2(x, axes=(1, 2)).real, atol=0.3)


def test_fnet_block_runs_under_mixed_bfloat16(rng):
    """Under Keras' mixed_bfloat16 policy the block computes in bfloat16 end to end."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = FNetBlock(ffn_dim=8)
        out = layer(rng.normal(size=(2, 8, 6)).astype("float32"))
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))).all()


def test_fnet_block_matches_reference(rng):
    """Y = LN(X + Re(FFT2 X)); Z = LN(Y + FFN(Y)): post-LayerNorm, as in the paper."""
    layer = FNetBlock(ffn_dim=10)
    x = rng.normal(size=(2, 8, 6))
    layer.build(x.shape)
    randomize(layer, rng)
    w = {name: weights(getattr(layer, name)) for name in ("norm_mixing", "ffn", "norm_ffn")}
    np.testing.assert_allclose(run(layer, x), ref.fnet_block(x, w), atol=1e-4)


def test_fnet_mixes_every_token_with_every_other(rng):
    """Changing one value of one input token changes every output token.

    Re(FFT2) of a single spike at (patch j, channel c) is cos(2π(jk/P + cl/C)) at output
    (k, l): for every output patch k some channel l is non-zero.
    """
    layer = FNetBlock(ffn_dim=8)
    x = rng.normal(size=(1, 8, 6))
    bumped = x.copy()
    bumped[0, 3, 2] += 1.0
    diff = np.abs(run(layer, bumped) - run(layer, x)).max(axis=-1)[0]
    assert (diff > 1e-4).all()


# ---------------------------------------------------------------- gMLP


def sgu_weights(layer):
    return dict(norm=weights(layer.norm), W=np_(layer.spatial_kernel), b=np_(layer.spatial_bias))


def test_spatial_gating_unit_matches_reference(rng):
    """s(Z) = Z1 ⊙ (W · LN(Z2) + b), with W mixing the patch axis."""
    layer = SpatialGatingUnit()
    x = rng.normal(size=(3, 7, 10))
    layer.build(x.shape)
    randomize(layer, rng)
    out = run(layer, x)
    assert out.shape == (3, 7, 5)
    np.testing.assert_allclose(out, ref.spatial_gating_unit(x, sgu_weights(layer)), atol=ATOL)


def test_spatial_gating_unit_is_identity_on_u_at_init(rng):
    """W ≈ 0 and b = 1 at initialisation, so the unit returns (about) u, the first half."""
    layer = SpatialGatingUnit()
    x = rng.normal(size=(4, 16, 12))
    out = run(layer, x)
    assert np.abs(np_(layer.spatial_kernel)).max() < 1e-4
    np.testing.assert_array_equal(np_(layer.spatial_bias), np.ones(16))
    np.testing.assert_allclose(out, x[..., :6], atol=1e-4)
    assert not np.allclose(out, x[..., 6:], atol=1e-2)


def test_gmlp_block_matches_reference(rng):
    """Y = X + SGU(GELU(LN(X) U)) V."""
    layer = GMLPBlock(ffn_dim=12)
    x = rng.normal(size=(2, 9, 6))
    layer.build(x.shape)
    randomize(layer, rng)
    w = dict(
        norm=weights(layer.norm),
        U=weights(layer.channel_proj_in),
        sgu=sgu_weights(layer.sgu),
        V=weights(layer.channel_proj_out),
    )
    np.testing.assert_allclose(run(layer, x), ref.gmlp_block(x, w), atol=ATOL)


def test_gmlp_residual_adds_the_input_not_the_normalized_input(rng):
    """With the output projection zeroed, the block returns exactly its input X.

    The Keras example returns LN(X) + ..., which would fail this: LN(X) != X.
    """
    layer = GMLPBlock(ffn_dim=8)
    x = rng.normal(3.0, 2.0, size=(2, 5, 4))
    layer.build(x.shape)
    randomize(layer, rng)
    layer.channel_proj_out.kernel.assign(np.zeros((4, 4), "float32"))
    layer.channel_proj_out.bias.assign(np.zeros(4, "float32"))
    np.testing.assert_allclose(run(layer, x), x, atol=1e-6)


# ---------------------------------------------------------------- shapes, configs, errors


BLOCKS = {
    "mixer": lambda: MixerBlock(tokens_mlp_dim=6, channels_mlp_dim=20, dropout_rate=0.1),
    "fnet": lambda: FNetBlock(ffn_dim=16, dropout_rate=0.2),
    "gmlp": lambda: GMLPBlock(ffn_dim=16, dropout_rate=0.3),
    "position": lambda: PositionEmbedding(),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize("batch", [1, 3, 8])
def test_block_keeps_sequence_shape(name, batch, rng):
    """Every block maps (B, P, C) to (B, P, C), eagerly and in a functional model."""
    x = rng.normal(size=(batch, 16, 10)).astype("float32")
    assert tuple(BLOCKS[name]()(x).shape) == (batch, 16, 10)
    assert BLOCKS[name]()(keras.Input((16, 10))).shape == (None, 16, 10)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: Patches(4), (2, 8, 12, 3)),
        (lambda: SpatialGatingUnit(), (2, 7, 10)),
        (lambda: MLP(5, dropout_rate=0.1), (2, 7, 6)),
        *[(make, (2, 9, 10)) for make in BLOCKS.values()],
    ],
)
def test_config_round_trip_rebuilds_the_same_function(make, shape, rng):
    """from_config(get_config()) gives a layer that, with the same weights, computes the
    same outputs (dropout off): every constructor argument is in the config."""
    layer = make()
    layer.build(shape)
    randomize(layer, rng)
    clone = type(layer).from_config(layer.get_config())
    clone.build(shape)
    clone.set_weights(layer.get_weights())
    x = rng.normal(size=shape)
    np.testing.assert_array_equal(run(clone, x, training=False), run(layer, x, training=False))
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    arguments = inspect.signature(type(layer)).parameters.values()
    assert {a.name for a in arguments if a.kind in named} <= set(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Patches(0), "patch_size"),
        (lambda: Patches(2.5), "patch_size"),
        (lambda: MixerBlock(0, 8), "units"),
        (lambda: MixerBlock(8, -1), "units"),
        (lambda: MixerBlock(8, 8, dropout_rate=1.5), "rate"),
        (lambda: FNetBlock(0), "units"),
        (lambda: FNetBlock(8, dropout_rate=-0.1), "rate"),
        (lambda: GMLPBlock(7), "`ffn_dim`, expected an even integer"),
        (lambda: GMLPBlock(0), "`ffn_dim`, expected an even integer"),
    ],
)
def test_bad_arguments_raise_when_the_layer_is_made(make, message):
    """Keras' own layers reject a bad width or rate; gMLP adds the one check they cannot."""
    with pytest.raises(ValueError, match=message):
        make()


def test_patches_explain_a_size_they_cannot_tile():
    with pytest.raises(ValueError, match="not divisible by patch_size=5"):
        Patches(5).build((None, 32, 32, 3))
