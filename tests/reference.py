"""NumPy references of the equations the layers implement, written independently of Keras."""

import numpy as np
from scipy.special import erf


def gelu(x):
    """Exact GELU: x * Phi(x)."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def layer_norm(x, gamma, beta, eps=1e-6):
    """LayerNorm over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def patches(images, p):
    """Patch k = image[r*p:(r+1)*p, c*p:(c+1)*p, :] flattened, for k = r * cols + c."""
    b, h, w, c = images.shape
    out = []
    for r in range(h // p):
        for col in range(w // p):
            out.append(images[:, r * p : (r + 1) * p, col * p : (col + 1) * p, :].reshape(b, -1))
    return np.stack(out, axis=1)


def mixer_block(x, w):
    """U = X + (W2ᵀ-side) token MLP along patches; Y = U + channel MLP (Tolstikhin et al.)."""
    y = layer_norm(x, w["ln1_g"], w["ln1_b"])
    yt = np.swapaxes(y, 1, 2)  # (B, C, P): each row is one channel's sequence of patches
    tok = gelu(yt @ w["tw1"] + w["tb1"]) @ w["tw2"] + w["tb2"]
    u = x + np.swapaxes(tok, 1, 2)
    z = layer_norm(u, w["ln2_g"], w["ln2_b"])
    return u + gelu(z @ w["cw1"] + w["cb1"]) @ w["cw2"] + w["cb2"]


def fnet_block(x, w):
    """Y = LN(X + Re(FFT2(X))); Z = LN(Y + FFN(Y)), FFT2 over (patches, channels)."""
    y = layer_norm(x + np.fft.fft2(x, axes=(1, 2)).real, w["ln1_g"], w["ln1_b"])
    ffn = gelu(y @ w["fw1"] + w["fb1"]) @ w["fw2"] + w["fb2"]
    return layer_norm(y + ffn, w["ln2_g"], w["ln2_b"])


def spatial_gating_unit(x, w):
    """s(Z) = Z1 ⊙ (W · LN(Z2) + b), with W (P, P) mixing patches and b one value per patch."""
    u, v = np.split(x, 2, axis=-1)
    v = layer_norm(v, w["ln_g"], w["ln_b"])
    return u * (np.einsum("ij,bjc->bic", w["W"], v) + w["b"][:, None])


def gmlp_block(x, w):
    """Y = X + SGU(GELU(LN(X) U)) V: the residual adds the block's input."""
    z = gelu(layer_norm(x, w["ln_g"], w["ln_b"]) @ w["U"] + w["U_b"])
    return x + spatial_gating_unit(z, w["sgu"]) @ w["V"] + w["V_b"]
