"""Unfreezing a pretrained backbone for fine-tuning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowerkit.core import validation as v
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import keras

__all__ = ["backbone", "unfreeze"]


def backbone(model: keras.Model) -> keras.Model:
    """The sub-model named ``"backbone"`` (the transfer presets have one).

    Raises:
        ~flowerkit.ConfigError: ``model`` has none.
    """
    try:
        return model.get_layer("backbone")
    except ValueError:
        raise ConfigError(
            "Fine-tuning needs a sub-model named 'backbone' (the transfer presets such as "
            "'mobilenet_v2' have one); this model has none."
        ) from None


def unfreeze(model: keras.Model, layers: int | None) -> None:
    """Make the top ``layers`` layers of ``model``'s backbone trainable.

    Batch-norm layers always stay frozen so their pretrained statistics survive.

    Args:
        model: a model with a sub-model named ``"backbone"``.
        layers: how many of the backbone's top layers to unfreeze (``None``: all of them).

    Raises:
        ~flowerkit.ConfigError: ``model`` has no backbone, or ``layers`` is not
            a positive integer.
    """
    import keras

    sub = backbone(model)
    sub.trainable = True
    members = sub.layers
    first = 0
    if layers is not None:
        first = max(0, len(members) - v.check_positive_int(layers, "layers"))
    # Each layer is set, both ways: a layer frozen by an earlier call with fewer layers
    # stays frozen when only the backbone is set trainable again.
    for i, layer in enumerate(members):
        layer.trainable = i >= first and not isinstance(layer, keras.layers.BatchNormalization)
