"""Analytic FLOPs per image for the seed's and the project's models.

Counts the multiply-adds of every matmul, einsum and transform as ``2 * m * n * k`` (one
multiply and one add per term), forward pass only, per image. Element-wise work
(GELU, LayerNorm, dropout, adds, resizing and augmentation) is not counted: it is
memory-bound and small in FLOPs, though not in time on a CPU. A complex FFT of ``N``
points counts ``5 N log2 N``, the usual estimate for radix-2 algorithms. Training is
taken as 3x the forward pass (forward, gradient w.r.t. the activations, gradient w.r.t.
the weights), the usual rule of thumb; it slightly over-counts the first layer and the
parameter-free transforms, which need no weight gradient.
"""

import math


def _mm(m, n, k):
    """FLOPs of an ``(m, k) @ (k, n)`` matmul."""
    return 2 * m * n * k


def forward_flops(
    name,
    *,
    impl="project",
    modifiers=(),
    widths="seed",
    image_size=64,
    patch_size=8,
    embedding_dim=256,
    num_blocks=4,
    num_classes=100,
    channels=3,
):
    """Forward FLOPs per image, as ``{component: flops}`` (sum them for the total).

    Args:
        name: ``"mixer"``, ``"fnet"`` or ``"gmlp"``.
        impl: ``"seed"`` (the Keras example, :mod:`seed_models`) or ``"project"``.
        modifiers: the variant's modifiers (see :mod:`variants`); only the Fourier method
            changes the count.
        widths: the project Mixer's hidden widths, ``"seed"`` (= number of patches) or
            ``"paper"`` (``D_S = D/2``, ``D_C = 4D``).
    """
    p_count = (image_size // patch_size) ** 2  # P, tokens
    patch_dim = patch_size * patch_size * channels
    d = embedding_dim
    out = {}
    if impl == "seed":
        # keras.ops.image.extract_patches is a convolution with an identity kernel.
        out["patches (identity conv)"] = p_count * _mm(1, patch_dim, patch_dim)
    out["patch embedding"] = p_count * _mm(1, d, patch_dim)
    per_block = {}
    if name == "mixer":
        if impl == "seed" or widths == "seed":
            d_s = d_c = p_count
        else:
            d_s, d_c = max(1, d // 2), 4 * d
        per_block["token mixing"] = d * (_mm(1, d_s, p_count) + _mm(1, p_count, d_s))
        per_block["channel mixing"] = p_count * (_mm(1, d_c, d) + _mm(1, d, d_c))
    elif name == "fnet":
        method = next((m for m in ("dft", "dfthalf", "rfft") if m in modifiers), "fft2")
        if impl == "seed":
            method = "fft2"
        n = p_count * d
        if method == "fft2":
            per_block["Re(FFT2)"] = 5 * n * math.log2(n)
        elif method == "dft":
            per_block["Re(FFT2) as 4 DFT matmuls"] = 2 * _mm(p_count, d, d) + 2 * _mm(
                p_count, d, p_count
            )
        elif method == "dfthalf":
            per_block["Re(FFT2) as half-DFT matmuls"] = _mm(p_count, d, d) + _mm(
                p_count, d, p_count
            )
        else:
            half = d // 2 + 1
            per_block["Re(FFT2) as rfft + DFT matmuls"] = p_count * 2.5 * d * math.log2(
                d
            ) + 2 * _mm(p_count, half, p_count)
        per_block["feed-forward"] = p_count * (_mm(1, d, d) + _mm(1, d, d))
    elif name == "gmlp":
        ffn = 2 * d
        per_block["channel projection in"] = p_count * _mm(1, ffn, d)
        per_block["spatial gating (P x P)"] = _mm(p_count, ffn // 2, p_count)
        per_block["channel projection out"] = p_count * _mm(1, d, ffn // 2)
    else:
        raise ValueError(f"Unknown model {name!r}.")
    for key, value in per_block.items():
        out[f"{key} (x{num_blocks})"] = num_blocks * value
    out["head"] = _mm(1, num_classes, d)
    return {k: float(v) for k, v in out.items()}


def training_flops(**kwargs):
    """Training FLOPs per image: 3x the forward pass."""
    return 3.0 * sum(forward_flops(**kwargs).values())


def check_against_package(**config):
    """For the project's models, the totals must equal ``mlp_tutorial.flops.model_flops``
    (written independently); returns ``{(model, widths): (ours, package)}``."""
    from mlp_tutorial.flops import model_flops

    config = {
        "image_size": 64, "patch_size": 8, "embedding_dim": 256, "num_blocks": 4,
        "num_classes": 100, **config,
    }  # fmt: skip
    p = (config["image_size"] // config["patch_size"]) ** 2
    out = {}
    for model, widths, kw in (
        ("mixer", "seed", {"tokens_mlp_dim": p, "channels_mlp_dim": p}),
        ("mixer", "paper", {}),
        ("fnet", "seed", {}),
        ("gmlp", "seed", {}),
    ):
        ours = sum(forward_flops(model, impl="project", widths=widths, **config).values())
        theirs = sum(model_flops(model, **config, **kw).values())
        out[(model, widths)] = (ours, theirs)
        assert abs(ours - theirs) < 1e-6 * theirs, (model, widths, ours, theirs)
    return out


if __name__ == "__main__":
    for key, (ours, theirs) in check_against_package().items():
        print(f"{key}: {ours / 1e6:.2f} MFLOP/img, mlp_tutorial.flops agrees ({theirs / 1e6:.2f})")
    for model in ("mixer", "fnet", "gmlp"):
        for impl, widths in (("seed", "seed"), ("project", "seed"), ("project", "paper")):
            if widths == "paper" and model != "mixer":
                continue
            parts = forward_flops(model, impl=impl, widths=widths)
            total = sum(parts.values())
            print(f"{model:5s} {impl:7s} widths={widths:5s} forward {total / 1e6:7.1f} MFLOP/img")
            for key, value in parts.items():
                print(f"    {key:38s} {value / 1e6:7.2f}")
