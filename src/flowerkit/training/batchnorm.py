"""Re-estimating batch-normalization statistics after training ("precise BN").

During training a batch-norm layer keeps an exponential moving average of the last few
batches' statistics, and those batches are augmented (random crops, colour jitter) while
the images it is evaluated on are not. Recomputing the statistics as a plain average over
the whole training set, with augmentation skipped, matches what the model sees at
inference time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from flowerkit.exceptions import DatasetError
from flowerkit.models.augment import AUGMENTATION_LAYER

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["RECALIBRATION_EPOCHS", "recalibrate_batchnorm", "trainable_batchnorm"]

#: What a recalibration pass costs, as a share of an epoch of training (forward passes
#: only, so about a third; rounded up), for time budgets to keep in reserve.
RECALIBRATION_EPOCHS = 0.5


def _layers(layer: Any) -> Iterator[Any]:
    for child in getattr(layer, "layers", ()):
        yield child
        yield from _layers(child)


def trainable_batchnorm(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The batch-norm layers, nested ones included, that update their statistics in training.

    Frozen ones do not: Keras runs them in inference mode.
    """
    return [
        layer
        for layer in _layers(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def _unaugmented_training_call(model: keras.Model) -> Callable[[Any], Any]:
    """A training-mode call of ``model`` whose ``augmentation`` layer runs in inference mode.

    The layer then makes no random transforms, but still does any resizing it does. When
    the model has no such layer (or it is not a single functional node), a plain
    training-mode call.
    """
    try:
        augmentation = model.get_layer(AUGMENTATION_LAYER)
        rest = keras.Model(augmentation.output, model.output)
    except (ValueError, AttributeError):
        return lambda images: model(images, training=True)
    return lambda images: rest(augmentation(images, training=False), training=True)


def recalibrate_batchnorm(model: keras.Model, dataset: tf.data.Dataset) -> int:
    """Re-estimate the moving statistics of ``model``'s trainable batch-norm layers.

    Their moving mean and variance are replaced by their average over the batches of
    ``dataset``, each batch weighted by its size. The model's ``augmentation`` layer, when
    it has one, runs in inference mode (no random transforms). Weights are not changed.

    Args:
        model: the model to recalibrate.
        dataset: ``images`` or ``(images, labels, ...)`` batches of raw pixels.

    Returns:
        The number of layers recalibrated.

    Raises:
        ~flowerkit.DatasetError: ``model`` has layers to recalibrate and
            ``dataset`` is empty (the model is left as it was).
    """
    import tensorflow as tf

    layers = trainable_batchnorm(model)
    if not layers:
        return 0
    net = _unaugmented_training_call(model)
    momenta = [layer.momentum for layer in layers]
    means = [np.zeros(layer.moving_mean.shape, np.float64) for layer in layers]
    variances = [np.zeros(layer.moving_variance.shape, np.float64) for layer in layers]
    before = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]
    seen = 0
    try:
        for layer in layers:  # with momentum 0 a training-mode call stores the batch's statistics
            layer.momentum = 0.0
        step = tf.function(net, reduce_retracing=True)
        for batch in dataset:
            images = batch[0] if isinstance(batch, tuple | list) else batch
            size = int(tf.shape(images)[0])
            step(images)
            for layer, mean, variance in zip(layers, means, variances, strict=True):
                mean += size * np.asarray(layer.moving_mean, np.float64)
                variance += size * np.asarray(layer.moving_variance, np.float64)
            seen += size
        if not seen:
            raise DatasetError(
                "Cannot re-estimate batch-norm statistics on an empty training dataset."
            )
    except BaseException:  # leave the model as it was, not with one batch's statistics
        for layer, (mean, variance) in zip(layers, before, strict=True):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    for layer, mean, variance in zip(layers, means, variances, strict=True):
        layer.moving_mean.assign((mean / seen).astype(np.float32))
        layer.moving_variance.assign((variance / seen).astype(np.float32))
    return len(layers)
