"""A model's scores on labelled data, and the evaluation report made from them.

``Classifier.evaluate`` and ``Classifier.calibrate`` are these functions with the
classifier's compiled scorer: the data is turned into ``(images, labels)`` batches by
:func:`flowerkit.data.labelled_batches`, scored once, in order, and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from flowerkit.core.numeric import softmax
from flowerkit.data import Datasets, LabelledData, labelled_batches
from flowerkit.evaluation.report import EvaluationReport
from flowerkit.exceptions import ConfigError
from flowerkit.options.inference import EvaluateOptions

__all__ = ["Scores", "evaluate_scores", "labelled_scores"]

#: A model's logits for a batch of images, ``tta`` or not: ``scores(images, tta)``.
Scores = Callable[[NDArray[Any], bool], NDArray[np.float64]]


def labelled_scores(
    scores: Scores,
    data: LabelledData,
    *,
    class_names: Sequence[str],
    image_size: tuple[int, int],
    tta: bool = False,
    subset: Literal["validation", "test"] = "validation",
) -> tuple[NDArray[np.int64], NDArray[np.float64], list[str] | None]:
    """The labels, logits (before any temperature) and file paths (when known) of
    ``data``, in order.

    Args:
        scores: the model's logits for a batch, ``scores(images, tta)``.
        data: labelled data, as ``Classifier.evaluate`` takes it.
        class_names: the model's classes.
        image_size: the model's input size.
        tta: score the test-time views.
        subset: for :class:`~flowerkit.data.Datasets`, the split.

    Raises:
        ~flowerkit.ConfigError: the data is empty, or does not fit the model.

    Example:
        >>> import numpy as np
        >>> import flowerkit as fk
        >>> from flowerkit.evaluation.scoring import labelled_scores
        >>> data = fk.load_datasets("photos", image_size=32, batch_size=8, seed=1)
        >>> def zeros(images, tta):
        ...     return np.zeros((len(images), 3))
        >>> labels, logits, paths = labelled_scores(
        ...     zeros, data, class_names=data.class_names, image_size=(32, 32)
        ... )
        >>> logits.shape == (len(labels), 3), len(paths) == len(labels)
        (True, True)
    """
    dataset, paths = labelled_batches(
        data, class_names=class_names, image_size=image_size, subset=subset
    )
    labels: list[NDArray[Any]] = []
    logits: list[NDArray[np.float64]] = []
    for images, ys in dataset:
        logits.append(scores(np.asarray(images), tta))
        labels.append(np.asarray(ys).reshape(-1))
    if not logits:
        raise ConfigError("The evaluation data is empty.")
    return np.concatenate(labels).astype(np.int64), np.concatenate(logits), paths


def evaluate_scores(
    scores: Scores,
    data: LabelledData,
    options: EvaluateOptions,
    *,
    class_names: Sequence[str],
    image_size: tuple[int, int],
    temperature: float = 1.0,
) -> EvaluationReport:
    """Score ``data`` once and report: what ``Classifier.evaluate`` does.

    Args:
        scores: the model's logits for a batch, ``scores(images, tta)``.
        data: labelled data, as ``Classifier.evaluate`` takes it.
        options: the evaluation's options.
        class_names: the model's classes.
        image_size: the model's input size.
        temperature: the calibration temperature applied to the logits; the report also
            shows the calibration before it when it is not 1.

    Raises:
        ~flowerkit.ConfigError: the data is empty, or does not fit the model.

    Example:
        >>> import numpy as np
        >>> import flowerkit as fk
        >>> from flowerkit.evaluation.scoring import evaluate_scores
        >>> from flowerkit.options.inference import EvaluateOptions
        >>> data = fk.load_datasets("photos", image_size=32, batch_size=8, seed=1)
        >>> def zeros(images, tta):
        ...     return np.zeros((len(images), 3))
        >>> report = evaluate_scores(
        ...     zeros, data, EvaluateOptions(), class_names=data.class_names, image_size=(32, 32)
        ... )
        >>> report.split, report.num_samples == len(data.validation_files)
        ('validation', True)
    """
    labels, logits, paths = labelled_scores(
        scores,
        data,
        class_names=class_names,
        image_size=image_size,
        tta=options.tta,
        subset=options.subset,
    )
    return EvaluationReport.from_predictions(
        labels,
        softmax(logits / temperature),
        class_names,
        file_paths=paths,
        top_k=options.top_k,
        num_mistakes=options.num_mistakes,
        probabilities_before_calibration=softmax(logits) if temperature != 1.0 else None,
        split=options.subset if isinstance(data, Datasets) else None,
        min_confidence=options.min_confidence,
    )
