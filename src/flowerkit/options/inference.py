"""The options of prediction and evaluation that ``flowerkit predict`` and ``flowerkit
evaluate`` repeat, declared once (see :mod:`flowerkit.core.options`).

:class:`PredictOptions` serves ``Classifier.predict``, ``LiteClassifier.predict`` and
:func:`flowerkit.prediction.predict_inputs`; :class:`EvaluateOptions` serves
``Classifier.evaluate``. Both share the options of :class:`InferenceOptions`. Imports no
TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

from flowerkit.core.options import Flag, Options, option

__all__ = ["EvaluateOptions", "InferenceOptions", "PredictOptions"]


@dataclass(frozen=True, kw_only=True)
class InferenceOptions(Options):
    """What prediction and evaluation share.

    Example:
        >>> from flowerkit.options.inference import EvaluateOptions, PredictOptions
        >>> PredictOptions().top_k == EvaluateOptions().top_k == 3
        True
    """

    top_k: int = option(
        3, help="how many of the most likely classes to list", flag=Flag("K", parse=int)
    )
    tta: bool = option(
        False,
        help="test-time augmentation: average over mirror and centre-crop views (4x slower)",
        flag=Flag(kind="switch"),
    )
    min_confidence: float | None = option(
        None,
        help="a confidence (0..1) below which a prediction is 'uncertain' rather than "
        "labelled; evaluate also reports the coverage and accuracy it gives",
        flag=Flag("P", parse=float),
    )


@dataclass(frozen=True, kw_only=True)
class PredictOptions(InferenceOptions):
    """How images are classified (see ``Classifier.predict``).

    Example:
        >>> from flowerkit.options.inference import PredictOptions
        >>> PredictOptions.names("predict_inputs")
        ('top_k', 'batch_size', 'errors', 'progress', 'min_confidence')
    """

    batch_size: int = option(32, help="images a model call", flag=Flag("N", parse=int))
    errors: Literal["raise", "skip"] = option(
        "raise",
        help="'raise': a file that is not a usable image raises; 'skip': it is listed apart",
        no_flag_because="the command always skips and lists the files it could not read",
    )
    progress: Callable[[int, int], None] | None = option(
        None,
        help="called as progress(done, total) after every batch",
        no_flag_because="the command shows progress on a terminal",
    )
    explain: bool = option(
        False,
        help="attach each prediction's Grad-CAM map (where the model found its evidence)",
        no_flag_because="the command's --explain takes the folder it writes the overlays to",
    )

    _methods: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "predict": (
            "top_k",
            "batch_size",
            "errors",
            "progress",
            "tta",
            "min_confidence",
            "explain",
        ),
        "predict_inputs": ("top_k", "batch_size", "errors", "progress", "min_confidence"),
    }


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions(InferenceOptions):
    """How labelled data is evaluated (see ``Classifier.evaluate``).

    Example:
        >>> from flowerkit.options.inference import EvaluateOptions
        >>> EvaluateOptions().subset, EvaluateOptions().num_mistakes
        ('validation', 16)
    """

    subset: Literal["validation", "test"] = option(
        "validation",
        help="the split of a Datasets to evaluate",
        no_flag_because="the command evaluates a folder, which has no splits",
    )
    num_mistakes: int = option(
        16, help="how many of the worst mistakes the report keeps", flag=Flag("N", parse=int)
    )
