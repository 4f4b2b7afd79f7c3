"""The figures an export is verified by, and the sample images it is verified on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Check", "agreement", "max_abs_diff", "synthetic_sample"]


@dataclass(frozen=True)
class Check:
    """One figure measured on a fresh reload of what an export wrote.

    Attributes:
        name: what was checked (a signature, a format, ``"validation"``...).
        metric: ``"max_abs_diff"`` (probabilities against the Keras model's),
            ``"top1_agreement"`` (share of images given the same label),
            ``"accuracy_drop"`` (the Keras model's validation accuracy minus the export's) or
            ``"mismatched"`` (a ``.tflite`` file's metadata: how many of its labels,
            normalisation and packed files differ from what was exported).
        value: the figure.
        limit: the largest value that passes (the smallest, for ``top1_agreement``), or
            ``None`` for a figure that is only reported.
        detail: extra figures (accuracies, image counts).

    Example:
        >>> from flowerkit.export import Check
        >>> close = Check("float32", "max_abs_diff", 1.1e-07, limit=1e-4)
        >>> close.passed, str(close)
        (True, 'float32 max_abs_diff 1.1e-07 (limit 0.0001)')
        >>> Check("float32", "top1_agreement", 0.75).passed  # no limit: only reported
        True
        >>> drop = Check(
        ...     "validation", "accuracy_drop", 0.05, limit=0.02,
        ...     detail=(("keras_accuracy", 0.9), ("export_accuracy", 0.85), ("images", 40.0)),
        ... )
        >>> drop.passed
        False
        >>> drop.to_dict()
        {'name': 'validation', 'metric': 'accuracy_drop', 'value': 0.05, 'limit': 0.02,
         'passed': False, 'keras_accuracy': 0.9, 'export_accuracy': 0.85, 'images': 40.0}
    """

    name: str
    metric: str
    value: float
    limit: float | None = None
    detail: tuple[tuple[str, float], ...] = ()

    @property
    def passed(self) -> bool:
        """Whether the figure is within its limit (always true without one)."""
        if not math.isfinite(self.value):
            return False
        if self.limit is None:
            return True
        if self.metric == "top1_agreement":
            return self.value >= self.limit
        return self.value <= self.limit

    def __str__(self) -> str:
        bound = "" if self.limit is None else f" (limit {self.limit:g})"
        return f"{self.name} {self.metric} {self.value:.3g}{bound}"

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        return {
            "name": self.name,
            "metric": self.metric,
            "value": self.value,
            "limit": self.limit,
            "passed": self.passed,
            **dict(self.detail),
        }


def max_abs_diff(a: ArrayLike, b: ArrayLike) -> float:
    """The largest absolute difference between two arrays of probabilities."""
    diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return float(diff.max()) if diff.size else 0.0


def agreement(a: ArrayLike, b: ArrayLike) -> float:
    """The share of rows whose most likely class is the same in ``a`` and ``b``."""
    top_a = np.argmax(np.asarray(a), axis=1)
    top_b = np.argmax(np.asarray(b), axis=1)
    return float(np.mean(top_a == top_b)) if len(top_a) else 1.0


def synthetic_sample(
    image_size: tuple[int, int], count: int = 8, seed: int = 0
) -> NDArray[np.uint8]:
    """``count`` smooth random colour images (blurred noise, like out-of-focus photos
    more than static), for checking exports when no images are given."""
    rng = np.random.default_rng(seed)
    height, width = image_size
    coarse = rng.uniform(0, 255, size=(count, max(2, height // 8), max(2, width // 8), 3))
    rows = np.linspace(0, coarse.shape[1] - 1, height).round().astype(int)
    cols = np.linspace(0, coarse.shape[2] - 1, width).round().astype(int)
    smooth = coarse[:, rows][:, :, cols]
    noise = rng.normal(0, 12, size=smooth.shape)
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)
