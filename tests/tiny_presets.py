"""Tiny stand-ins for the heavy built-in presets, registered through the public API.

Most of the cost of a short ``fit`` is TensorFlow tracing the model's graphs, which grows
with its number of layers, not with the data: ``compact`` (a residual network) costs about
5 s a fit call and ``mobilenet_v2`` about 8 s, the ``tutorial`` CNN under a second. Tests
whose behaviour lies in the *recipe* or the *training loop* rather than in the architecture
(schedules, batch-norm recalibration, fine-tuning phases, resume, the learning-rate finder,
distillation) use these presets instead; the tests of the built-in presets themselves
(``test_presets.py``, ``test_export.py``, the CLI's default preset, the two-replica run)
keep the real ones.

* :data:`TINY_COMPACT`: ``compact``'s recipe (AdamW with weight decay, label smoothing,
  warm-up and cosine schedule, batch-norm recalibration), its augmentation (random-resized
  crop, flip, colour jitter) and dropout, on a one-convolution network whose stem is named
  as ``compact``'s (``stem_conv``, ``stem_bn``).
* :data:`TINY_TRANSFER`: ``mobilenet_v2``'s recipe (a frozen phase, then fine-tuning of
  the top layers at a lower rate), augmentation and dropout, on a three-layer frozen
  sub-model named ``backbone`` (convolution, batch norm, convolution), as the transfer
  presets have.

Registration lasts for the process (as ``register_preset`` documents); :func:`register`
may be called any number of times.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

TINY_COMPACT = "tiny_compact_recipe"
TINY_TRANSFER = "tiny_transfer_recipe"
#: TINY_TRANSFER with its frozen phase on the images (``frozen_features=False``), as a run
#: under a ``tf.distribute`` strategy trains it: the reference the multi-worker run meets.
TINY_TRANSFER_ON_IMAGES = "tiny_transfer_on_images"


def _tiny_compact(num_classes: int, *, image_size: Any, augmentation: Any, dropout: float) -> Any:
    import keras
    from keras import layers

    inputs = keras.Input((*image_size, 3), name="image")
    x = inputs if augmentation is None else augmentation(inputs)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x))


def _tiny_transfer(num_classes: int, *, image_size: Any, augmentation: Any, dropout: float) -> Any:
    import keras
    from keras import layers

    backbone = keras.Sequential(
        [
            keras.Input((*image_size, 3)),
            layers.Conv2D(4, 3),
            layers.BatchNormalization(),
            layers.Conv2D(4, 3),
        ],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((*image_size, 3), name="image")
    x = inputs if augmentation is None else augmentation(inputs)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    x = backbone(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x))


def register() -> tuple[str, str]:
    """Register (again) both presets; returns ``(TINY_COMPACT, TINY_TRANSFER)``."""
    import flowerkit as fk

    compact = fk.get_preset("compact")
    fk.register_preset(
        TINY_COMPACT,
        description="compact's recipe and augmentation on a one-convolution network (tests).",
        image_size=(32, 32),
        augment_by_default=compact.augment_by_default,
        augmentation=compact.augmentation,
        dropout=compact.dropout,
        recipe=compact.recipe,
        overwrite=True,
    )(_tiny_compact)
    transfer = fk.get_preset("mobilenet_v2")
    for name, recipe, what in (
        (TINY_TRANSFER, transfer.recipe, "mobilenet_v2's recipe"),
        (
            TINY_TRANSFER_ON_IMAGES,
            replace(transfer.recipe, frozen_features=False),
            "mobilenet_v2's recipe, its frozen phase on the images,",
        ),
    ):
        fk.register_preset(
            name,
            description=f"{what} on a three-layer frozen backbone (tests).",
            image_size=(32, 32),
            augment_by_default=transfer.augment_by_default,
            augmentation=transfer.augmentation,
            dropout=transfer.dropout,
            recipe=recipe,
            overwrite=True,
        )(_tiny_transfer)
    return TINY_COMPACT, TINY_TRANSFER
