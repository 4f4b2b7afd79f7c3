"""What an export needs from a trained classifier, independent of ``Classifier`` itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from flowerkit import artifact
from flowerkit.core.numeric import softmax

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = ["ExportSource"]


@dataclass(frozen=True)
class ExportSource:
    """A trained model and what travels with it into an export.

    Attributes:
        model: the Keras model, taking ``(N, height, width, 3)`` 0..255 pixels.
        class_names: one name per output, in order.
        image_size: ``(height, width)``.
        scores: the model's compiled logits for a batch of images (``Classifier``'s
            :class:`~flowerkit.prediction.Scorer`): the reference every export is
            verified against.
        outputs: ``"logits"``, or ``"probabilities"`` for a model ending in a softmax.
        temperature: the calibration temperature, applied inside every export.
        preset: the preset the model was built from, if any.
        preprocessing: how images are decoded before the model (``ModelMetadata``);
            by default this flowerkit's decoding
            (:func:`flowerkit.artifact.current_preprocessing`), right for a model trained
            on images flowerkit decoded. ``Classifier.export`` passes the model's own.

    ``Classifier.export`` makes one from the classifier; make one yourself to export a
    Keras model that is not a ``Classifier``.

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from flowerkit.export import ExportSource
        >>> from flowerkit.prediction import Scorer
        >>> inputs = keras.Input((16, 16, 3))
        >>> pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
        >>> model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
        >>> source = ExportSource(
        ...     model, ("daisy", "roses"), (16, 16), Scorer(model, (16, 16)), temperature=1.5
        ... )
        >>> source.reference(np.zeros((1, 16, 16, 3), dtype=np.uint8))  # black: zero logits
        array([[0.5, 0.5]])
        >>> source.reference(np.full((3, 16, 16, 3), 255, dtype=np.uint8)).sum(axis=1).round(6)
        array([1., 1., 1.])
    """

    model: keras.Model
    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    scores: Callable[[NDArray[Any]], NDArray[np.float64]]
    outputs: str = "logits"
    temperature: float = 1.0
    preset: str | None = None
    preprocessing: dict[str, str] = field(default_factory=artifact.current_preprocessing)

    def reference(self, images: NDArray[Any]) -> NDArray[np.float64]:
        """What ``Classifier.predict_proba`` gives for ``images``: the figure to match."""
        return softmax(self.scores(np.asarray(images)) / self.temperature)

    def probabilities(self, pixels: tf.Tensor) -> tf.Tensor:
        """The exported computation: float32 0..255 pixels to probabilities, in-graph."""
        import tensorflow as tf

        out = tf.cast(self.model(pixels, training=False), tf.float32)
        if self.outputs == "probabilities":
            out = tf.math.log(tf.maximum(out, 1e-12))
        return tf.nn.softmax(out / self.temperature, axis=-1)
