"""The three classifiers: shapes, parameters, save/load, and every argument error."""

import keras
import numpy as np
import pytest

from mlp_tutorial import MODEL_NAMES, build_model
from mlp_tutorial.augment import adapt_normalization, build_augmentation

pytestmark = pytest.mark.backend

SMALL = dict(num_classes=7, image_size=16, patch_size=4, embedding_dim=16, num_blocks=2)


def images(rng, n):
    return rng.integers(0, 256, (n, 32, 32, 3)).astype("uint8")


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("batch", [1, 5])
def test_model_maps_raw_images_to_logits(name, batch, rng):
    """(B, 32, 32, 3) pixels in 0-255 -> (B, num_classes) finite logits."""
    model = build_model(name, **SMALL)
    out = keras.ops.convert_to_numpy(model(images(rng, batch).astype("float32")))
    assert out.shape == (batch, 7)
    assert np.isfinite(out).all()


def test_default_configuration_is_the_keras_examples():
    """Image 64, patch 8 -> 64 patches of 192 values, width 256, 4 blocks, dropout 0.2."""
    model = build_model("gmlp")
    assert model.get_layer("patches").output.shape[1:] == (64, 192)
    assert model.get_layer("patch_embedding").units == 256
    blocks = [layer for layer in model.layers if layer.name.startswith("gmlp_block")]
    assert len(blocks) == 4
    assert {b.dropout_rate for b in blocks} == {0.2}
    assert model.output_shape == (None, 100)


@pytest.mark.parametrize(
    "name, widths, expected",
    [
        # Mixer: D_S = C / 2 and D_C = 4 C by default (Tolstikhin et al., Table 1)
        ("mixer", {}, {"tokens_mlp_dim": 32, "channels_mlp_dim": 256}),
        ("mixer", {"tokens_mlp_dim": 8}, {"tokens_mlp_dim": 8, "channels_mlp_dim": 256}),
        ("fnet", {}, {"ffn_dim": 64}),
        ("gmlp", {}, {"ffn_dim": 128}),
        ("gmlp", {"ffn_dim": 2}, {"ffn_dim": 2}),
    ],
)
def test_blocks_get_the_given_widths_or_the_defaults(name, widths, expected):
    model = build_model(name, embedding_dim=64, num_blocks=1, **widths)
    block = model.get_layer(f"{name}_block_0")
    assert {key: getattr(block, key) for key in expected} == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        # patch embedding 48*16+16, head 16*7+7, final norm 32 (not fnet), and per block:
        # mixer: 2 norms 64 + token (16*8+8 + 8*16+16) + channel (16*64+64 + 64*16+16)
        ("mixer", 48 * 16 + 16 + 16 * 7 + 7 + 32 + 2 * (64 + 280 + 2128)),
        # fnet: position table 16*16, 2 norms 64, ffn (16*16+16)*2
        ("fnet", 48 * 16 + 16 + 16 * 7 + 7 + 256 + 2 * (64 + 544)),
        # gmlp: norm 32, proj in 16*32+32, SGU norm 32 + W 16*16 + b 16, proj out 16*16+16
        ("gmlp", 48 * 16 + 16 + 16 * 7 + 7 + 32 + 2 * (32 + 544 + 32 + 272 + 272)),
    ],
)
def test_parameter_counts_match_the_architecture(name, expected):
    """Trainable parameters equal a count by hand from the equations."""
    model = build_model(name, **SMALL)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == expected


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keras_file_round_trip_gives_equal_predictions(name, rng, tmp_path):
    """A saved .keras model, normalization statistics included, predicts the same."""
    model = build_model(name, **SMALL)
    x = images(rng, 6)
    assert adapt_normalization(model, images(rng, 50)) == 1
    before = model.predict(x, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, atol=1e-5)
    mean = loaded.get_layer("augmentation").get_layer("normalize").adapt_mean
    assert np.abs(keras.ops.convert_to_numpy(mean)).min() > 1.0


def test_augmentation_is_random_in_training_only(rng):
    """Flip and zoom change images when training=True; inference is deterministic."""
    aug = build_augmentation("example", image_size=32)
    x = images(rng, 8).astype("float32")
    infer_a = keras.ops.convert_to_numpy(aug(x, training=False))
    infer_b = keras.ops.convert_to_numpy(aug(x, training=False))
    train = keras.ops.convert_to_numpy(aug(x, training=True))
    np.testing.assert_array_equal(infer_a, infer_b)
    np.testing.assert_allclose(infer_a, x, atol=1e-3)  # unadapted normalize + same size
    assert np.abs(train - infer_a).max() > 1.0


def test_seed_augmentation_lets_jax_compile_the_train_step(rng):
    """On JAX Keras jit-compiles a model with the seed pipeline (RandomZoom is jittable
    there); on TensorFlow it must not (its zoom op has no XLA kernel)."""
    model = build_model("gmlp", **SMALL)
    model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    assert model.jit_compile is (keras.backend.backend() == "jax")
    loss = model.train_on_batch(images(rng, 4), np.arange(4) % 7)  # compiles and runs
    assert np.isfinite(loss)


def test_normalization_uses_the_training_statistics(rng):
    """After adapt, normalized pixels have per-channel mean 0 and variance 1 on that data."""
    aug = build_augmentation("none", image_size=32)
    x = images(rng, 64)
    aug.build((None, 32, 32, 3))
    assert adapt_normalization(aug, x) == 1
    out = keras.ops.convert_to_numpy(aug(x.astype("float32"), training=False))
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.var(axis=(0, 1, 2)), 1.0, atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(name="resnet"), "name"),
        (dict(name="gmlp", image_size=30, patch_size=8), "image_size"),
        (dict(name="gmlp", image_size=0), "image_size"),
        (dict(name="gmlp", patch_size=-8), "patch_size"),
        (dict(name="gmlp", embedding_dim=0), "embedding_dim"),
        (dict(name="mixer", num_blocks=0), "num_blocks"),
        (dict(name="fnet", dropout_rate=1.5), "dropout_rate"),
        (dict(name="fnet", num_classes=0), "num_classes"),
        (dict(name="gmlp", augmentation="autoaugment"), "augmentation"),
        # a width of 0 is an error, not a request for the default
        (dict(name="mixer", tokens_mlp_dim=0), "tokens_mlp_dim"),
        (dict(name="mixer", channels_mlp_dim=0), "channels_mlp_dim"),
        (dict(name="fnet", ffn_dim=0), "ffn_dim"),
        (dict(name="gmlp", ffn_dim=7), "ffn_dim"),
        (dict(name="fnet", tokens_mlp_dim=8), "tokens_mlp_dim"),
    ],
)
def test_build_model_errors_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        build_model(**kwargs)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="'mixer', 'fnet', 'gmlp'"):
        build_model("vit")
