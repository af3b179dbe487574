"""From raw images to logits: the classifier around the blocks, and the three models."""

import keras
from keras import layers

from mlp_tutorial.augment import build_augmentation
from mlp_tutorial.fnet import FNetBlock
from mlp_tutorial.gmlp import GMLPBlock
from mlp_tutorial.mixer import MixerBlock
from mlp_tutorial.patches import Patches, PositionEmbedding
from mlp_tutorial.validation import check_choice, check_positive_int, check_rate

BLOCKS = {"mixer": MixerBlock, "fnet": FNetBlock, "gmlp": GMLPBlock}
MODEL_NAMES = tuple(BLOCKS)
#: Keras dtype policies to build under (``keras.config.set_dtype_policy``): float32, or
#: 16-bit compute with float32 weights (bfloat16 for CPUs and TPUs, float16 for GPUs).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

# The Keras example's configuration (image 64, patch 8, dim 256, 4 blocks, dropout 0.2).
DEFAULTS = dict(image_size=64, patch_size=8, embedding_dim=256, num_blocks=4, dropout_rate=0.2)


def build_classifier(
    blocks,
    *,
    num_classes=100,
    input_shape=(32, 32, 3),
    image_size=DEFAULTS["image_size"],
    patch_size=DEFAULTS["patch_size"],
    embedding_dim=DEFAULTS["embedding_dim"],
    dropout_rate=DEFAULTS["dropout_rate"],
    position_embedding=False,
    final_norm=False,
    augmentation="seed",
    name="classifier",
):
    """An uncompiled classifier from ``(B, *input_shape)`` images to ``(B, num_classes)`` logits.

    The ``augmentation`` (a name for :func:`~mlp_tutorial.augment.build_augmentation`, or a
    layer) takes raw images, pixel values 0-255, to ``image_size x image_size``; then come
    patches, a Dense embedding of width ``D = embedding_dim``, a :class:`PositionEmbedding`
    if ``position_embedding`` (FNet needs one), the ``blocks`` (layers from ``(B, P, D)`` to
    ``(B, P, D)``), a LayerNorm if ``final_norm``, an average over the patches, dropout
    (``dropout_rate``) and a Dense head.
    """
    image_size = check_positive_int("image_size", image_size)
    patch_size = check_positive_int("patch_size", patch_size)
    if image_size % patch_size:
        raise ValueError(f"`image_size` {image_size} is not divisible by `patch_size` {patch_size}")
    num_classes = check_positive_int("num_classes", num_classes)
    embedding_dim = check_positive_int("embedding_dim", embedding_dim)
    dropout_rate = check_rate("dropout_rate", dropout_rate)
    if isinstance(augmentation, str):
        augmentation = build_augmentation(augmentation, image_size=image_size)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = augmentation(inputs)
    x = Patches(patch_size, name="patches")(x)
    x = layers.Dense(embedding_dim, name="patch_embedding")(x)
    if position_embedding:
        x = PositionEmbedding(name="position_embedding")(x)
    for block in blocks:
        x = block(x)
    if final_norm:
        x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(dropout_rate, name="head_dropout")(x)
    # float32 logits under mixed precision too, as Keras' mixed-precision guide advises:
    # a 16-bit softmax loses small probabilities, and TensorFlow's top-k takes no bfloat16.
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def build_model(
    name,
    *,
    embedding_dim=DEFAULTS["embedding_dim"],
    num_blocks=DEFAULTS["num_blocks"],
    dropout_rate=DEFAULTS["dropout_rate"],
    image_size=DEFAULTS["image_size"],
    patch_size=DEFAULTS["patch_size"],
    num_classes=100,
    input_shape=(32, 32, 3),
    augmentation="seed",
    **widths,
):
    """Build the MLP-Mixer, FNet or gMLP image classifier: ``name`` ``"mixer"``, ``"fnet"``
    or ``"gmlp"``, ``num_blocks`` blocks of the hidden ``widths`` ``tokens_mlp_dim`` and
    ``channels_mlp_dim`` (Mixer) or ``ffn_dim`` (FNet, gMLP), defaults in :func:`block_widths`;
    the other arguments are those of :func:`build_classifier`. The Mixer and gMLP end with a
    LayerNorm before the head, as the Mixer authors' code and timm do (on CIFAR-100 it did
    not hurt the Mixer: ``benchmarks/README.md``); FNet's blocks already end in one.

    Example:
    >>> build_model("gmlp", num_classes=10, image_size=32, patch_size=4).output_shape
    (None, 10)
    """
    embedding_dim = check_positive_int("embedding_dim", embedding_dim)
    widths = block_widths(name, embedding_dim, **widths)
    dropout_rate = check_rate("dropout_rate", dropout_rate)
    num_blocks = check_positive_int("num_blocks", num_blocks)
    blocks = [
        BLOCKS[name](**widths, dropout_rate=dropout_rate, name=f"{name}_block_{i}")
        for i in range(num_blocks)
    ]
    return build_classifier(
        blocks,
        num_classes=num_classes,
        input_shape=input_shape,
        image_size=image_size,
        patch_size=patch_size,
        embedding_dim=embedding_dim,
        dropout_rate=dropout_rate,
        position_embedding=name == "fnet",
        # gMLP's residual stream is normalized nowhere else; FNet's blocks end in a norm.
        final_norm=name != "fnet",
        augmentation=augmentation,
        name=name,
    )


def block_widths(name, embedding_dim, **widths):
    """The hidden widths of ``name``'s blocks at width ``D = embedding_dim``, ``{arg: width}``.

    The ``widths`` given (not None), else the Mixer paper's ``tokens_mlp_dim = D / 2`` and
    ``channels_mlp_dim = 4 D``, and the Keras example's ``ffn_dim``: FNet ``D``, gMLP ``2 D``.
    On CIFAR-100 (benchmarks/README.md) these led at equal CPU time: FNet's paper ``4 D``
    gained 3 points per epoch at twice the cost, gMLP's ``6 D`` nothing at 2.4 times it.

    >>> block_widths("mixer", 64, channels_mlp_dim=128)
    {'tokens_mlp_dim': 32, 'channels_mlp_dim': 128}
    """
    d = embedding_dim
    defaults = {
        "mixer": {"tokens_mlp_dim": max(1, d // 2), "channels_mlp_dim": 4 * d},
        "fnet": {"ffn_dim": d},
        "gmlp": {"ffn_dim": 2 * d},
    }[check_choice("name", name, MODEL_NAMES)]
    for arg, width in widths.items():
        if arg not in defaults:
            raise ValueError(f"`{arg}` is not a width of {name!r}; choose from {list(defaults)}.")
        if width is not None:
            defaults[arg] = check_positive_int(arg, width)
    return defaults
