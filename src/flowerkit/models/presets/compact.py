"""The ``compact`` preset: a small residual CNN trained from scratch on a CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowerkit.core.cluster import multi_worker
from flowerkit.exceptions import ConfigError
from flowerkit.models.augment import augmentation_block
from flowerkit.models.recipe import TrainingRecipe
from flowerkit.models.registry import register_preset

if TYPE_CHECKING:
    import keras

__all__: list[str] = []


#: Stage widths of the ``compact`` network at ``width=1``: (filters, residual blocks).
_COMPACT_STAGES: tuple[tuple[int, int], ...] = ((24, 1), (48, 1), (96, 2), (192, 1))
_COMPACT_STEM = 16
#: The largest input the ``compact`` network itself sees; larger images are resized to it
#: (their random crops, in training).
_COMPACT_RESOLUTION = 112


def _compact_resolution(image_size: tuple[int, int]) -> tuple[int, int]:
    return min(image_size[0], _COMPACT_RESOLUTION), min(image_size[1], _COMPACT_RESOLUTION)


def _compact_augmentation(seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer:
    """The ``compact`` preset's augmentation, all on 0..255 pixels.

    Random-resized crops (30% to 100% of the area) resized to the network's resolution,
    horizontal flips and brightness/contrast jitter. One resampling per image, so it costs
    a fraction of rotation + zoom + translation.
    """
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


def _across_workers() -> bool:
    """Whether the model is built for several workers: its batch norms then compute their
    statistics over the global batch (every worker's moving statistics stay the same,
    where each worker's own would drift apart and only the chief's be saved)."""
    import tensorflow as tf

    return multi_worker(tf.distribute.get_strategy())


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
        momentum=0.9,
        gamma_initializer="zeros" if zero_gamma else "ones",
        synchronized=_across_workers(),
        name=f"{name}_bn",
    )(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual_block(x: Any, filters: int, strides: int, name: str) -> Any:
    """A ResNet basic block (two 3x3 convolutions).

    The last batch norm starts at zero, so every block starts as the identity; the shortcut
    downsamples with average pooling and a 1x1 convolution (ResNet-D) when the shape
    changes.
    """
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
        "AdamW with weight decay, warm-up then a linear decay, label smoothing, 40 epochs "
        "with progressive resizing (crops from 64x64 growing to 112x112 over the first 60% "
        "of the epochs). "
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
        # A straight-line decay and progressive resizing (64 px crops growing to 112 px
        # over the first 60% of the epochs) fit 40 epochs in the time of 30: +2.4 points
        # on flowers over two seeds (docs/benchmarks.md, "compact, one technique at a
        # time").
        schedule="linear",
        warmup_epochs=2,
        recalibrate_batchnorm=True,
        epochs=40,
        progressive_from=64,
        progressive_until=0.6,
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
