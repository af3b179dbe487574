"""The models the benchmarks compare: the example rebuild, the package, and variants of both.

A variant is written ``base[+modifier...]``.

Bases:

``example``  the Keras example rebuilt layer for layer (:mod:`example_models`).
``project``  ``mlp_tutorial.build_model`` with its defaults.

Modifiers (``example`` takes only ``noaug``, ``jitaug``, ``xla``):

``examplewidths``   the example's hidden widths, so both do the same matmuls: Mixer
                    ``D_S = D_C = P`` (number of patches), FNet ``D``, gMLP ``2D``.
``ffnK``         FNet's or gMLP's feed-forward width ``K * D`` (``ffn4`` = 4D).
``finalnorm``, ``nofinalnorm``   with / without the LayerNorm before the head.
``posglorot``, ``posnormal``     FNet's position table drawn Glorot-uniform, or
                 normal(0, 0.02) as in ViT.
``noaug``    normalize + resize only, no flip or zoom.
``aug32``    flip + zoom at the input's 32x32, then resize (4x fewer pixels to warp).
``jitaug``   every layer marked jittable: ``RandomZoom`` says it is not (its TensorFlow
             op has no XLA kernel), which turns off jit for the whole model on JAX too.
``bf16``     built under Keras' ``mixed_bfloat16`` dtype policy, logits cast to float32
             (Keras' mixed-precision guide; TensorFlow's top-k metric takes no bfloat16).
``xla``      ``jit_compile=True`` (applied by the caller at compile time).
"""

import re

import keras
from example_models import build_example_model
from keras import layers

import mlp_tutorial
import mlp_tutorial.flops

EXAMPLE_MODIFIERS = ("noaug", "jitaug", "xla")
PROJECT_MODIFIERS = (
    "examplewidths", "finalnorm", "nofinalnorm", "posglorot", "posnormal", "aug32", "bf16",
    *EXAMPLE_MODIFIERS,
)  # fmt: skip
EXCLUSIVE = (("finalnorm", "nofinalnorm"), ("posglorot", "posnormal"), ("noaug", "aug32"))
POSITION_INITIALIZERS = {
    "posglorot": keras.initializers.GlorotUniform,
    "posnormal": lambda: keras.initializers.RandomNormal(stddev=0.02),
}


def parse_variant(text):
    """``"project+ffn4"`` -> ``("project", ("ffn4",))``, validated."""
    base, *mods = text.split("+")
    allowed = {"example": EXAMPLE_MODIFIERS, "project": PROJECT_MODIFIERS}.get(base)
    if allowed is None:
        raise ValueError(f"Variant {text!r}: the base must be 'example' or 'project'.")
    bad = [m for m in mods if m not in allowed and not (base == "project" and _ffn(m))]
    if bad:
        ffn = " and ffnK" if base == "project" else ""
        raise ValueError(f"Variant {text!r}: unknown modifiers {bad}; allowed {allowed}{ffn}.")
    for pair in EXCLUSIVE:
        if set(pair) <= set(mods):
            raise ValueError(f"Variant {text!r}: {pair[0]!r} and {pair[1]!r} exclude each other.")
    return base, tuple(mods)


def _ffn(modifier):
    """``"ffn4"`` -> 4; None for any other modifier."""
    match = re.fullmatch(r"ffn([1-9][0-9]*)", modifier)
    return int(match.group(1)) if match else None


def check_variant(name, variant):
    """Raise ValueError if ``variant`` does not apply to model ``name``; returns it parsed."""
    base, mods = parse_variant(variant)
    factors = [_ffn(m) for m in mods if _ffn(m)]
    if factors and name == "mixer":
        raise ValueError(f"{variant!r}: ffnK is for FNet and gMLP; the Mixer has D_S and D_C.")
    if len(factors) + ("examplewidths" in mods) > 1:
        raise ValueError(f"{variant!r}: give one width modifier (examplewidths or one ffnK).")
    if name != "fnet" and set(mods) & set(POSITION_INITIALIZERS):
        raise ValueError(f"{variant!r}: posglorot/posnormal are for FNet, which has positions.")
    return base, mods


def hidden_widths(name, mods, *, image_size, patch_size, embedding_dim, **_):
    """The width arguments of ``build_model`` that ``mods`` ask for (``{}``: its defaults)."""
    factors = [_ffn(m) for m in mods if _ffn(m)]
    if factors:
        return {"ffn_dim": factors[0] * embedding_dim}
    if "examplewidths" not in mods:
        return {}
    if name == "mixer":
        num_patches = (image_size // patch_size) ** 2
        return {"tokens_mlp_dim": num_patches, "channels_mlp_dim": num_patches}
    return {"ffn_dim": (1 if name == "fnet" else 2) * embedding_dim}


def build_variant(name, variant, geometry):
    """An uncompiled model: ``name`` in mixer/fnet/gmlp, ``variant`` as in the module doc.

    ``geometry`` holds ``build_model``'s size arguments.
    """
    base, mods = check_variant(name, variant)
    if base == "example":
        model = build_example_model(name, augmentation="noaug" not in mods, **geometry)
    elif "bf16" in mods:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            model = _build_project(name, mods, geometry)
            logits = layers.Activation("linear", dtype="float32", name="logits_float32")
            model = keras.Model(model.input, logits(model.output), name=model.name)
        finally:
            keras.config.set_dtype_policy(previous)
    else:
        model = _build_project(name, mods, geometry)
    return allow_jit(model) if "jitaug" in mods else model


def _build_project(name, mods, geometry):
    widths = hidden_widths(name, mods, **geometry)
    augmentation = "none" if "noaug" in mods else "example"
    if "aug32" in mods:
        augmentation = augmentation_before_resize(geometry["image_size"])
    model = mlp_tutorial.build_model(name, augmentation=augmentation, **widths, **geometry)
    if "finalnorm" in mods or "nofinalnorm" in mods:
        # build_model decides the pre-head norm per model; to set it, wrap the very blocks
        # build_model made in a classifier of our own.
        block_types = (mlp_tutorial.MixerBlock, mlp_tutorial.FNetBlock, mlp_tutorial.GMLPBlock)
        blocks = [layer for layer in model.layers if isinstance(layer, block_types)]
        geometry = {k: v for k, v in geometry.items() if k != "num_blocks"}
        model = mlp_tutorial.build_classifier(
            blocks,
            position_embedding=name == "fnet",
            final_norm="finalnorm" in mods,
            augmentation=augmentation,
            name=name,
            **geometry,
        )
    for mod in set(mods) & set(POSITION_INITIALIZERS):
        # Drawing the table anew before training is initialising it with that initializer.
        table = next(lay for lay in model.layers if isinstance(lay, mlp_tutorial.PositionEmbedding))
        (weights,) = table.get_weights()
        table.set_weights([keras.ops.convert_to_numpy(POSITION_INITIALIZERS[mod]()(weights.shape))])
    return model


def augmentation_before_resize(image_size, name="augmentation"):
    """Normalize, flip and zoom at the input's 32x32, then resize to ``image_size``."""
    return keras.Sequential(
        [
            layers.Normalization(axis=-1, name="normalize"),
            layers.RandomFlip("horizontal", name="random_flip"),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2, name="random_zoom"),
            layers.Resizing(image_size, image_size, name="resize"),
        ],
        name=name,
    )


def allow_jit(model):
    """Mark every layer of ``model`` as jit-compatible (the ``jitaug`` modifier)."""
    for layer in model._flatten_layers():
        layer.supports_jit = True
    return model


def forward_flops(name, variant, geometry):
    """Forward FLOPs per image of a variant, from the package's counter ``mlp_tutorial.flops``.

    The example does the matmuls of the package's blocks at the example's widths, plus one:
    ``keras.ops.image.extract_patches`` is a convolution with an identity kernel.
    """
    base, mods = parse_variant(variant)
    counted = {k: v for k, v in geometry.items() if k != "dropout_rate"}
    if base == "example":
        widths = hidden_widths(name, ("examplewidths",), **geometry)
        num_patches = (geometry["image_size"] // geometry["patch_size"]) ** 2
        patch_dim = geometry["patch_size"] ** 2 * 3
        identity_conv = num_patches * 2 * patch_dim * patch_dim
        return identity_conv + sum(
            mlp_tutorial.flops.model_flops(name, **counted, **widths).values()
        )
    widths = hidden_widths(name, mods, **geometry)
    return sum(mlp_tutorial.flops.model_flops(name, **counted, **widths).values())
