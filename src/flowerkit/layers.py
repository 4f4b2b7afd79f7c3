"""Custom Keras layers and losses shipped with flowerkit.

Each is registered with ``keras.saving.register_keras_serializable(package="flowerkit")``,
so a saved model that uses them loads in safe mode after ``import flowerkit``.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["InferenceBatchNormalization", "SparseCategoricalCrossentropyWithSmoothing"]


@keras.saving.register_keras_serializable(package="flowerkit")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):  # type: ignore[misc]
    """Sparse (integer-label) cross-entropy with label smoothing.

    Keras' ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; this loss one-hot
    encodes the labels and uses ``CategoricalCrossentropy``'s smoothing, so datasets keep
    yielding integer labels.
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
