"""How much arithmetic one image costs: analytic FLOPs of the book's models.

Every matmul or einsum counts ``2 * m * n * k`` (a multiply and an add per term), forward
pass only, per image. Element-wise work (GELU, LayerNorm, dropout, residual adds,
resizing) is left out: it is small in FLOPs, though not always in time on a CPU. A complex
FFT over ``N`` points counts ``5 N log2 N``, the usual radix-2 estimate. Training costs
about three forward passes (forward, gradients of the activations, gradients of the
weights).
"""

import math

from mlp_tutorial.classifier import MODEL_NAMES
from mlp_tutorial.validation import check_choice


def _matmul(m, n, k):
    """FLOPs of an ``(m, k) @ (k, n)`` product."""
    return 2 * m * n * k


def block_flops(
    name, *, num_patches, width, tokens_mlp_dim=None, channels_mlp_dim=None, ffn_dim=None
):
    """Forward FLOPs of one block on one image, ``{part: flops}``; widths default as in
    :func:`mlp_tutorial.build_model` (Mixer D_S = C/2, D_C = 4C; FNet C; gMLP 2C)."""
    check_choice("name", name, MODEL_NAMES)
    p, c = num_patches, width
    if name == "mixer":
        d_s, d_c = tokens_mlp_dim or max(1, c // 2), channels_mlp_dim or 4 * c
        return {
            "token mixing": c * (_matmul(1, d_s, p) + _matmul(1, p, d_s)),
            "channel mixing": p * (_matmul(1, d_c, c) + _matmul(1, c, d_c)),
        }
    if name == "fnet":
        f = ffn_dim or c
        return {
            "Re(FFT2)": 5 * p * c * math.log2(p * c),
            "feed-forward": p * (_matmul(1, f, c) + _matmul(1, c, f)),
        }
    f = ffn_dim or 2 * c
    return {
        "channel projections": p * (_matmul(1, f, c) + _matmul(1, c, f // 2)),
        "spatial gating (P x P)": _matmul(p, f // 2, p),
    }


def model_flops(
    name, *, image_size, patch_size, embedding_dim, num_blocks, num_classes, channels=3, **widths
):
    """Forward FLOPs per image of ``build_model(name, ...)``, ``{part: flops}``."""
    p = (image_size // patch_size) ** 2
    parts = {"patch embedding": p * _matmul(1, embedding_dim, patch_size**2 * channels)}
    per_block = block_flops(name, num_patches=p, width=embedding_dim, **widths)
    parts.update({f"{k} (x{num_blocks})": num_blocks * v for k, v in per_block.items()})
    parts["head"] = _matmul(1, num_classes, embedding_dim)
    return {k: float(v) for k, v in parts.items()}
