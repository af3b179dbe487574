"""GELU and LayerNorm with hand-written gradients against Keras' own, on the active backend.

Values must match Keras' functions, and gradients must match what automatic
differentiation of Keras' functions gives (and, for GELU, the closed form), for random
inputs and random upstream gradients, so a wrong sign or a missing term cannot pass.
"""

import keras
import numpy as np
import pytest
from scipy.stats import norm

from mlp_tutorial.custom_gradients import LayerNorm, gelu

pytestmark = pytest.mark.backend


def value_and_grads(fn, *args):
    """``fn(*args)`` and the gradients of ``sum(fn(*args) * w)`` for every arg, as NumPy;
    ``w`` is a fixed random upstream gradient."""
    args = [np.asarray(a, "float32") for a in args]
    w = np.random.default_rng(7).normal(size=np.shape(fn(*args))).astype("float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            out = fn(*tensors)
            loss = tf.reduce_sum(out * w)
        grads = tape.gradient(loss, tensors)
    elif backend == "jax":
        import jax

        out = fn(*args)
        grads = jax.grad(lambda *a: (fn(*a) * w).sum(), argnums=tuple(range(len(args))))(*args)
    else:
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in args]
        out = fn(*tensors)
        (out * torch.tensor(w)).sum().backward()
        grads = [t.grad for t in tensors]
    return keras.ops.convert_to_numpy(out), [keras.ops.convert_to_numpy(g) for g in grads], w


def test_gelu_matches_keras_exact_gelu_and_its_gradient(rng):
    x = rng.normal(0, 2, size=(3, 5, 7))
    mine, (d_mine,), w = value_and_grads(gelu, x)
    keras_out, (d_keras,), _ = value_and_grads(lambda t: keras.ops.gelu(t, approximate=False), x)
    np.testing.assert_allclose(mine, keras_out, atol=1e-6)
    np.testing.assert_allclose(mine, x * norm.cdf(x), atol=1e-5)
    np.testing.assert_allclose(d_mine, d_keras, atol=1e-5)
    np.testing.assert_allclose(d_mine, w * (norm.cdf(x) + x * norm.pdf(x)), atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 6), (2, 5, 8)])
def test_layer_norm_matches_keras_layer_and_its_gradients(shape, rng):
    """Output and the gradients for x, gamma and beta equal LayerNormalization's."""
    mine, reference = LayerNorm(epsilon=1e-6), keras.layers.LayerNormalization(epsilon=1e-6)
    for layer in (mine, reference):
        layer.build(shape)
    x = rng.normal(1.0, 3.0, size=shape)
    gamma = rng.normal(1.0, 0.5, size=shape[-1:])
    beta = rng.normal(0.0, 0.5, size=shape[-1:])

    def with_weights(layer):
        def fn(x, gamma, beta):
            # Call the layer with gamma and beta as inputs, so they get gradients too.
            out, _ = layer.stateless_call([gamma, beta], [], x)
            return out

        return fn

    out, grads, _ = value_and_grads(with_weights(mine), x, gamma, beta)
    ref_out, ref_grads, _ = value_and_grads(with_weights(reference), x, gamma, beta)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    for name, g, ref_g in zip(("x", "gamma", "beta"), grads, ref_grads, strict=True):
        np.testing.assert_allclose(g, ref_g, atol=1e-4, err_msg=f"gradient for {name}")
    assert np.abs(grads[0]).max() > 1e-2  # a zero gradient would not be a pass


def test_layer_norm_other_axes_and_dtypes_fall_back_to_keras(rng):
    """Axis 1 of a 3-D input is normalized as Keras does (the hand-written path is
    last-axis only); the config round-trips to the same class."""
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    mine, reference = LayerNorm(axis=1), keras.layers.LayerNormalization(axis=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(mine(x)), keras.ops.convert_to_numpy(reference(x)), atol=1e-6
    )
    clone = LayerNorm.from_config(LayerNorm(epsilon=1e-6).get_config())
    assert type(clone) is LayerNorm and clone.epsilon == 1e-6
