"""What ``fit`` and ``fine_tune`` accept as data and class weights, checked and resolved.

Which kinds of data are accepted is decided once, for training, evaluation and export
alike, in :mod:`flowerkit.data.adapt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from flowerkit.core.numeric import balanced_class_weights
from flowerkit.data import Datasets
from flowerkit.data.adapt import training_batches
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["ClassWeight", "resolve_class_weight", "resolve_data"]

ClassWeight = Mapping[int, float] | Literal["balanced"] | None


def resolve_data(
    data: Datasets | tf.data.Dataset,
    validation_data: tf.data.Dataset | None,
    *,
    class_names: Sequence[str],
    image_size: tuple[int, int],
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """``(train, validation)`` pipelines from the data ``fit`` was given.

    The data layer's adapter decides (:func:`flowerkit.data.adapt.training_batches`).

    Args:
        data: :class:`~flowerkit.data.Datasets` (its validation split unless
            ``validation_data`` is given) or a user's ``tf.data.Dataset``.
        validation_data: a validation pipeline, or ``None``.
        class_names: the model's classes, which ``Datasets`` must have, in order.
        image_size: the model's input size, which ``Datasets`` must have.

    Returns:
        The training pipeline and the validation one (``None`` when there is none).

    Raises:
        ~flowerkit.ConfigError: the data's classes or image size differ from
            the model's, or ``data`` is neither.
    """
    return training_batches(
        data, validation_data, class_names=class_names, image_size=image_size, argument="data"
    )


def resolve_class_weight(
    class_weight: object, data: Datasets | tf.data.Dataset, num_classes: int
) -> dict[int, float] | None:
    """The ``{class index: weight}`` that Keras takes, from the user's ``class_weight``.

    Args:
        class_weight: ``None``, ``"balanced"`` (from :meth:`Datasets.class_weights
            <flowerkit.data.Datasets.class_weights>`, or by counting the labels of a
            ``tf.data`` pipeline once) or a mapping of class indices.
        data: the training data, for ``"balanced"``.
        num_classes: how many classes the model has.

    Returns:
        The weights, or ``None`` for ``class_weight=None``.

    Raises:
        ~flowerkit.ConfigError: anything else, or a key that is not a class
            index.
    """
    if class_weight is None:
        return None
    if class_weight == "balanced":
        if isinstance(data, Datasets):
            return data.class_weights()
        labels = [np.asarray(ys).reshape(-1) for _, ys in data]
        return balanced_class_weights(np.concatenate(labels), num_classes)
    if isinstance(class_weight, Mapping):
        bad = [key for key in class_weight if not (isinstance(key, int) and 0 <= key < num_classes)]
        if bad:
            raise ConfigError(
                f"`class_weight` keys must be class indices 0..{num_classes - 1}. "
                f"Received: class_weight={dict(class_weight)!r}"
            )
        return {int(i): float(w) for i, w in class_weight.items()}
    raise ConfigError(
        "`class_weight` must be None, 'balanced' or a {class index: weight} mapping. "
        f"Received: class_weight={class_weight!r}"
    )
