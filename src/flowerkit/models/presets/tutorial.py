"""The ``tutorial`` preset: the TensorFlow image-classification tutorial's CNN."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowerkit.models.registry import register_preset

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
