"""What an export needs from a trained classifier, independent of ``Classifier`` itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from flowerkit import artifact
from flowerkit.core.description import ModelDescription
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
    Keras model that is not a ``Classifier``, or from a description with
    :meth:`from_description`. The fields but ``model`` and ``scores`` are the model's
    :attr:`description`, from which the export's ``flowerkit.json`` is written.

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
        >>> source.description.class_names, source.description.temperature
        (('daisy', 'roses'), 1.5)
    """

    model: keras.Model
    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    scores: Callable[[NDArray[Any]], NDArray[np.float64]]
    outputs: str = "logits"
    temperature: float = 1.0
    preset: str | None = None
    preprocessing: dict[str, str] = field(default_factory=artifact.current_preprocessing)

    @classmethod
    def from_description(
        cls,
        model: keras.Model,
        description: ModelDescription,
        scores: Callable[[NDArray[Any]], NDArray[np.float64]],
    ) -> ExportSource:
        """The source that exports ``model`` as ``description`` describes it.

        Args:
            model: the Keras model, taking ``(N, height, width, 3)`` 0..255 pixels.
            description: its class names, image size, preset, outputs, temperature and
                preprocessing (a :class:`~flowerkit.artifact.ModelMetadata` will do; its
                ``versions`` are not the export's and are not kept). An empty
                ``preprocessing`` (not recorded) becomes this flowerkit's, as by default.
            scores: the model's logits for a batch of images, the reference.

        Returns:
            The source.

        Example:
            >>> import keras
            >>> from flowerkit.core.description import ModelDescription
            >>> from flowerkit.export import ExportSource
            >>> from flowerkit.prediction import Scorer
            >>> inputs = keras.Input((16, 16, 3))
            >>> pooled = keras.layers.GlobalAveragePooling2D()(inputs)
            >>> model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
            >>> description = ModelDescription(("daisy", "roses"), (16, 16), preset="tiny")
            >>> source = ExportSource.from_description(
            ...     model, description, Scorer(model, (16, 16))
            ... )
            >>> source.class_names, source.image_size, source.preset, source.outputs
            (('daisy', 'roses'), (16, 16), 'tiny', 'logits')
            >>> source.preprocessing["decode"]
            'flowerkit.images.load_image'
        """
        return cls(
            model,
            description.class_names,
            description.image_size,
            scores,
            outputs=description.outputs,
            temperature=description.temperature,
            preset=description.preset,
            preprocessing=dict(description.preprocessing or artifact.current_preprocessing()),
        )

    @property
    def description(self) -> ModelDescription:
        """The model's :class:`~flowerkit.core.description.ModelDescription` (without
        versions: an export records the versions that export it)."""
        return ModelDescription(
            self.class_names,
            self.image_size,
            preset=self.preset,
            outputs=self.outputs,
            temperature=self.temperature,
            preprocessing=dict(self.preprocessing),
        )

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
