"""NumPy references of the equations the layers implement, written independently of Keras.

Weights come as tuples: a LayerNorm as ``(gamma, beta)``, a dense map as ``(W, b)``, an
MLP as ``(W1, b1, W2, b2)``.
"""

import numpy as np
from scipy.special import erf


def gelu(x):
    """Exact GELU: x * Phi(x)."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def layer_norm(x, norm, eps=1e-6):
    """LayerNorm over the last axis, ``norm = (gamma, beta)``."""
    gamma, beta = norm
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def mlp(x, weights):
    """GELU(x W1 + b1) W2 + b2 on the last axis."""
    w1, b1, w2, b2 = weights
    return gelu(x @ w1 + b1) @ w2 + b2


def patches(images, p):
    """Patch k = image[r*p:(r+1)*p, c*p:(c+1)*p, :] flattened, for k = r * cols + c."""
    b, h, w, c = images.shape
    out = []
    for r in range(h // p):
        for col in range(w // p):
            out.append(images[:, r * p : (r + 1) * p, col * p : (col + 1) * p, :].reshape(b, -1))
    return np.stack(out, axis=1)


def mixer_block(x, w):
    """U = X + token MLP along patches, per channel; Y = U + channel MLP (Tolstikhin et al.)."""
    y = np.swapaxes(layer_norm(x, w["norm_tokens"]), 1, 2)  # (B, C, P): a channel per row
    u = x + np.swapaxes(mlp(y, w["mlp_tokens"]), 1, 2)
    return u + mlp(layer_norm(u, w["norm_channels"]), w["mlp_channels"])


def fnet_block(x, w):
    """Y = LN(X + Re(FFT2(X))); Z = LN(Y + FFN(Y)), FFT2 over (patches, channels)."""
    y = layer_norm(x + np.fft.fft2(x, axes=(1, 2)).real, w["norm_mixing"])
    return layer_norm(y + mlp(y, w["ffn"]), w["norm_ffn"])


def spatial_gating_unit(x, w):
    """s(Z) = Z1 ⊙ (W · LN(Z2) + b), with W (P, P) mixing patches and b one value per patch."""
    u, v = np.split(x, 2, axis=-1)
    v = layer_norm(v, w["norm"])
    return u * (np.einsum("ij,bjc->bic", w["W"], v) + w["b"][:, None])


def gmlp_block(x, w):
    """Y = X + SGU(GELU(LN(X) U)) V: the residual adds the block's input."""
    u, u_bias = w["U"]
    z = gelu(layer_norm(x, w["norm"]) @ u + u_bias)
    v, v_bias = w["V"]
    return x + spatial_gating_unit(z, w["sgu"]) @ v + v_bias
