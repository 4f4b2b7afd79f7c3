"""The built-in presets. Importing this module registers them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowerkit.exceptions import ConfigError
from flowerkit.models import TrainingRecipe, register_preset

if TYPE_CHECKING:
    import keras

__all__: list[str] = []


@register_preset(
    "tutorial",
    description=(
        "The TensorFlow image-classification tutorial's CNN: Rescaling(1/255), three "
        "Conv2D(16/32/64)+MaxPooling2D blocks, Flatten, Dense(128), Dense(classes). "
        "3,989,285 parameters for 5 classes at 180x180. With augmentation=True and "
        "dropout=0.2 it is the tutorial's regularised network."
    ),
    image_size=(180, 180),
)
def _tutorial(
    num_classes: int,
    *,
    image_size: tuple[int, int],
    augmentation: keras.layers.Layer | None,
    dropout: float,
    **options: Any,
) -> keras.Model:
    import keras
    from keras import layers

    inputs = keras.Input(shape=(*image_size, 3), name="image")
    x = inputs if augmentation is None else augmentation(inputs)
    x = layers.Rescaling(1.0 / 255, name="rescaling")(x)
    for i, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(name=f"pool{i}")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="tutorial_cnn")


# --------------------------------------------------------------------------- compact

#: Stage widths of the ``compact`` network at ``width=1``: (filters, residual blocks).
_COMPACT_STAGES: tuple[tuple[int, int], ...] = ((24, 1), (48, 1), (96, 2), (192, 1))
_COMPACT_STEM = 16
#: The largest input the ``compact`` network itself sees; larger images are resized to it
#: (their random crops, in training).
_COMPACT_RESOLUTION = 112


def _compact_resolution(image_size: tuple[int, int]) -> tuple[int, int]:
    return min(image_size[0], _COMPACT_RESOLUTION), min(image_size[1], _COMPACT_RESOLUTION)


def _compact_augmentation(seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer:
    """The ``compact`` preset's augmentation: random-resized crops (30% to 100% of the
    area) resized to the network's resolution, horizontal flips and brightness/contrast
    jitter, all on 0..255 pixels. One resampling per image, so it costs a fraction of
    rotation + zoom + translation."""
    from flowerkit.augment import augmentation_block

    return augmentation_block(
        flip="horizontal",
        crop=0.3,
        crop_size=_compact_resolution(image_size),
        rotation=0,
        zoom=0,
        contrast=0.2,
        brightness=0.15,
        seed=seed,
    )


def _conv_bn(
    x: Any,
    filters: int,
    kernel: int,
    strides: int,
    name: str,
    *,
    relu: bool = True,
    zero_gamma: bool = False,
) -> Any:
    from keras import layers

    x = layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(
        momentum=0.9, gamma_initializer="zeros" if zero_gamma else "ones", name=f"{name}_bn"
    )(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual_block(x: Any, filters: int, strides: int, name: str) -> Any:
    """A ResNet basic block (two 3x3 convolutions). The last batch norm starts at zero, so
    every block starts as the identity; the shortcut downsamples with average pooling and
    a 1x1 convolution (ResNet-D) when the shape changes."""
    from keras import layers

    y = _conv_bn(x, filters, 3, strides, f"{name}_a")
    y = _conv_bn(y, filters, 3, 1, f"{name}_b", relu=False, zero_gamma=True)
    shortcut = x
    if strides != 1:
        shortcut = layers.AveragePooling2D(strides, padding="same", name=f"{name}_pool")(shortcut)
    if strides != 1 or int(x.shape[-1]) != filters:
        shortcut = _conv_bn(shortcut, filters, 1, 1, f"{name}_proj", relu=False)
    x = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(x)


@register_preset(
    "compact",
    description=(
        "A compact residual CNN for small photo data sets trained from scratch on a CPU: "
        "a stride-2 stem and four stages of ResNet basic blocks (24/48/96/192 filters, "
        "5 blocks) with batch normalization, global average pooling, dropout and one Dense "
        "layer. Images are fed at 160x160 and the network sees 112x112 (at most): random "
        "crops of the 160x160 image resized to 112x112 in training, the whole image resized "
        "at inference. Random-resized-crop, flip and colour augmentation by default; "
        "AdamW with weight decay, cosine schedule with warm-up and label smoothing. "
        "Option `width` scales every layer's filters."
    ),
    image_size=(160, 160),
    augment_by_default=True,
    augmentation=_compact_augmentation,
    dropout=0.2,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=3e-3,
        weight_decay=0.05,
        label_smoothing=0.1,
        schedule="cosine",
        warmup_epochs=2,
        recalibrate_batchnorm=True,
    ),
    options=("width",),
)
def _compact(
    num_classes: int,
    *,
    image_size: tuple[int, int],
    augmentation: keras.layers.Layer | None,
    dropout: float,
    width: float = 1.0,
    **options: Any,
) -> keras.Model:
    import keras
    from keras import layers

    if isinstance(width, bool) or not isinstance(width, int | float) or not 0.25 <= width <= 4:
        raise ConfigError(f"`width` must be a number between 0.25 and 4. Received: width={width!r}")
    if min(image_size) < 32:
        raise ConfigError(
            "The 'compact' preset needs images of at least 32x32. "
            f"Received: image_size={image_size}"
        )

    def scaled(filters: int) -> int:
        return max(8, round(filters * width / 8) * 8)

    inputs = keras.Input(shape=(*image_size, 3), name="image")
    x = inputs if augmentation is None else augmentation(inputs)
    resolution = _compact_resolution(image_size)
    if tuple(x.shape[1:3]) != resolution:  # no augmentation, or one that keeps the size
        x = layers.Resizing(*resolution, interpolation="bilinear", name="resize")(x)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(x)
    x = _conv_bn(x, scaled(_COMPACT_STEM), 3, 2, "stem")
    for s, (filters, blocks) in enumerate(_COMPACT_STAGES, start=1):
        for b in range(blocks):
            x = _residual_block(x, scaled(filters), 2 if b == 0 else 1, f"stage{s}_block{b + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="compact_resnet")


# --------------------------------------------------------------------------- transfer


def _check_weights(weights: object) -> str | None:
    """``"imagenet"``, ``None`` or an existing local weights file (returned as a string)."""
    if weights is None or weights == "imagenet":
        return weights
    if isinstance(weights, str | os.PathLike):
        path = Path(os.fspath(weights)).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"`weights` file {str(path)!r} does not exist. Pass weights='imagenet' "
                "(downloaded by Keras), a local .weights.h5/.h5 file, or None for random "
                "initialisation."
            )
        return str(path)
    raise ConfigError(
        "`weights` must be 'imagenet', a path to a weights file, or None. "
        f"Received: weights={weights!r}"
    )


def _with_inference_batch_norm(model: keras.Model) -> keras.Model:
    """A copy of the functional ``model`` (same name, layer names and weights) in which
    every ``BatchNormalization`` is an
    :class:`~flowerkit.layers.InferenceBatchNormalization`."""
    import keras

    from flowerkit.layers import InferenceBatchNormalization

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.BatchNormalization):
            return InferenceBatchNormalization.from_batch_normalization(layer)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _transfer_augmentation(seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer:
    """Light augmentation for a pretrained backbone: flips, small rotations and zoom."""
    from flowerkit.augment import augmentation_block

    return augmentation_block(flip="horizontal", rotation=0.05, zoom=0.15, seed=seed)


#: Input sizes Keras has ImageNet weights for (other sizes warn and load the 224 weights).
_MOBILENET_SIZES = (96, 128, 160, 192, 224)


@register_preset(
    "mobilenet_v2",
    description=(
        "Transfer learning on keras.applications.MobileNetV2 (alpha 1.0, ImageNet weights "
        "by default): in-model preprocessing to [-1, 1], the backbone as a frozen sub-model "
        "named 'backbone' whose pretrained batch norms always run in inference mode, then global "
        "average pooling, dropout and a Dense layer. 160x160 input. Option `weights`: "
        "'imagenet' (downloaded by Keras), a local weights file, or None."
    ),
    image_size=(160, 160),
    augment_by_default=True,
    augmentation=_transfer_augmentation,
    dropout=0.2,
    recipe=TrainingRecipe(
        optimizer="adam",
        learning_rate=1e-3,
        label_smoothing=0.1,
        schedule="cosine",
        warmup_epochs=0,
    ),
    options=("weights",),
)
def _mobilenet_v2(
    num_classes: int,
    *,
    image_size: tuple[int, int],
    augmentation: keras.layers.Layer | None,
    dropout: float,
    weights: str | os.PathLike[str] | None = "imagenet",
    **options: Any,
) -> keras.Model:
    import keras
    from keras import layers

    source = _check_weights(weights)
    if min(image_size) < 32:
        raise ConfigError(
            "The 'mobilenet_v2' preset needs images of at least 32x32. "
            f"Received: image_size={image_size}"
        )
    if source == "imagenet" and (
        image_size[0] != image_size[1] or image_size[0] not in _MOBILENET_SIZES
    ):
        raise ConfigError(
            "ImageNet weights for MobileNetV2 exist for square inputs of "
            f"{', '.join(map(str, _MOBILENET_SIZES))} pixels. Received: image_size={image_size}"
        )
    pretrained = keras.applications.MobileNetV2(
        input_shape=(*image_size, 3),
        alpha=1.0,
        include_top=False,
        weights=source,
        name="backbone",
    )
    # Pretrained statistics must survive fine-tuning; random ones (weights=None) must not
    # be frozen, or the backbone could never be trained from scratch.
    backbone = pretrained if source is None else _with_inference_batch_norm(pretrained)
    backbone.trainable = False
    inputs = keras.Input(shape=(*image_size, 3), name="image")
    x = inputs if augmentation is None else augmentation(inputs)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    x = backbone(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2_classifier")
