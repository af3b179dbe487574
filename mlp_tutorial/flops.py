"""Analytic forward FLOPs per image of the book's models, and of self-attention.

A matrix product counts ``2 m n k``, an FFT over ``N`` points ``5 N log2 N`` (radix 2);
element-wise work is left out. Training costs about three forward passes.
"""

import math

from mlp_tutorial.checks import check_choice
from mlp_tutorial.classifier import MODEL_NAMES, block_widths


def _matmul(m, n, k):
    """FLOPs of an ``(m, k) @ (k, n)`` product."""
    return 2 * m * n * k


def block_flops(name, *, num_patches, width, **widths):
    """FLOPs of one block on ``P`` patches of width ``C``, ``{part: flops}``.

    ``name``: a model, its ``widths`` as in :func:`~mlp_tutorial.classifier.block_widths`;
    or ``"attention"``, a Transformer encoder block (self-attention, a ``4 C``-wide MLP).
    """
    p, c = num_patches, width
    if check_choice("name", name, (*MODEL_NAMES, "attention")) == "attention":
        return {
            "Q, K, V and output projections": 4 * p * _matmul(1, c, c),
            "scores and weighted sum (P x P)": 2 * _matmul(p, p, c),
            "feed-forward": p * (_matmul(1, 4 * c, c) + _matmul(1, c, 4 * c)),
        }
    w = block_widths(name, c, **widths)
    if name == "mixer":
        d_s, d_c = w["tokens_mlp_dim"], w["channels_mlp_dim"]
        return {
            "token mixing": c * (_matmul(1, d_s, p) + _matmul(1, p, d_s)),
            "channel mixing": p * (_matmul(1, d_c, c) + _matmul(1, c, d_c)),
        }
    f = w["ffn_dim"]
    if name == "fnet":
        return {
            "Re(FFT2)": 5 * p * c * math.log2(p * c),
            "feed-forward": p * (_matmul(1, f, c) + _matmul(1, c, f)),
        }
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
