"""GELU and LayerNorm with hand-written gradients, kept for ``elementwise.py`` to time.

Between its matrix products, a training step of these models is mostly element-wise
work: LayerNorm, GELU, dropout. On a CPU each element-wise op is one pass over a
``(B, P, C)`` tensor in memory, and automatic differentiation of a composite like
``0.5 * x * (1 + erf(x / sqrt(2)))`` adds several more passes in the backward pass.
The two functions here compute exactly what ``keras.ops.gelu(x, approximate=False)``
and ``keras.layers.LayerNormalization`` compute, but give the backward pass in closed
form, reusing what the forward pass already has:

    GELU:      y = x Φ(x)                     dy/dx = Φ(x) + x φ(x)
    LayerNorm: y = γ x̂ + β,  x̂ = (x - μ) / σ  dx = (g - mean(g) - x̂ mean(g x̂)) / σ,
                                                with g = γ dy, means over the last axis

The package used them in every block until issue 12 (commit 5599e3e and before); its
blocks now use Keras' own layers, so a reader can copy them. They live here so that
``elementwise.py`` can still measure what they buy, and ``throughput.py --compare-ref``
what the whole models lost without them. ``elementwise.py`` checks their values and input
gradients against Keras' before timing.
"""

import math

import keras
from keras import layers, ops

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@ops.custom_gradient
def gelu(x):
    """Exact GELU, ``x Φ(x)`` with Φ the standard normal CDF: any shape -> same shape."""
    cdf = 0.5 * (1.0 + ops.erf(x * _INV_SQRT_2))

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream  # TF passes it positionally
        return upstream * (cdf + x * _INV_SQRT_2PI * ops.exp(-0.5 * ops.square(x)))

    return x * cdf, grad


def _layer_norm(x, gamma, beta, epsilon):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` over the last axis."""

    @ops.custom_gradient
    def norm(x, gamma, beta):
        mean = ops.mean(x, axis=-1, keepdims=True)
        centred = x - mean
        inv_std = ops.rsqrt(ops.mean(ops.square(centred), axis=-1, keepdims=True) + epsilon)
        x_hat = centred * inv_std

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            batch_axes = tuple(range(len(upstream.shape) - 1))
            g = upstream * gamma
            dx = inv_std * (
                g
                - ops.mean(g, axis=-1, keepdims=True)
                - x_hat * ops.mean(g * x_hat, axis=-1, keepdims=True)
            )
            d_gamma = ops.sum(upstream * x_hat, axis=batch_axes)
            d_beta = ops.sum(upstream, axis=batch_axes)
            return dx, d_gamma, d_beta

        return x_hat * gamma + beta, grad

    return norm(x, gamma, beta)


class LayerNorm(layers.LayerNormalization):
    """``keras.layers.LayerNormalization`` over the last axis, with a hand-written gradient.

    Same arguments, weights (``gamma``, ``beta``) and outputs as the Keras layer; only
    the backward pass differs (see the module docstring). Other axes, RMS scaling, and
    inputs other than float32 (mixed precision) use the Keras layer's own code.

    Input shape: any, ``(..., C)``. Output shape: the same.
    """

    def call(self, inputs):
        rank = len(inputs.shape)
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        fast = (
            [axis % rank for axis in axes] == [rank - 1]
            and self.scale
            and self.center
            and not self.rms_scaling
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
        )
        if not fast:
            return super().call(inputs)
        # Pass the variables' values, not the variables: TensorFlow's custom_gradient
        # would otherwise expect gradients for the variables it sees read inside.
        gamma, beta = ops.copy(self.gamma), ops.copy(self.beta)
        return _layer_norm(inputs, gamma, beta, self.epsilon)
