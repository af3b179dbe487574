"""From raw images to logits: the table of the three models and the classifier around them."""

import dataclasses

import keras
from keras import layers

from mlp_tutorial.augment import build_augmentation
from mlp_tutorial.checks import check_choice, check_patch_size, check_positive_int, check_rate
from mlp_tutorial.layers import FNetBlock, GMLPBlock, MixerBlock, Patches, PositionEmbedding

#: Keras dtype policies to build under (``keras.config.set_dtype_policy``): float32, or
#: 16-bit compute with float32 weights (bfloat16 for CPUs and TPUs, float16 for GPUs).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

#: The Keras example's classifier: 32 x 32 images upsampled to 64 x 64, 8 x 8 patches (so
#: P = 64), width 256, 4 blocks, dropout 0.2. ``build_model``'s defaults.
EXAMPLE = dict(image_size=64, patch_size=8, embedding_dim=256, num_blocks=4, dropout_rate=0.2)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One of the book's models.

    ``block``: its layer; ``widths(D)``: its hidden widths at width ``D`` (the defaults of
    :func:`build_model`); ``position_embedding``, ``final_norm``: what the classifier adds
    around the blocks; ``example``: the Keras example's hidden widths and learning rate, and
    the test top-1 and top-5 it reports on CIFAR-100 after 50 epochs.
    """

    block: type
    widths: object  # embedding_dim -> {argument: width}
    position_embedding: bool
    final_norm: bool
    example: dict


MODELS = {
    # The paper's widths D_S = D / 2 and D_C = 4 D; the example's are P and P. A LayerNorm
    # before the head, as in the authors' code and timm.
    "mixer": ModelSpec(
        MixerBlock,
        lambda d: dict(tokens_mlp_dim=max(1, d // 2), channels_mlp_dim=4 * d),
        position_embedding=False, final_norm=True,
        example=dict(tokens_mlp_dim=64, channels_mlp_dim=64, learning_rate=0.005,
                     top1=0.4758, top5=0.772),
    ),
    # Fourier mixing sees a set of patches unless each carries its position; the blocks
    # end in a LayerNorm already.
    "fnet": ModelSpec(
        FNetBlock, lambda d: dict(ffn_dim=d), position_embedding=True, final_norm=False,
        example=dict(ffn_dim=256, learning_rate=0.001, top1=0.4663, top5=0.765),
    ),
    # gMLP's residual stream is normalized nowhere else.
    "gmlp": ModelSpec(
        GMLPBlock, lambda d: dict(ffn_dim=2 * d), position_embedding=False, final_norm=True,
        example=dict(ffn_dim=512, learning_rate=0.003, top1=0.5064, top5=0.783),
    ),
}  # fmt: skip
MODEL_NAMES = tuple(MODELS)
#: Every hidden-width argument of any model (``tokens_mlp_dim``, ``channels_mlp_dim``, ``ffn_dim``).
WIDTHS = tuple(dict.fromkeys(arg for spec in MODELS.values() for arg in spec.widths(1)))


def build_classifier(
    blocks,
    *,
    num_classes=100,
    input_shape=(32, 32, 3),
    image_size=EXAMPLE["image_size"],
    patch_size=EXAMPLE["patch_size"],
    embedding_dim=EXAMPLE["embedding_dim"],
    dropout_rate=EXAMPLE["dropout_rate"],
    position_embedding=False,
    final_norm=False,
    augmentation="example",
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
    patch_size = check_patch_size(image_size, patch_size)
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


def build_model(name, *, embedding_dim=EXAMPLE["embedding_dim"], num_blocks=EXAMPLE["num_blocks"],
                dropout_rate=EXAMPLE["dropout_rate"], **options):  # fmt: skip
    """Build the MLP-Mixer, FNet or gMLP image classifier (``name`` in :data:`MODELS`):
    ``num_blocks`` blocks with the hidden widths in ``options`` (``tokens_mlp_dim`` and
    ``channels_mlp_dim``, or ``ffn_dim``; defaults: :func:`block_widths`), inside
    :func:`build_classifier`, whose arguments the other ``options`` are.

    Example:
    >>> build_model("gmlp", num_classes=10, image_size=32, patch_size=4).output_shape
    (None, 10)
    """
    spec = MODELS[check_choice("name", name, MODEL_NAMES)]
    embedding_dim = check_positive_int("embedding_dim", embedding_dim)
    given = {key: options.pop(key) for key in WIDTHS if key in options}
    widths = block_widths(name, embedding_dim, **given)
    dropout_rate = check_rate("dropout_rate", dropout_rate)
    blocks = [
        spec.block(**widths, dropout_rate=dropout_rate, name=f"{name}_block_{i}")
        for i in range(check_positive_int("num_blocks", num_blocks))
    ]
    return build_classifier(
        blocks, embedding_dim=embedding_dim, dropout_rate=dropout_rate, name=name,
        position_embedding=spec.position_embedding, final_norm=spec.final_norm, **options,
    )  # fmt: skip


def block_widths(name, embedding_dim, **widths):
    """The hidden widths of ``name``'s blocks at width ``D = embedding_dim``, ``{arg: width}``:
    the ``widths`` given (not None), else the model's defaults (:data:`MODELS`).

    >>> block_widths("mixer", 64, channels_mlp_dim=128)
    {'tokens_mlp_dim': 32, 'channels_mlp_dim': 128}
    """
    defaults = MODELS[check_choice("name", name, MODEL_NAMES)].widths(embedding_dim)
    for arg, width in widths.items():
        if arg not in defaults:
            raise ValueError(f"`{arg}` is not a width of {name!r}; choose from {list(defaults)}.")
        if width is not None:
            defaults[arg] = check_positive_int(arg, width)
    return defaults
