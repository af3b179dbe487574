"""A faithful rebuild of the Keras example's three models: the benchmarks' baseline.

The example is the Keras example "Image classification with modern MLP models" (Khalid
Salama, last modified 2023/08/03). This module rebuilds its MLP-Mixer, FNet and gMLP with
the same layers, in the same order, with the same defaults, so that the project's models
can be timed and trained against it. It is a baseline: do not optimise it. Where the
example does something the project deliberately changes (one LayerNorm shared by both
Mixer sub-layers, hidden widths equal to the number of patches, gMLP's residual on the
*normalized* input, a conv-based patch extractor, Dropout inside FNet's feed-forward
network), it is kept here as the example has it.

    uint8 (B, 32, 32, 3) -> Normalization (adapted) -> Resizing -> RandomFlip -> RandomZoom
      -> Patches (keras.ops.image.extract_patches) -> Dense(embedding_dim)
      [-> x + PositionEmbedding(x) for FNet] -> Sequential(blocks)
      -> GlobalAveragePooling1D -> Dropout -> Dense(num_classes)

The example's configuration, learning rates and weight decay are the package's
(``mlp_tutorial.classifier.EXAMPLE``, ``MODELS[name].example``,
``mlp_tutorial.parameters.PARAMETERS["weight_decay"].example``).
"""

import keras
from keras import layers

from mlp_tutorial.classifier import EXAMPLE, MODELS
from mlp_tutorial.parameters import PARAMETERS

EXAMPLE_NAMES = tuple(MODELS)
# The example's per-model learning rates and weight decay.
EXAMPLE_LEARNING_RATES = {name: spec.example["learning_rate"] for name, spec in MODELS.items()}
EXAMPLE_WEIGHT_DECAY = PARAMETERS["weight_decay"].example


def example_augmentation(image_size, adapt_images=None):
    """The example's ``data_augmentation`` Sequential; adapts Normalization when given images."""
    augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(image_size, image_size),
            layers.RandomFlip("horizontal"),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ],
        name="data_augmentation",
    )
    if adapt_images is not None:
        augmentation.layers[0].adapt(adapt_images)
    return augmentation


class ExamplePatches(layers.Layer):
    """The example's ``Patches``: ``keras.ops.image.extract_patches`` then a reshape."""

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        patches = keras.ops.image.extract_patches(x, self.patch_size)
        batch_size = keras.ops.shape(patches)[0]
        num_patches = keras.ops.shape(patches)[1] * keras.ops.shape(patches)[2]
        patch_dim = keras.ops.shape(patches)[3]
        return keras.ops.reshape(patches, (batch_size, num_patches, patch_dim))


class ExamplePositionEmbedding(layers.Layer):
    """The example's ``PositionEmbedding`` (after KerasNLP's): returns the embeddings
    broadcast to the input's shape; the caller adds them (``x + PositionEmbedding(x)``)."""

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if sequence_length is None:
            raise ValueError("`sequence_length` must be an Integer, received `None`.")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        feature_size = input_shape[-1]
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=[self.sequence_length, feature_size],
            initializer=self.initializer,
            trainable=True,
        )

    def call(self, inputs, start_index=0):
        shape = keras.ops.shape(inputs)
        feature_length = shape[-1]
        sequence_length = shape[-2]
        position_embeddings = keras.ops.convert_to_tensor(self.position_embeddings)
        position_embeddings = keras.ops.slice(
            position_embeddings, (start_index, 0), (sequence_length, feature_length)
        )
        return keras.ops.broadcast_to(position_embeddings, shape)

    def compute_output_shape(self, input_shape):
        return input_shape


class ExampleMLPMixerLayer(layers.Layer):
    """The example's ``MLPMixerLayer``: one LayerNorm shared by both MLPs, both hidden widths
    equal to ``num_patches``, token mixing as transpose -> Dense -> transpose."""

    def __init__(self, num_patches, hidden_units, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mlp1 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                layers.Dense(units=num_patches),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.mlp2 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                layers.Dense(units=hidden_units),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.normalize = layers.LayerNormalization(epsilon=1e-6)

    def build(self, input_shape):
        return super().build(input_shape)

    def call(self, inputs):
        x = self.normalize(inputs)
        x_channels = keras.ops.transpose(x, axes=(0, 2, 1))
        mlp1_outputs = self.mlp1(x_channels)
        mlp1_outputs = keras.ops.transpose(mlp1_outputs, axes=(0, 2, 1))
        x = mlp1_outputs + inputs
        x_patches = self.normalize(x)
        mlp2_outputs = self.mlp2(x_patches)
        return x + mlp2_outputs


class ExampleFNetLayer(layers.Layer):
    """The example's ``FNetLayer``: Re(fft2) token mixing, post-LayerNorm, and a
    feed-forward network Dense(gelu) -> Dropout -> Dense, all of width ``embedding_dim``."""

    def __init__(self, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ffn = keras.Sequential(
            [
                layers.Dense(units=embedding_dim, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
                layers.Dense(units=embedding_dim),
            ]
        )
        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def call(self, inputs):
        real_part = inputs
        im_part = keras.ops.zeros_like(inputs)
        x = keras.ops.fft2((real_part, im_part))[0]
        x = x + inputs
        x = self.normalize1(x)
        x_ffn = self.ffn(x)
        x = x + x_ffn
        return self.normalize2(x)


class ExampleGMLPLayer(layers.Layer):
    """The example's ``gMLPLayer``: the residual adds the *normalized* input; the spatial
    projection is a Dense(num_patches, bias ones) on the transposed gate half."""

    def __init__(self, num_patches, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_projection1 = keras.Sequential(
            [
                layers.Dense(units=embedding_dim * 2, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.channel_projection2 = layers.Dense(units=embedding_dim)
        self.spatial_projection = layers.Dense(units=num_patches, bias_initializer="Ones")
        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def spatial_gating_unit(self, x):
        u, v = keras.ops.split(x, indices_or_sections=2, axis=2)
        v = self.normalize2(v)
        v_channels = keras.ops.transpose(v, axes=(0, 2, 1))
        v_projected = self.spatial_projection(v_channels)
        v_projected = keras.ops.transpose(v_projected, axes=(0, 2, 1))
        return u * v_projected

    def call(self, inputs):
        x = self.normalize1(inputs)
        x_projected = self.channel_projection1(x)
        x_spatial = self.spatial_gating_unit(x_projected)
        x_projected = self.channel_projection2(x_spatial)
        return x + x_projected


def build_example_classifier(
    blocks,
    *,
    num_classes,
    input_shape,
    image_size,
    patch_size,
    embedding_dim,
    dropout_rate,
    positional_encoding=False,
    augmentation=True,
    adapt_images=None,
    name="example_classifier",
):
    """The example's ``build_classifier``. ``augmentation=False`` keeps Normalization and
    Resizing but drops RandomFlip and RandomZoom (for measuring what they cost)."""
    num_patches = (image_size // patch_size) ** 2
    data_augmentation = example_augmentation(image_size, adapt_images)
    if not augmentation:
        data_augmentation = keras.Sequential(
            data_augmentation.layers[:2], name="data_augmentation_off"
        )
    inputs = layers.Input(shape=input_shape)
    augmented = data_augmentation(inputs)
    patches = ExamplePatches(patch_size)(augmented)
    x = layers.Dense(units=embedding_dim)(patches)
    if positional_encoding:
        x = x + ExamplePositionEmbedding(sequence_length=num_patches)(x)
    x = blocks(x)
    representation = layers.GlobalAveragePooling1D()(x)
    representation = layers.Dropout(rate=dropout_rate)(representation)
    logits = layers.Dense(num_classes)(representation)
    return keras.Model(inputs=inputs, outputs=logits, name=name)


def build_example_model(
    name,
    num_classes=100,
    *,
    input_shape=(32, 32, 3),
    image_size=EXAMPLE["image_size"],
    patch_size=EXAMPLE["patch_size"],
    embedding_dim=EXAMPLE["embedding_dim"],
    num_blocks=EXAMPLE["num_blocks"],
    dropout_rate=EXAMPLE["dropout_rate"],
    augmentation=True,
    adapt_images=None,
):
    """The example's MLP-Mixer (``"mixer"``), FNet (``"fnet"``) or gMLP (``"gmlp"``).

    Returns an uncompiled ``keras.Model`` from 0-255 images to logits. ``adapt_images``
    (uint8 ``(N, H, W, 3)``, training split) adapts the Normalization layer as the example
    does with ``data_augmentation.layers[0].adapt(x_train)``; without it the layer has
    mean 0 and variance 1 (fine for timing, not for training).
    """
    if name not in EXAMPLE_NAMES:
        raise ValueError(f"`name` must be one of {EXAMPLE_NAMES}; got {name!r}.")
    if image_size % patch_size:
        raise ValueError(f"`patch_size` ({patch_size}) must divide `image_size` ({image_size}).")
    num_patches = (image_size // patch_size) ** 2
    if name == "mixer":
        layer_list = [
            ExampleMLPMixerLayer(num_patches, embedding_dim, dropout_rate)
            for _ in range(num_blocks)
        ]
    elif name == "fnet":
        layer_list = [ExampleFNetLayer(embedding_dim, dropout_rate) for _ in range(num_blocks)]
    else:
        layer_list = [
            ExampleGMLPLayer(num_patches, embedding_dim, dropout_rate) for _ in range(num_blocks)
        ]
    blocks = keras.Sequential(layer_list, name=f"example_{name}_blocks")
    return build_example_classifier(
        blocks,
        num_classes=num_classes,
        input_shape=input_shape,
        image_size=image_size,
        patch_size=patch_size,
        embedding_dim=embedding_dim,
        dropout_rate=dropout_rate,
        positional_encoding=name == "fnet",
        augmentation=augmentation,
        adapt_images=adapt_images,
        name=f"example_{name}",
    )


def compile_example_model(
    model, *, learning_rate, weight_decay=EXAMPLE_WEIGHT_DECAY, **compile_kwargs
):
    """The example's ``run_experiment`` compile: AdamW, cross-entropy on logits, top-1/top-5."""
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc"),
        ],
        **compile_kwargs,
    )
    return model
