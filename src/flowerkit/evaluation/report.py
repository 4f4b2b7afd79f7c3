"""Evaluation reports: how good a classifier is, in numbers a person or a script can use.

:meth:`EvaluationReport.from_predictions` turns true labels and predicted probabilities
into a frozen, pure-data :class:`EvaluationReport`. Nothing here needs TensorFlow: the
report can be built, saved, loaded and rendered on any machine with numpy.

Conventions:

* The predicted class is the column with the highest probability; on a tie the first
  such column (``numpy.argmax``). Top-k uses the same order (a stable sort), so top-1
  accuracy always equals accuracy.
* The loss is the mean sparse categorical cross-entropy ``-log p[true]``, with each
  probability clipped to ``[1e-7, 1 - 1e-7]`` exactly as Keras does, so it matches the
  ``val_loss`` Keras reports during training.
* Precision, recall or F1 of a class with nothing to divide by (never predicted, never
  present, or both zero) is ``0.0``, never ``NaN``. Macro averages weigh every class
  equally (classes with no images included); weighted averages weigh classes by support.
* Calibration is measured with the expected calibration error (ECE): the predictions are
  put in 15 equal-width bins ``(0, 1/15], (1/15, 2/15], ...`` by their confidence (the
  highest probability), and ECE is the support-weighted mean of
  ``|accuracy - mean confidence|`` over the bins. 0 is perfectly calibrated.
* The *mistakes* are the wrong predictions with the highest per-sample loss (the "top
  losses"), worst first, ties broken by position.

Every input problem raises :class:`~flowerkit.ConfigError` naming the argument
and showing the bad value or shape.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flowerkit.core import validation as v
from flowerkit.core.numeric import check_labels
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ECE_BINS",
    "SCHEMA_VERSION",
    "AverageMetrics",
    "CalibrationBin",
    "ClassMetrics",
    "EvaluationReport",
    "Mistake",
    "Renderer",
    "expected_calibration_error",
    "register_renderer",
]

#: Version of the layout written by :meth:`EvaluationReport.to_dict`.
SCHEMA_VERSION: int = 1

#: Number of equal-width confidence bins used for the expected calibration error.
ECE_BINS: int = 15

_EPSILON = 1e-7  # Keras' clipping of probabilities inside cross-entropy
_SUM_TOLERANCE = 1e-3  # float32 softmax rows sum to 1 within ~1e-6; be generous
_RANGE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall, F1 and support (number of true images) of one class.

    An entry of :attr:`EvaluationReport.per_class`. A figure with nothing to divide by
    (a class never predicted, or never present) is ``0.0``.

    Attributes:
        name: the class name.
        precision: the fraction of the images predicted as this class that are of it.
        recall: the fraction of the images of this class predicted as it.
        f1: the harmonic mean of ``precision`` and ``recall``.
        support: how many images of this class were evaluated.

    Example:
        Four images, one rose taken for a daisy:

        >>> import numpy as np
        >>> from flowerkit.evaluation import EvaluationReport
        >>> probabilities = np.array(
        ...     [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]
        ... )
        >>> report = EvaluationReport.from_predictions(
        ...     [0, 1, 1, 2], probabilities, ["daisy", "roses", "tulips"]
        ... )
        >>> roses = report.per_class[1]
        >>> roses.name, roses.precision, roses.recall, round(roses.f1, 3), roses.support
        ('roses', 1.0, 0.5, 0.667, 2)
    """

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class AverageMetrics:
    """Precision, recall and F1 averaged over classes; ``support`` is the image count.

    :attr:`EvaluationReport.macro_avg` weighs every class the same (classes with no
    images included); :attr:`EvaluationReport.weighted_avg` weighs them by support.

    Attributes:
        precision: the averaged precision.
        recall: the averaged recall.
        f1: the averaged F1 (the mean of the per-class F1 scores, not the F1 of the mean
            precision and recall).
        support: the number of images evaluated.

    Example:
        >>> import numpy as np
        >>> from flowerkit.evaluation import EvaluationReport
        >>> probabilities = np.array(
        ...     [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]
        ... )
        >>> report = EvaluationReport.from_predictions(
        ...     [0, 1, 1, 2], probabilities, ["daisy", "roses", "tulips"]
        ... )
        >>> macro, weighted = report.macro_avg, report.weighted_avg
        >>> round(macro.precision, 3), round(macro.recall, 3), round(macro.f1, 3), macro.support
        (0.833, 0.833, 0.778, 4)
        >>> round(weighted.precision, 3), weighted.recall, round(weighted.f1, 3)
        (0.875, 0.75, 0.75)
    """

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class CalibrationBin:
    """One non-empty confidence bin ``(lower, upper]`` of the reliability diagram.

    Attributes:
        lower: the bin's lower edge (excluded).
        upper: the bin's upper edge (included).
        count: how many predictions fall in the bin.
        accuracy: fraction of the bin's predictions that are right.
        confidence: mean confidence (highest probability) of the bin's predictions.

    Example:
        >>> import numpy as np
        >>> from flowerkit.evaluation import EvaluationReport
        >>> probabilities = np.array(
        ...     [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]
        ... )
        >>> report = EvaluationReport.from_predictions(
        ...     [0, 1, 1, 2], probabilities, ["daisy", "roses", "tulips"]
        ... )
        >>> for b in report.calibration_bins:  # (lower, upper] count accuracy confidence
        ...     edges = f"({b.lower:.3f}, {b.upper:.3f}]"
        ...     print(edges, b.count, b.accuracy, round(b.confidence, 2))
        (0.533, 0.600] 1 0.0 0.6
        (0.667, 0.733] 2 1.0 0.7
        (0.733, 0.800] 1 1.0 0.8
        >>> round(report.ece, 3)  # (1 * 0.6 + 2 * 0.3 + 1 * 0.2) / 4
        0.35
    """

    lower: float
    upper: float
    count: int
    accuracy: float
    confidence: float


@dataclass(frozen=True)
class Mistake:
    """One wrong prediction.

    Attributes:
        index: its position in the evaluated data (the row of ``probabilities``).
        file_path: the image file or ``None``.
        true_label: the name of the true class.
        predicted_label: the name of the predicted class.
        confidence: the probability of the predicted class.
        true_probability: the probability of the true class.
        loss: its cross-entropy ``-log(true_probability)`` (clipped as for the mean loss).
        explanation: the Grad-CAM map of the predicted class
            (:func:`flowerkit.models.explain.grad_cam`), a float32 ``(h, w)`` array in
            [0, 1], when ``Classifier.evaluate`` made the report and the image file could
            be read; else ``None``. The HTML report draws it over the thumbnail. It takes
            no part in ``==`` and is not saved in the JSON.

    Example:
        >>> import numpy as np
        >>> from flowerkit.evaluation import EvaluationReport
        >>> probabilities = np.array(
        ...     [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]
        ... )
        >>> report = EvaluationReport.from_predictions(
        ...     [0, 1, 1, 2], probabilities, ["daisy", "roses", "tulips"],
        ...     file_paths=["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
        ... )
        >>> [miss] = report.mistakes
        >>> miss.index, miss.file_path, miss.true_label, miss.predicted_label
        (2, 'c.jpg', 'roses', 'daisy')
        >>> miss.confidence, miss.true_probability, round(miss.loss, 3)
        (0.6, 0.3, 1.204)
    """

    index: int
    file_path: str | None
    true_label: str
    predicted_label: str
    confidence: float
    true_probability: float
    loss: float
    explanation: NDArray[np.float32] | None = field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- validation


def _preview(values: NDArray[Any], limit: int = 8) -> str:
    items = [f"{float(x):.6g}" for x in values[:limit]]
    return "[" + ", ".join(items) + (", ...]" if len(values) > limit else "]")


def _check_probabilities(
    value: object, name: str, num_classes: int | None = None
) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"`{name}` must be an array of numbers of shape (num_samples, num_classes). "
            f"Received an object of type {type(value).__name__} ({exc})."
        ) from exc
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ConfigError(
            f"`{name}` must have shape (num_samples, num_classes) with at least one sample "
            f"and two classes. Received shape {arr.shape}."
        )
    if num_classes is not None and arr.shape[1] != num_classes:
        raise ConfigError(
            f"`{name}` must have one column per class ({num_classes} class names). "
            f"Received shape {arr.shape}."
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ConfigError(
            f"`{name}` contains NaN or infinite values; the first is in row {row}: "
            f"{_preview(arr[row])}."
        )
    low, high = float(arr.min()), float(arr.max())
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ConfigError(
            f"`{name}` must hold probabilities in [0, 1]. Received values from {low:.6g} to "
            f"{high:.6g}; if these are logits, apply a softmax first."
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ConfigError(
            f"Each row of `{name}` must sum to 1 (a softmax output). Row {row} sums to "
            f"{float(sums[row]):.6g}: {_preview(arr[row])}."
        )
    return np.clip(arr, 0.0, 1.0)


def _check_file_paths(value: object, num_samples: int) -> tuple[str | None, ...]:
    if value is None:
        return (None,) * num_samples
    if isinstance(value, str | bytes | os.PathLike) or not isinstance(value, Sequence):
        raise ConfigError(
            "`file_paths` must be a list of paths (one per sample) or None. "
            f"Received: file_paths={value!r}"
        )
    if len(value) != num_samples:
        raise ConfigError(
            f"`file_paths` must have one entry per sample ({num_samples}). "
            f"Received {len(value)} paths."
        )
    out: list[str | None] = []
    for i, p in enumerate(value):
        if p is None:
            out.append(None)
        elif isinstance(p, str | os.PathLike):
            out.append(str(os.fspath(p)))
        else:
            raise ConfigError(
                f"`file_paths` must hold str or Path entries. Received {p!r} at position {i}."
            )
    return tuple(out)


# --------------------------------------------------------------------------- computation


def _safe_divide(num: NDArray[Any], den: NDArray[Any]) -> NDArray[np.float64]:
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=np.asarray(den) > 0)
    return out


def _sample_losses(labels: NDArray[np.int64], probs: NDArray[np.float64]) -> NDArray[np.float64]:
    true_p = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(true_p, _EPSILON, 1.0 - _EPSILON))


def _calibration_bins(
    labels: NDArray[np.int64], probs: NDArray[np.float64], n_bins: int
) -> list[CalibrationBin]:
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins (lower, upper]; a confidence of exactly 0 joins the first bin.
    which = np.searchsorted(edges[1:-1], confidence, side="left")
    bins: list[CalibrationBin] = []
    for b in range(n_bins):
        members = which == b
        count = int(members.sum())
        if count:
            bins.append(
                CalibrationBin(
                    lower=float(edges[b]),
                    upper=float(edges[b + 1]),
                    count=count,
                    accuracy=float(correct[members].mean()),
                    confidence=float(confidence[members].mean()),
                )
            )
    return bins


def _ece_from_bins(bins: Sequence[CalibrationBin], total: int) -> float:
    return float(sum(b.count / total * abs(b.accuracy - b.confidence) for b in bins))


def expected_calibration_error(
    labels: ArrayLike, probabilities: ArrayLike, n_bins: int = ECE_BINS
) -> float:
    """Expected calibration error of predicted ``probabilities`` against true ``labels``.

    Predictions are grouped into ``n_bins`` equal-width bins ``(i/n, (i+1)/n]`` by their
    confidence (the highest probability of the row).

    Args:
        labels: class indices.
        probabilities: an ``(N, num_classes)`` array whose rows sum to 1.
        n_bins: the number of confidence bins.

    Returns:
        ``sum(|bin| / N * |accuracy(bin) - mean confidence(bin)|)``, between 0 (perfectly
        calibrated) and 1.

    Raises:
        ~flowerkit.ConfigError: an input is malformed: ``probabilities`` is not an
            ``(N, num_classes)`` array of rows that sum to 1, ``labels`` do not match it,
            or ``n_bins`` is not a positive integer.

    Example:
        Four predictions, 90%, 80%, 70% and 60% sure; the 70% one is wrong:

        >>> from flowerkit.evaluation import expected_calibration_error
        >>> labels = [0, 1, 1, 0]
        >>> probabilities = [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]]
        >>> round(expected_calibration_error(labels, probabilities), 3)
        0.35
        >>> # One bin: 75% right and 75% sure on average.
        >>> round(expected_calibration_error(labels, probabilities, n_bins=1), 3)
        0.0
    """
    n_bins = v.check_positive_int(n_bins, "n_bins")
    probs = _check_probabilities(probabilities, "probabilities")
    y = check_labels(labels, "labels", probs.shape[0], probs.shape[1])
    return _ece_from_bins(_calibration_bins(y, probs, n_bins), len(y))


# --------------------------------------------------------------------------- the report


#: A renderer turns a report into one document, as ``renderer(report, history=..., title=...)``.
Renderer = Callable[..., str]
_RENDERERS: dict[str, Renderer] = {}


def register_renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Decorator: register a function that renders an :class:`EvaluationReport` as ``name``.

    Renderers live in their own modules above this one (``flowerkit.evaluation.html`` is
    ``"html"``) and register when :mod:`flowerkit.evaluation` is imported, so this module
    never imports the modules that render it.

    Args:
        name: the renderer's name, e.g. ``"html"``.

    Returns:
        A decorator that registers the renderer and returns it unchanged.
    """

    def decorator(renderer: Renderer) -> Renderer:
        _RENDERERS[name] = renderer
        return renderer

    return decorator


def _renderer(name: str) -> Renderer:
    try:
        return _RENDERERS[name]
    except KeyError:
        raise ConfigError(
            f"No report renderer named {name!r}; registered: {sorted(_RENDERERS)}."
        ) from None


@dataclass(frozen=True)
class EvaluationReport:
    """What a classifier gets right and wrong on a labelled data set.

    Build one with :meth:`from_predictions` (or ``Classifier.evaluate``); load a saved one
    with :meth:`from_dict`. All fields are plain Python values, so reports compare with
    ``==``, hash, and serialise losslessly.

    JSON schema (``schema_version`` 1), as written by :meth:`to_dict`::

        {
          "schema_version": 1,
          "num_samples": int,                 # images evaluated
          "num_errors": int,                  # wrong predictions (all, not only listed)
          "class_names": [str, ...],          # column/row order everywhere below
          "accuracy": float,                  # 0..1
          "top_k": int,
          "top_k_accuracy": float,
          "loss": float,                      # mean cross-entropy
          "ece": float,                       # expected calibration error, 0..1
          "loss_before_calibration": float | null,
          "ece_before_calibration": float | null,
          "per_class": {class_name: {"precision": float, "recall": float,
                                     "f1": float, "support": int}, ...},
          "macro_avg":    {"precision": float, "recall": float, "f1": float, "support": int},
          "weighted_avg": {"precision": float, "recall": float, "f1": float, "support": int},
          "confusion_matrix": [[int, ...], ...],   # [true][predicted]
          "calibration": {"n_bins": int,
                          "bins": [{"lower": float, "upper": float, "count": int,
                                    "accuracy": float, "confidence": float}, ...]},
          "mistakes": [{"index": int, "file_path": str | null, "true_label": str,
                        "predicted_label": str, "confidence": float,
                        "true_probability": float, "loss": float}, ...],  # worst first
          "split": str                        # "validation", "test", ...; only when known
        }

    Keys are never removed or renamed within a schema version; new keys may be added.
    ``calibration.bins`` lists only non-empty bins. ``split`` was added within version 1
    and is written only when known, so a report of unknown split has exactly the keys it
    always had; one without it loads with ``split=None``.

    Attributes:
        class_names: the class names, in the order of every per-class field.
        num_samples: the number of images evaluated.
        accuracy: the fraction of right predictions, 0..1.
        top_k: the ``k`` of :attr:`top_k_accuracy`.
        top_k_accuracy: the fraction of images whose true class is among the ``top_k``
            most probable.
        loss: the mean cross-entropy.
        per_class: precision, recall, F1 and support of each class, in class order.
        macro_avg: the metrics averaged over classes, every class weighing the same.
        weighted_avg: the metrics averaged over classes weighted by support.
        confusion: counts, ``confusion[true][predicted]``; see :attr:`confusion_matrix`
            for an array.
        ece: the expected calibration error, 0..1.
        calibration_bins: the non-empty confidence bins behind :attr:`ece`.
        n_bins: the number of confidence bins (empty ones included).
        mistakes: the worst wrong predictions (highest loss first), at most
            ``num_mistakes`` of them.
        loss_before_calibration: the mean cross-entropy before calibration, or ``None``.
        ece_before_calibration: the expected calibration error before calibration, or
            ``None``.
        split: the split the images come from, e.g. ``"validation"`` or ``"test"``, or
            ``None`` when unknown (a folder or a ``tf.data.Dataset`` of the caller's).
        min_confidence: the confidence threshold the report was asked about
            (``from_predictions(min_confidence=...)``), or ``None``.
        coverage: with ``min_confidence``, the share of images whose highest probability
            reaches it (the ones ``predict(min_confidence=...)`` answers); else ``None``.
        selective_accuracy: with ``min_confidence``, the accuracy on those images
            (``None`` when none reaches it, or without ``min_confidence``).

    Raises:
        ~flowerkit.ConfigError: :meth:`from_predictions` is given malformed labels,
            probabilities or arguments, or :meth:`from_dict` data that is not a complete
            report of this schema version. The constructor itself checks nothing.

    Example:
        >>> import json
        >>> import numpy as np
        >>> from flowerkit.evaluation import EvaluationReport
        >>> probabilities = np.array(
        ...     [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]
        ... )
        >>> report = EvaluationReport.from_predictions(
        ...     [0, 1, 1, 2], probabilities, ["daisy", "roses", "tulips"],
        ...     top_k=2, split="validation", min_confidence=0.65,
        ... )
        >>> report.accuracy, report.top_k_accuracy, report.num_errors
        (0.75, 1.0, 1)
        >>> report.most_confused()
        [('roses', 'daisy', 1)]
        >>> report.coverage, report.selective_accuracy  # the 0.6 mistake is not answered
        (0.75, 1.0)
        >>> EvaluationReport.from_dict(json.loads(report.to_json())) == report
        True
        >>> print(report.to_text())
        split: validation
        4 images, 3 classes, 1 wrong
        accuracy 75.0%   top-2 accuracy 100.0%   loss 0.5351   ECE 0.3500
        at confidence >= 0.65: coverage 75.0%, accuracy 100.0%
        <BLANKLINE>
        class         precision  recall      f1  support
        daisy             0.500   1.000   0.667        1
        roses             1.000   0.500   0.667        2
        tulips            1.000   1.000   1.000        1
        macro avg         0.833   0.833   0.778        4
        weighted avg      0.875   0.750   0.750        4
        <BLANKLINE>
        most confused: roses -> daisy (1)
        <BLANKLINE>
        worst mistakes:
          roses -> daisy (0.60)  #2
        <BLANKLINE>
    """

    class_names: tuple[str, ...]
    num_samples: int
    accuracy: float
    top_k: int
    top_k_accuracy: float
    loss: float
    per_class: tuple[ClassMetrics, ...]
    macro_avg: AverageMetrics
    weighted_avg: AverageMetrics
    confusion: tuple[tuple[int, ...], ...]
    ece: float
    calibration_bins: tuple[CalibrationBin, ...]
    n_bins: int
    mistakes: tuple[Mistake, ...]
    loss_before_calibration: float | None = None
    ece_before_calibration: float | None = None
    split: str | None = None
    min_confidence: float | None = None
    coverage: float | None = None
    selective_accuracy: float | None = None

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_predictions(
        cls,
        labels: ArrayLike,
        probabilities: ArrayLike,
        class_names: Sequence[str],
        *,
        file_paths: Sequence[str | os.PathLike[str] | None] | None = None,
        top_k: int = 3,
        num_mistakes: int = 16,
        probabilities_before_calibration: ArrayLike | None = None,
        split: str | None = None,
        min_confidence: float | None = None,
    ) -> EvaluationReport:
        """Compute a report from true ``labels`` and predicted ``probabilities``.

        Args:
            labels: class indices (``N`` integers).
            probabilities: an ``(N, C)`` array of softmax outputs in the same order.
            class_names: the ``C`` names.
            file_paths: optional, ``N`` paths; lets the report say which files were
                misclassified.
            top_k: the ``k`` of the top-k accuracy; clipped to ``C``.
            num_mistakes: how many of the worst mistakes to keep.
            probabilities_before_calibration: the uncalibrated probabilities, to also
                record the loss and ECE before calibration (e.g. temperature scaling).
            split: the name of the split evaluated (e.g. ``"validation"`` or ``"test"``),
                recorded and shown by the renderings; ``None`` when unknown.
            min_confidence: a confidence threshold (0..1): the report then also records
                the ``coverage`` (share of images whose highest probability reaches it,
                the ones ``predict(min_confidence=...)`` answers) and the
                ``selective_accuracy`` on those images (``None`` when none reaches it).

        Raises:
            ~flowerkit.ConfigError: an input is malformed; the message names the
                argument and shows the bad value or shape.
        """
        names = v.check_class_names(class_names)
        probs = _check_probabilities(probabilities, "probabilities", len(names))
        y = check_labels(labels, "labels", probs.shape[0], len(names))
        paths = _check_file_paths(file_paths, len(y))
        k = min(v.check_positive_int(top_k, "top_k"), len(names))
        keep = v.check_positive_int(num_mistakes, "num_mistakes", minimum=0)
        split = _check_split(split)
        coverage = selective = None
        if min_confidence is not None:
            min_confidence = v.check_fraction(
                min_confidence, "min_confidence", allow_zero=True, allow_one=True
            )
            answered = probs.max(axis=1) >= min_confidence
            coverage = float(answered.mean())
            if answered.any():
                selective = float((probs.argmax(axis=1)[answered] == y[answered]).mean())

        n, c = probs.shape
        predicted = probs.argmax(axis=1)
        ranking = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        losses = _sample_losses(y, probs)
        matrix = np.bincount(y * c + predicted, minlength=c * c).reshape(c, c)
        per_class, macro, weighted = _class_metrics(names, matrix, n)
        mistakes = _worst_mistakes(names, y, probs, predicted, losses, paths, keep)
        bins = _calibration_bins(y, probs, ECE_BINS)
        loss_before, ece_before = _before_calibration(y, probs, probabilities_before_calibration)

        return cls(
            class_names=names,
            num_samples=int(n),
            accuracy=float((predicted == y).mean()),
            top_k=k,
            top_k_accuracy=float((ranking == y[:, None]).any(axis=1).mean()),
            loss=float(losses.mean()),
            per_class=per_class,
            macro_avg=macro,
            weighted_avg=weighted,
            confusion=tuple(tuple(int(x) for x in row) for row in matrix),
            ece=_ece_from_bins(bins, n),
            calibration_bins=tuple(bins),
            n_bins=ECE_BINS,
            mistakes=mistakes,
            loss_before_calibration=loss_before,
            ece_before_calibration=ece_before,
            split=split,
            min_confidence=min_confidence,
            coverage=coverage,
            selective_accuracy=selective,
        )

    # ----------------------------------------------------------------- queries

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_errors(self) -> int:
        """Number of wrong predictions (all of them, not only the listed mistakes)."""
        return self.num_samples - sum(self.confusion[i][i] for i in range(self.num_classes))

    @property
    def confusion_matrix(self) -> NDArray[np.int64]:
        """The confusion matrix as a new ``(C, C)`` int64 array, rows true, columns predicted."""
        return np.array(self.confusion, dtype=np.int64).reshape(self.num_classes, self.num_classes)

    def most_confused(self, min_count: int = 1) -> list[tuple[str, str, int]]:
        """The pairs of classes the model confuses, most often confused first.

        Args:
            min_count: the fewest wrong predictions a pair needs to be listed.

        Returns:
            ``(actual, predicted, count)`` for off-diagonal cells with
            ``count >= min_count``, sorted by count, largest first, then by class order.
        """
        min_count = v.check_positive_int(min_count, "min_count")
        pairs = [
            (self.class_names[t], self.class_names[p], count)
            for t, row in enumerate(self.confusion)
            for p, count in enumerate(row)
            if t != p and count >= min_count
        ]
        order = {name: i for i, name in enumerate(self.class_names)}
        return sorted(pairs, key=lambda x: (-x[2], order[x[0]], order[x[1]]))

    def top_losses(self, k: int | None = None) -> tuple[Mistake, ...]:
        """The ``k`` worst mistakes (all kept ones when ``k`` is ``None``), worst first."""
        if k is None:
            return self.mistakes
        return self.mistakes[: v.check_positive_int(k, "k", minimum=0)]

    # ----------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe ``dict`` in the documented schema (see the class docstring)."""

        def _metrics(m: ClassMetrics | AverageMetrics) -> dict[str, Any]:
            return {"precision": m.precision, "recall": m.recall, "f1": m.f1, "support": m.support}

        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "num_samples": self.num_samples,
            "num_errors": self.num_errors,
            "class_names": list(self.class_names),
            "accuracy": self.accuracy,
            "top_k": self.top_k,
            "top_k_accuracy": self.top_k_accuracy,
            "loss": self.loss,
            "ece": self.ece,
            "loss_before_calibration": self.loss_before_calibration,
            "ece_before_calibration": self.ece_before_calibration,
            "per_class": {m.name: _metrics(m) for m in self.per_class},
            "macro_avg": _metrics(self.macro_avg),
            "weighted_avg": _metrics(self.weighted_avg),
            "confusion_matrix": [list(row) for row in self.confusion],
            "calibration": {
                "n_bins": self.n_bins,
                "bins": [
                    {
                        "lower": b.lower,
                        "upper": b.upper,
                        "count": b.count,
                        "accuracy": b.accuracy,
                        "confidence": b.confidence,
                    }
                    for b in self.calibration_bins
                ],
            },
            "mistakes": [
                {
                    "index": m.index,
                    "file_path": m.file_path,
                    "true_label": m.true_label,
                    "predicted_label": m.predicted_label,
                    "confidence": m.confidence,
                    "true_probability": m.true_probability,
                    "loss": m.loss,
                }
                for m in self.mistakes
            ],
        }
        if self.split is not None:
            out["split"] = self.split
        if self.min_confidence is not None:
            out["min_confidence"] = self.min_confidence
            out["coverage"] = self.coverage
            out["selective_accuracy"] = self.selective_accuracy
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as strict JSON (no ``NaN``)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        """Rebuild a report from :meth:`to_dict` output (or parsed :meth:`to_json`).

        Raises:
            ~flowerkit.ConfigError: ``data`` is not a complete, valid report of
                this schema version.
        """
        _check_schema(data)
        try:
            names = tuple(str(n) for n in data["class_names"])
            per_class = data["per_class"]
            calibration = data["calibration"]
            return cls(
                class_names=names,
                num_samples=int(data["num_samples"]),
                accuracy=float(data["accuracy"]),
                top_k=int(data["top_k"]),
                top_k_accuracy=float(data["top_k_accuracy"]),
                loss=float(data["loss"]),
                per_class=tuple(_class_metrics_from_dict(name, per_class[name]) for name in names),
                macro_avg=_average_from_dict(data["macro_avg"]),
                weighted_avg=_average_from_dict(data["weighted_avg"]),
                confusion=tuple(tuple(int(x) for x in row) for row in data["confusion_matrix"]),
                ece=float(data["ece"]),
                calibration_bins=tuple(_bin_from_dict(b) for b in calibration["bins"]),
                n_bins=int(calibration["n_bins"]),
                mistakes=tuple(_mistake_from_dict(m) for m in data["mistakes"]),
                loss_before_calibration=_optional_float(data.get("loss_before_calibration")),
                ece_before_calibration=_optional_float(data.get("ece_before_calibration")),
                split=_optional_str(data.get("split"), "split"),
                min_confidence=_optional_float(data.get("min_confidence")),
                coverage=_optional_float(data.get("coverage")),
                selective_accuracy=_optional_float(data.get("selective_accuracy")),
            )
        except KeyError as exc:
            raise ConfigError(
                f"`data` is not a complete evaluation report: the key {exc.args[0]!r} is missing."
            ) from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"`data` is not a valid evaluation report: {exc}") from exc

    # ----------------------------------------------------------------- rendering

    def to_markdown(self) -> str:
        """The report as GitHub-flavoured Markdown tables."""
        sections = [
            _markdown_summary(self),
            _markdown_per_class(self),
            _markdown_confusion(self),
            _markdown_most_confused(self),
            _markdown_mistakes(self),
        ]
        return "\n".join(line for section in sections for line in section) + "\n"

    def _selective_line(self) -> str:
        """One line: what answering only above ``min_confidence`` covers and scores."""
        accuracy = "-" if self.selective_accuracy is None else f"{self.selective_accuracy:.1%}"
        return (
            f"at confidence >= {self.min_confidence:g}: coverage {self.coverage:.1%}, "
            f"accuracy {accuracy}"
        )

    def to_text(self, max_mistakes: int = 5) -> str:
        """A compact plain-text table for a terminal (arrows are written ``->``)."""
        width = min(max(12, *(len(n) for n in self.class_names)), 28)
        head = (
            f"{self.num_samples} images, {self.num_classes} classes, {self.num_errors} wrong\n"
            f"accuracy {self.accuracy:.1%}   top-{self.top_k} accuracy "
            f"{self.top_k_accuracy:.1%}   loss {self.loss:.4f}   ECE {self.ece:.4f}"
        )
        if self.ece_before_calibration is not None:
            head += f" (before calibration {self.ece_before_calibration:.4f})"
        if self.split is not None:
            head = f"split: {self.split}\n" + head
        if self.min_confidence is not None:
            head += "\n" + self._selective_line()
        rows = [head, "", f"{'class':<{width}}  precision  recall      f1  support"]
        for name, m in [(m.name, m) for m in self.per_class] + [
            ("macro avg", self.macro_avg),
            ("weighted avg", self.weighted_avg),
        ]:
            rows.append(
                f"{_truncate(name, width):<{width}}  {m.precision:9.3f}  {m.recall:6.3f}  "
                f"{m.f1:6.3f}  {m.support:7d}"
            )
        confused = self.most_confused()[:5]
        if confused:
            rows += ["", "most confused: " + ", ".join(f"{t} -> {p} ({n})" for t, p, n in confused)]
        shown = self.mistakes[:max_mistakes]
        if shown:
            rows += ["", "worst mistakes:"]
            for miss in shown:
                where = miss.file_path if miss.file_path is not None else f"#{miss.index}"
                rows.append(
                    f"  {miss.true_label} -> {miss.predicted_label} ({miss.confidence:.2f})  "
                    f"{where}"
                )
        return "\n".join(rows) + "\n"

    def to_html(
        self,
        path: str | os.PathLike[str],
        *,
        history: Any = None,
        title: str | None = None,
    ) -> Path:
        """Write the report as one self-contained HTML file and return its path.

        The page has inline CSS and no scripts or external links: plots (when matplotlib
        is installed; otherwise an HTML confusion table) and thumbnails of the worst
        mistakes are embedded as ``data:`` URIs, so it opens offline in any browser.

        Args:
            path: the file to write.
            history: a Keras ``History``, its ``.history`` dict or a fitted
                ``Classifier``; adds the training curves.
            title: the page's heading (default ``"Evaluation report"``); the split, when
                known, is named under it.

        Returns:
            The path written, with ``~`` expanded.
        """
        out = Path(os.fspath(path)).expanduser()
        page = _renderer("html")(self, history=history, title=title)
        out.write_text(page, encoding="utf-8")
        return out


def _class_metrics(
    names: tuple[str, ...], matrix: NDArray[np.int64], n: int
) -> tuple[tuple[ClassMetrics, ...], AverageMetrics, AverageMetrics]:
    """Per-class, macro-averaged and support-weighted metrics from a confusion matrix."""
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    precision = _safe_divide(tp, matrix.sum(axis=0))
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    per_class = tuple(
        ClassMetrics(name, float(p), float(r), float(f), int(s))
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    )
    weights = support / n
    macro = AverageMetrics(float(precision.mean()), float(recall.mean()), float(f1.mean()), int(n))
    weighted = AverageMetrics(
        float(weights @ precision), float(weights @ recall), float(weights @ f1), int(n)
    )
    return per_class, macro, weighted


def _worst_mistakes(
    names: tuple[str, ...],
    y: NDArray[np.int64],
    probs: NDArray[np.float64],
    predicted: NDArray[np.int64],
    losses: NDArray[np.float64],
    paths: tuple[str | None, ...],
    keep: int,
) -> tuple[Mistake, ...]:
    """The ``keep`` wrong predictions with the highest loss, worst first, ties by position."""
    wrong = np.flatnonzero(predicted != y)
    order = wrong[np.lexsort((wrong, -losses[wrong]))][:keep]
    return tuple(
        Mistake(
            index=int(i),
            file_path=paths[i],
            true_label=names[y[i]],
            predicted_label=names[predicted[i]],
            confidence=float(probs[i, predicted[i]]),
            true_probability=float(probs[i, y[i]]),
            loss=float(losses[i]),
        )
        for i in order
    )


def _before_calibration(
    y: NDArray[np.int64], probs: NDArray[np.float64], before_value: ArrayLike | None
) -> tuple[float | None, float | None]:
    """The loss and ECE of the uncalibrated probabilities, or ``(None, None)`` without them."""
    if before_value is None:
        return None, None
    n, c = probs.shape
    before = _check_probabilities(before_value, "probabilities_before_calibration", c)
    if before.shape != probs.shape:
        raise ConfigError(
            "`probabilities_before_calibration` must have the shape of "
            f"`probabilities` {probs.shape}. Received shape {before.shape}."
        )
    loss_before = float(_sample_losses(y, before).mean())
    ece_before = _ece_from_bins(_calibration_bins(y, before, ECE_BINS), n)
    return loss_before, ece_before


def _check_schema(data: object) -> None:
    """``data`` is a mapping of this schema version (what :meth:`EvaluationReport.from_dict`
    checks before reading any field)."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"`data` must be a dict from EvaluationReport.to_dict(). "
            f"Received an object of type {type(data).__name__}."
        )
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"`data` has schema_version={version!r}; this flowerkit reads version {SCHEMA_VERSION}."
        )


def _class_metrics_from_dict(name: str, d: Mapping[str, Any]) -> ClassMetrics:
    return ClassMetrics(
        name, float(d["precision"]), float(d["recall"]), float(d["f1"]), int(d["support"])
    )


def _bin_from_dict(d: Mapping[str, Any]) -> CalibrationBin:
    return CalibrationBin(
        float(d["lower"]),
        float(d["upper"]),
        int(d["count"]),
        float(d["accuracy"]),
        float(d["confidence"]),
    )


def _mistake_from_dict(d: Mapping[str, Any]) -> Mistake:
    return Mistake(
        index=int(d["index"]),
        file_path=None if d["file_path"] is None else str(d["file_path"]),
        true_label=str(d["true_label"]),
        predicted_label=str(d["predicted_label"]),
        confidence=float(d["confidence"]),
        true_probability=float(d["true_probability"]),
        loss=float(d["loss"]),
    )


def _average_from_dict(d: Mapping[str, Any]) -> AverageMetrics:
    return AverageMetrics(
        float(d["precision"]), float(d["recall"]), float(d["f1"]), int(d["support"])
    )


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    raise ValueError(f"expected a number or null, got {value!r}")


def _optional_str(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"expected {name!r} to be a string or null, got {value!r}")


def _check_split(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise ConfigError(
        f"`split` must be the name of the split evaluated, e.g. 'validation' or 'test', "
        f"or None. Received: split={value!r}"
    )


def _md_cell(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------- Markdown
# The sections of EvaluationReport.to_markdown, each a list of lines.


def _markdown_summary(report: EvaluationReport) -> list[str]:
    """The heading, the counts, the split and threshold when known, and the metric table."""
    lines = [
        "## Evaluation report",
        "",
        f"{report.num_samples} images, {report.num_classes} classes, {report.num_errors} wrong.",
        "",
    ]
    if report.split is not None:
        lines += [f"split: {_md_cell(report.split)}", ""]
    if report.min_confidence is not None:
        lines += [f"{report._selective_line()}", ""]
    lines += [
        "| Metric | Value |",
        "| --- | ---: |",
        f"| Accuracy | {report.accuracy:.4f} |",
        f"| Top-{report.top_k} accuracy | {report.top_k_accuracy:.4f} |",
        f"| Loss (cross-entropy) | {report.loss:.4f} |",
        f"| Expected calibration error | {report.ece:.4f} |",
    ]
    if report.loss_before_calibration is not None:
        lines.append(f"| Loss before calibration | {report.loss_before_calibration:.4f} |")
    if report.ece_before_calibration is not None:
        lines.append(f"| ECE before calibration | {report.ece_before_calibration:.4f} |")
    return lines


def _markdown_per_class(report: EvaluationReport) -> list[str]:
    lines = [
        "",
        "### Per class",
        "",
        "| Class | Precision | Recall | F1 | Support |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for cm in report.per_class:
        lines.append(
            f"| {_md_cell(cm.name)} | {cm.precision:.4f} | {cm.recall:.4f} | {cm.f1:.4f} "
            f"| {cm.support} |"
        )
    for label, a in (("Macro avg", report.macro_avg), ("Weighted avg", report.weighted_avg)):
        lines.append(
            f"| *{label}* | {a.precision:.4f} | {a.recall:.4f} | {a.f1:.4f} | {a.support} |"
        )
    return lines


def _markdown_confusion(report: EvaluationReport) -> list[str]:
    lines = [
        "",
        "### Confusion matrix (rows: true class, columns: predicted class)",
        "",
        "| True \\ Predicted | " + " | ".join(_md_cell(n) for n in report.class_names) + " |",
        "| --- |" + " ---: |" * report.num_classes,
    ]
    for name, row in zip(report.class_names, report.confusion, strict=True):
        lines.append(f"| **{_md_cell(name)}** | " + " | ".join(str(x) for x in row) + " |")
    return lines


def _markdown_most_confused(report: EvaluationReport) -> list[str]:
    """The confused pairs' table; nothing when there are none."""
    confused = report.most_confused()
    if not confused:
        return []
    lines = ["", "### Most confused", "", "| True | Predicted | Count |", "| --- | --- | ---: |"]
    return lines + [f"| {_md_cell(t)} | {_md_cell(p)} | {n} |" for t, p, n in confused]


def _markdown_mistakes(report: EvaluationReport) -> list[str]:
    """The worst mistakes' table; nothing when none are kept."""
    if not report.mistakes:
        return []
    lines = [
        "",
        "### Worst mistakes",
        "",
        "| # | File | True | Predicted | Confidence | Loss |",
        "| ---: | --- | --- | --- | ---: | ---: |",
    ]
    for miss in report.mistakes:
        path = _md_cell(miss.file_path) if miss.file_path is not None else ""
        lines.append(
            f"| {miss.index} | {path} | {_md_cell(miss.true_label)} "
            f"| {_md_cell(miss.predicted_label)} | {miss.confidence:.3f} | {miss.loss:.3f} |"
        )
    return lines
