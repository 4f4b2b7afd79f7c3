"""Custom Keras layers and losses shipped with flowerkit.

Each is registered with ``keras.saving.register_keras_serializable(package="flowerkit")``,
so a saved model that uses them loads in safe mode after ``import flowerkit``.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from flowerkit.core.validation import check_image_size
from flowerkit.exceptions import ConfigError

__all__ = [
    "InferenceBatchNormalization",
    "RandomResizedCrop",
    "SparseCategoricalCrossentropyWithSmoothing",
]


@keras.saving.register_keras_serializable(package="flowerkit")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):  # type: ignore[misc]
    """Sparse (integer-label) cross-entropy with label smoothing.

    Keras' ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; this loss one-hot
    encodes the labels and uses ``CategoricalCrossentropy``'s smoothing, so datasets keep
    yielding integer labels.

    Args:
        num_classes: the number of classes (the length of the one-hot vectors).
        label_smoothing: the smoothing factor, as for ``CategoricalCrossentropy``.
        from_logits: whether the predictions are logits rather than probabilities.
        name: the loss's name.
        **kwargs: passed on to ``keras.losses.Loss``.
    """

    def __init__(
        self,
        num_classes: int,
        label_smoothing: float = 0.1,
        from_logits: bool = True,
        name: str = "sparse_categorical_crossentropy_smoothed",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        one_hot = keras.ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            num_classes=self.num_classes,
            label_smoothing=self.label_smoothing,
            from_logits=self.from_logits,
        )
        return config


@keras.saving.register_keras_serializable(package="flowerkit")
class InferenceBatchNormalization(keras.layers.BatchNormalization):  # type: ignore[misc]
    """Batch normalization that always normalises with its moving statistics.

    It behaves like ``keras.layers.BatchNormalization`` at inference, in training too: the
    moving mean and variance are never updated and batch statistics are never used, while
    ``gamma`` and ``beta`` stay trainable (when the layer is). Pretrained backbones use it
    so that fine-tuning on a small data set cannot disturb the statistics learned on
    ImageNet, whatever the caller does with ``trainable``. (In Keras 3 an explicit
    ``training=False`` on a nested model's call is overridden by the outer model's
    ``training`` flag, so that alone does not protect them.)

    :meth:`from_batch_normalization` converts an existing layer.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        return super().call(inputs, training=False, mask=mask)

    @classmethod
    def from_batch_normalization(
        cls, layer: keras.layers.BatchNormalization
    ) -> InferenceBatchNormalization:
        """A new (unbuilt) layer with the same configuration as ``layer``."""
        return cls.from_config(layer.get_config())  # type: ignore[no-any-return]


@keras.saving.register_keras_serializable(package="flowerkit")
class RandomResizedCrop(keras.layers.Layer):  # type: ignore[misc]
    """Random-resized crop: each training image becomes a random crop, resized.

    Each crop is at a random position and resized (bilinear) to ``size``. This is the
    "Inception" crop used to train most ImageNet models: it teaches scale and position
    invariance and, unlike a separate zoom, translation and rotation, costs one
    resampling of the image.

    At inference (``training`` false) the layer returns its input unchanged, as Keras'
    preprocessing layers do, or, when ``size`` differs from the input's size, the whole
    image resized to ``size`` (the same bilinear resampling as a crop of the whole image).
    Images can so be loaded larger than the network's input: training crops are then cut
    from the larger image and stay sharp instead of being enlarged.

    Works on any pixel range (flowerkit's models see raw 0..255 pixels).

    Progressive resizing (:attr:`TrainingRecipe.progressive_from
    <flowerkit.TrainingRecipe.progressive_from>`) sets :attr:`training_size` for a while:
    training crops are then resized to it rather than to ``size``, while inference keeps
    ``size``. It is a setting of the run, not of the model, and is not saved.

    Args:
        scale: ``(low, high)``, ``0 < low <= high <= 1``: a crop covers a random fraction
            of the image's area, uniform in ``scale``.
        ratio: ``(low, high)``, ``0 < low <= high``: the crop's aspect ratio is
            log-uniform in ``ratio``.
        seed: makes the random crops repeatable.
        size: the (height, width) crops are resized to, by default the input's own size.
        **kwargs: passed on to ``keras.layers.Layer``.

    Raises:
        ~flowerkit.ConfigError: ``scale`` or ``ratio`` is out of range.
    """

    def __init__(
        self,
        scale: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        seed: int | None = None,
        size: tuple[int, int] | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        lo, hi = (float(x) for x in scale)
        if not 0 < lo <= hi <= 1:
            raise ConfigError(
                f"`scale` must be (low, high) with 0 < low <= high <= 1. Received: {scale!r}"
            )
        r_lo, r_hi = (float(x) for x in ratio)
        if not 0 < r_lo <= r_hi:
            raise ConfigError(
                f"`ratio` must be (low, high) with 0 < low <= high. Received: {ratio!r}"
            )
        self.scale = (lo, hi)
        self.ratio = (r_lo, r_hi)
        self.seed = seed
        self.size = None if size is None else check_image_size(size, "size")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False
        #: The size training crops are resized to while progressive resizing runs
        #: (``None``: ``size``); a model traced with another one must be retraced.
        self.training_size: tuple[int, int] | None = None

    def call(self, images: Any, training: bool | None = None) -> Any:
        import tensorflow as tf

        ops = keras.ops
        images = ops.cast(images, self.compute_dtype)
        height, width = int(images.shape[1]), int(images.shape[2])
        out_h, out_w = self.size or (height, width)
        if not training:
            if (out_h, out_w) == (height, width):
                return images
            return ops.image.resize(images, (out_h, out_w), interpolation="bilinear")
        if self.training_size is not None:
            out_h, out_w = self.training_size
        batch = ops.shape(images)[0]

        def uniform(low: float, high: float) -> Any:
            return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

        area = uniform(*self.scale)
        aspect = ops.exp(uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        crop_w = ops.minimum(ops.sqrt(area * aspect), 1.0) * width  # in input pixels
        crop_h = ops.minimum(ops.sqrt(area / aspect), 1.0) * height
        left = uniform(0.0, 1.0) * (width - crop_w)
        top = uniform(0.0, 1.0) * (height - crop_h)
        y1, y2 = _box_edges(top, crop_h, height, out_h)
        x1, x2 = _box_edges(left, crop_w, width, out_w)
        return tf.image.crop_and_resize(
            images,
            ops.stack([y1, x1, y2, x2], axis=1),
            tf.range(batch),
            (out_h, out_w),
            method="bilinear",
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.size is None:
            return input_shape
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            scale=list(self.scale),
            ratio=list(self.ratio),
            seed=self.seed,
            size=None if self.size is None else list(self.size),
        )
        return config


def _box_edges(start: Any, length: Any, extent: int, out: int) -> tuple[Any, Any]:
    """``tf.image.crop_and_resize``'s normalised box edges along one axis.

    Pixel centres are mapped as ``tf.image.resize`` maps them: output centre ``j``
    samples the input at ``start + (j + 1/2) * length / out - 1/2``, so a crop of the
    whole image is exactly a resize. (``crop_and_resize`` samples from
    ``y1 * (extent - 1)`` in steps of ``(y2 - y1) * (extent - 1) / (out - 1)``.) An
    enlarged crop at the image's edge would sample up to half a pixel outside the image,
    where ``crop_and_resize`` reads zeros; it is shifted inside by that fraction of a
    pixel instead.

    Args:
        start: where the crop ``[start, start + length)`` starts, in input pixels.
        length: the crop's length, in input pixels.
        extent: the number of pixels on the input's axis.
        out: the number of pixels the crop is resampled to.

    Returns:
        The box's first and last edge, normalised as ``crop_and_resize`` wants them.
    """
    ops = keras.ops
    last = float(max(extent - 1, 1))
    step = length / out
    span = step * max(out - 1, 0)
    first = ops.clip(start + 0.5 * step - 0.5, 0.0, ops.maximum(last - span, 0.0))
    return first / last, (first + span) / last
