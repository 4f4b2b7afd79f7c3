"""Typed prediction results, how a row of probabilities becomes one, the loop that streams
inputs through a model, and the compiled inference function that produces the rows.

Nothing here imports TensorFlow until a :class:`Scorer` is made, so the TensorFlow-free
predictor (:mod:`flowerkit.lite`) shares the same results and loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowerkit.core import validation as v
from flowerkit.exceptions import ConfigError
from flowerkit.images.inputs import decode_batches, expand
from flowerkit.images.views import tta_views

if TYPE_CHECKING:
    import keras

__all__ = [
    "FailedInput",
    "Prediction",
    "Predictions",
    "Scorer",
    "from_probabilities",
    "predict_arrays",
    "predict_inputs",
]


@dataclass(frozen=True)
class Prediction:
    """The classifier's answer for one image.

    Attributes:
        source: names the input (a file path, or ``"<array 0>"``, ``"<bytes 0>"``,
            ``"<PIL 0>"`` for in-memory inputs, numbered by position).
        label: the name of the most likely class.
        index: the index of the most likely class.
        confidence: the probability of the most likely class.
        probabilities: maps every class name to its probability.
        top_k: the ``k`` most likely ``(label, probability)`` pairs, best first.
        uncertain: ``True`` when ``predict(min_confidence=...)`` was given and
            ``confidence`` is below it: ``label`` is then only the best guess, and the
            classifier declines to answer (the CLI prints ``uncertain``).
        explanation: with ``Classifier.predict(..., explain=True)``, the Grad-CAM map of
            the predicted class (:func:`flowerkit.models.explain.grad_cam`): a float32
            ``(h, w)`` array in [0, 1] of the model's feature-map size, 1 where the
            evidence was strongest; ``None`` otherwise. It takes no part in ``==`` and is
            left out of :meth:`to_dict`;
            :func:`flowerkit.images.overlay.overlay` draws it over the photo.

    ``Classifier.predict`` and :meth:`flowerkit.lite.LiteClassifier.predict` make them
    (through :func:`from_probabilities`); :meth:`to_dict` gives the JSON the CLI prints.

    Example:
        >>> import numpy as np
        >>> from flowerkit.prediction import from_probabilities
        >>> [rose] = from_probabilities(
        ...     ["my_rose.jpg"], np.array([[0.1, 0.7, 0.2]]), ["daisy", "roses", "tulips"], top_k=2
        ... )
        >>> rose.label, rose.index, rose.confidence
        ('roses', 1, 0.7)
        >>> rose.top_k
        (('roses', 0.7), ('tulips', 0.2))
        >>> print(rose)
        my_rose.jpg: roses (70.0%)
    """

    source: str
    label: str
    index: int
    confidence: float
    probabilities: dict[str, float]
    top_k: tuple[tuple[str, float], ...]
    uncertain: bool = False
    explanation: NDArray[np.float32] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The prediction as JSON-ready data (without :attr:`explanation`: a map is an
        image, not a field of the JSON)."""
        return {
            "source": self.source,
            "label": self.label,
            "index": self.index,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
            "top_k": [{"label": lbl, "probability": p} for lbl, p in self.top_k],
            "uncertain": self.uncertain,
        }

    def __str__(self) -> str:
        guess = f"uncertain, perhaps {self.label}" if self.uncertain else self.label
        return f"{self.source}: {guess} ({self.confidence:.1%})"


@dataclass(frozen=True)
class FailedInput:
    """An input that could not be predicted (with ``errors="skip"``), and why.

    Attributes:
        source: names the input, as
            :attr:`Prediction.source <flowerkit.prediction.Prediction.source>` does.
        reason: a reason code from :data:`flowerkit.images.REASONS`.
        message: says what is wrong with the input.

    Example:
        >>> import numpy as np
        >>> from flowerkit.prediction import predict_inputs
        >>> def even(images):  # stands in for a model: the same answer for every image
        ...     return np.full((len(images), 2), 0.5)
        >>> preds = predict_inputs(
        ...     ["my_rose.jpg", b"not an image"], even, image_size=(32, 32),
        ...     class_names=["daisy", "roses"], errors="skip",
        ... )
        >>> [p.source for p in preds]
        ['my_rose.jpg']
        >>> [failed] = preds.failures
        >>> failed.source, failed.reason
        ('<bytes 1>', 'not_an_image')
        >>> sorted(failed.to_dict())
        ['message', 'reason', 'source']
    """

    source: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The failure as JSON-ready data."""
        return {"source": self.source, "reason": self.reason, "message": self.message}


class Predictions(list[Prediction]):
    """A list of :class:`Prediction`, in input order, plus the inputs that failed.

    Args:
        items: the predictions, in input order.
        failures: the inputs that could not be predicted.

    Attributes:
        failures: the :class:`~flowerkit.FailedInput` entries; empty unless
            ``predict(..., errors="skip")`` left bad inputs out.

    Example:
        >>> import numpy as np
        >>> from flowerkit.prediction import from_probabilities
        >>> preds = from_probabilities(
        ...     ["a.jpg", "b.jpg"], np.array([[0.9, 0.1], [0.55, 0.45]]), ["daisy", "roses"],
        ...     top_k=1, min_confidence=0.6,
        ... )
        >>> preds.labels
        ['daisy', 'daisy']
        >>> [p.source for p in preds.answered]  # b.jpg is below min_confidence
        ['a.jpg']
        >>> data = preds.to_dict()
        >>> data["schema_version"], len(data["predictions"]), data["failures"]
        (1, 2, [])
    """

    def __init__(self, items: list[Prediction], failures: tuple[FailedInput, ...] = ()):
        super().__init__(items)
        self.failures = failures

    @property
    def labels(self) -> list[str]:
        """The predicted class name of every prediction, in order (best guesses for the
        uncertain ones too)."""
        return [p.label for p in self]

    @property
    def answered(self) -> list[Prediction]:
        """The predictions that are not :attr:`~Prediction.uncertain`."""
        return [p for p in self if not p.uncertain]

    def to_dict(self) -> dict[str, Any]:
        """The predictions and failures as JSON-ready data, with a ``"schema_version"``."""
        return {
            "schema_version": 1,
            "predictions": [p.to_dict() for p in self],
            "failures": [f.to_dict() for f in self.failures],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)


def from_probabilities(
    names: Sequence[str],
    probabilities: NDArray[np.float64],
    class_names: Sequence[str],
    *,
    top_k: int,
    failures: Sequence[FailedInput] = (),
    min_confidence: float | None = None,
) -> Predictions:
    """One :class:`Prediction` per row of ``probabilities``.

    Args:
        names: the source name of each row.
        probabilities: one row of class probabilities per input.
        class_names: the classes, in column order.
        top_k: how many entries each prediction's ``top_k`` holds at most; they come best
            class first, ties in class order.
        failures: the inputs that could not be predicted.
        min_confidence: mark a prediction :attr:`~Prediction.uncertain` when its highest
            probability is below this.

    Returns:
        The predictions, in row order, with ``failures``.

    Raises:
        ValueError: ``names`` and ``probabilities`` have different lengths, or a row's
            length differs from ``class_names``' (an ``IndexError`` when the row is longer
            and its best column has no name). Nothing else is checked: the callers pass
            what they computed.

    Example:
        >>> import numpy as np
        >>> from flowerkit.prediction import from_probabilities
        >>> rows = np.array([[0.2, 0.5, 0.3], [0.4, 0.2, 0.4]])
        >>> preds = from_probabilities(["one", "two"], rows, ["daisy", "roses", "tulips"], top_k=2)
        >>> for p in preds:
        ...     print(p, p.top_k)
        one: roses (50.0%) (('roses', 0.5), ('tulips', 0.3))
        two: daisy (40.0%) (('daisy', 0.4), ('tulips', 0.4))
    """
    k = min(top_k, len(class_names))
    results: list[Prediction] = []
    for name, row in zip(names, probabilities, strict=True):
        order = np.argsort(-row, kind="stable")
        best = int(order[0])
        results.append(
            Prediction(
                source=name,
                label=class_names[best],
                index=best,
                confidence=float(row[best]),
                probabilities={c: float(p) for c, p in zip(class_names, row, strict=True)},
                top_k=tuple((class_names[int(i)], float(row[int(i)])) for i in order[:k]),
                uncertain=min_confidence is not None and float(row[best]) < min_confidence,
            )
        )
    return Predictions(results, tuple(failures))


def predict_arrays(
    images: ArrayLike,
    probabilities: Callable[[NDArray[Any]], NDArray[np.float64]],
    *,
    image_size: tuple[int, int],
    num_classes: int,
    batch_size: int = 32,
) -> NDArray[np.float64]:
    """Run ``probabilities`` over ``images`` already at ``image_size``, ``batch_size`` at a time.

    This is what ``Classifier.predict_proba`` and
    :meth:`flowerkit.lite.LiteClassifier.predict_proba` return: the images are not
    decoded or resized, only cut into batches.

    Args:
        images: an ``(N, height, width, 3)`` array (uint8 or 0..255 floats).
        probabilities: maps one batch of images to its ``(batch, classes)`` probabilities.
        image_size: the ``(height, width)`` the images must have.
        num_classes: the number of columns, for the ``(0, num_classes)`` result of no
            images.
        batch_size: images per ``probabilities`` call.

    Returns:
        The ``(N, num_classes)`` rows of every batch, in order.

    Raises:
        ~flowerkit.ConfigError: ``images`` is not ``(N, height, width, 3)``, or a bad
            ``batch_size``.

    Example:
        >>> import numpy as np
        >>> from flowerkit.prediction import predict_arrays
        >>> batches = []
        >>> def even(images):  # stands in for a model
        ...     batches.append(len(images))
        ...     return np.full((len(images), 3), 1 / 3)
        >>> images = np.zeros((5, 8, 8, 3), dtype=np.uint8)
        >>> predict_arrays(images, even, image_size=(8, 8), num_classes=3, batch_size=2).shape
        (5, 3)
        >>> batches
        [2, 2, 1]
        >>> predict_arrays(images[..., 0], even, image_size=(8, 8), num_classes=3)
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: `images` must have shape (N, 8, 8, 3). Received shape (5, 8, 8).
    """
    arr = np.asarray(images)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (*image_size, 3):
        raise ConfigError(
            f"`images` must have shape (N, {image_size[0]}, {image_size[1]}, 3). "
            f"Received shape {arr.shape}."
        )
    batch_size = v.check_positive_int(batch_size, "batch_size")
    rows = [probabilities(arr[i : i + batch_size]) for i in range(0, len(arr), batch_size)]
    return np.concatenate(rows) if rows else np.zeros((0, num_classes))


def predict_inputs(
    inputs: object,
    probabilities: Callable[[NDArray[np.uint8]], NDArray[np.float64]],
    *,
    image_size: tuple[int, int],
    class_names: Sequence[str],
    top_k: int = 3,
    batch_size: int = 32,
    errors: Literal["raise", "skip"] = "raise",
    progress: Callable[[int, int], None] | None = None,
    min_confidence: float | None = None,
) -> Predictions:
    """Decode ``inputs`` in batches and turn each batch's probabilities into predictions.

    Images are decoded by :func:`~flowerkit.images.load_image` on one thread per core,
    one batch ahead of ``probabilities``, so memory holds two batches of images however
    many inputs there are. ``Classifier.predict`` and
    :meth:`flowerkit.lite.LiteClassifier.predict` are this loop with their own model.

    Args:
        inputs: what ``predict`` takes (see :func:`flowerkit.images.inputs.expand`).
        probabilities: maps ``(N, H, W, 3)`` uint8 images to ``(N, classes)``
            probabilities.
        image_size: ``(height, width)`` images are decoded at.
        class_names: the classes, in column order.
        top_k: how many of the most likely classes each prediction lists.
        batch_size: images per ``probabilities`` call.
        errors: ``"raise"`` on the first unusable input, or ``"skip"`` it and list it in
            ``Predictions.failures``.
        progress: called as ``progress(done, total)`` after every batch.
        min_confidence: a calibrated confidence (0..1) below which a prediction is
            marked :attr:`~Prediction.uncertain` instead of answered.

    Returns:
        One :class:`Prediction` per usable input, in input order, and the
        :attr:`~Predictions.failures` skipped with ``errors="skip"``.

    Raises:
        ~flowerkit.UnreadableImageError: an unusable input, with ``errors="raise"``.
        ~flowerkit.ConfigError: a bad argument, or no inputs.

    Example:
        A stand-in for a model, which names the class whose colour is nearest to the
        image's mean colour (the example photos are plain colours):

        >>> import numpy as np
        >>> from flowerkit.prediction import predict_inputs
        >>> colours = np.array([[235, 230, 200], [200, 30, 50], [240, 140, 30]])
        >>> def nearest_colour(images):
        ...     means = images.mean(axis=(1, 2))  # (N, 3): mean red, green, blue
        ...     scores = np.exp(-np.linalg.norm(means[:, None] - colours, axis=2) / 20)
        ...     return scores / scores.sum(axis=1, keepdims=True)
        >>> done = []
        >>> preds = predict_inputs(
        ...     ["my_rose.jpg", "new_photos"], nearest_colour, image_size=(32, 32),
        ...     class_names=["daisy", "roses", "tulips"], top_k=1, batch_size=2,
        ...     progress=lambda n, total: done.append((n, total)),
        ... )
        >>> for p in preds:
        ...     print(p.source, p.label)
        my_rose.jpg roses
        new_photos/new_daisy.jpg daisy
        new_photos/new_roses.jpg roses
        new_photos/new_tulips.jpg tulips
        >>> done
        [(2, 4), (4, 4)]
    """
    top_k = v.check_positive_int(top_k, "top_k")
    batch_size = v.check_positive_int(batch_size, "batch_size")
    v.check_choice(errors, "errors", ("raise", "skip"))
    if min_confidence is not None:
        min_confidence = v.check_fraction(
            min_confidence, "min_confidence", allow_zero=True, allow_one=True
        )
    names: list[str] = []
    rows: list[NDArray[np.float64]] = [np.zeros((0, len(class_names)))]
    failures: list[FailedInput] = []
    items = expand(inputs)
    batches = decode_batches(
        items, image_size, batch_size=batch_size, raise_errors=errors == "raise"
    )
    for batch in batches:  # decoded in parallel, one batch ahead: memory stays flat
        failures.extend(FailedInput(*failure) for failure in batch.failures)
        if batch.names:
            rows.append(np.asarray(probabilities(batch.images), dtype=np.float64))
            names.extend(batch.names)
        if progress is not None:
            progress(len(names) + len(failures), len(items))
    return from_probabilities(
        names,
        np.concatenate(rows),
        class_names,
        top_k=top_k,
        failures=failures,
        min_confidence=min_confidence,
    )


class Scorer:
    """One compiled inference function for a model, traced once and reused by every call.

    Calling a Keras model eagerly costs several milliseconds of Python per batch; a
    ``tf.function`` with a fixed input signature (any batch size, the model's image size,
    float32 pixels) is traced the first time and then only runs the graph. Weights are read
    at call time, so training the model afterwards needs no new scorer.

    Args:
        model: a Keras model taking ``(N, height, width, 3)`` raw 0..255 pixels.
        image_size: ``(height, width)`` it takes.
        outputs: ``"logits"``, or ``"probabilities"`` for a model ending in a softmax
            (turned into log-probabilities, so both kinds give scores for a softmax).

    Attributes:
        traces: how many times the function has been traced (1 after the first call).

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from flowerkit.prediction import Scorer
        >>> inputs = keras.Input((16, 16, 3))
        >>> pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
        >>> model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
        >>> scorer = Scorer(model, (16, 16))
        >>> scorer(np.zeros((4, 16, 16, 3), dtype=np.uint8)).shape
        (4, 3)
        >>> scorer(np.zeros((1, 16, 16, 3))).dtype, scorer.traces  # any batch size: no retrace
        (dtype('float64'), 1)
    """

    def __init__(
        self,
        model: keras.Model,
        image_size: tuple[int, int],
        outputs: Literal["logits", "probabilities"] = "logits",
    ) -> None:
        import tensorflow as tf

        self.traces = 0

        def scores(images: tf.Tensor) -> tf.Tensor:
            self.traces += 1  # runs only while tracing
            out = tf.cast(model(images, training=False), tf.float32)  # bfloat16 models too
            if outputs == "probabilities":
                out = tf.math.log(tf.maximum(out, 1e-12))
            return out

        signature = [tf.TensorSpec((None, *image_size, 3), tf.float32, name="images")]
        self._function = tf.function(scores, input_signature=signature, autograph=False)

    def __call__(self, images: ArrayLike, tta: bool = False) -> NDArray[np.float64]:
        """Scores ``(N, classes)`` (logits, or log-probabilities) for ``(N, H, W, 3)``
        images; with ``tta``, their mean over the test-time views
        (:func:`flowerkit.images.views.tta_views`)."""
        if tta:
            views = tta_views(np.clip(np.round(np.asarray(images)), 0, 255).astype(np.uint8))
            mean: NDArray[np.float64] = np.mean([self(view) for view in views], axis=0)
            return mean
        batch = np.asarray(images, dtype=np.float32)
        return np.asarray(self._function(batch), dtype=np.float64)


FailedInput.__module__ = "flowerkit"
