"""Numerics shared by training, evaluation and prediction: one softmax, one label check."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowerkit.exceptions import ConfigError

__all__ = ["balanced_class_weights", "check_labels", "softmax"]


def softmax(scores: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """``exp(scores)`` normalised along ``axis``, computed stably in float64."""
    z = np.asarray(scores, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=axis, keepdims=True), dtype=np.float64)


def check_labels(
    value: object, name: str, num_samples: int, num_classes: int, *, rows: str = "probabilities"
) -> NDArray[np.int64]:
    """``value`` as ``num_samples`` int64 class indices in ``[0, num_classes)``.

    Accepts any 1-D sequence of integers (or whole floats) and an ``(N, 1)`` column.

    Args:
        value: the labels to check.
        name: the argument's name, for error messages.
        num_samples: how many labels there must be.
        num_classes: how many classes there are.
        rows: names the array the labels must match row for row.

    Returns:
        The labels as a 1-D int64 array.

    Raises:
        ~flowerkit.ConfigError: one-hot rows, another shape, non-integers or
            out-of-range indices; the message names ``name``, the first bad entry and its
            position.
    """
    arr = np.asarray(value)
    if arr.ndim == 2 and arr.shape[1] == 1 and num_classes != 1:
        arr = arr.reshape(-1)
    if arr.ndim == 2 and arr.shape == (num_samples, num_classes):
        raise ConfigError(
            f"`{name}` must be class indices of shape ({num_samples},), not one-hot rows. "
            f"Received shape {arr.shape}; pass {name}.argmax(axis=1)."
        )
    if arr.ndim != 1 or len(arr) != num_samples:
        got = f"{len(arr)} labels" if arr.ndim == 1 else f"shape {arr.shape}"
        raise ConfigError(
            f"`{name}` must be a 1-D array of {num_samples} class indices, one per row of "
            f"`{rows}` ({num_samples}). Received {got}."
        )
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(
            f"`{name}` must hold integer class indices. Received dtype {arr.dtype}: "
            f"{arr[:8].tolist()!r}."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        whole = np.isfinite(arr) & (arr == np.round(arr))
        if not whole.all():
            i = int(np.flatnonzero(~whole)[0])
            raise ConfigError(
                f"`{name}` must hold integer class indices; it holds non-integers: "
                f"{arr[i].item()!r} at position {i}."
            )
    labels = arr.astype(np.int64)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"`{name}` must be class indices in [0, {num_classes}) (0..{num_classes - 1}). "
            f"Received {int(labels[i])} at position {i}."
        )
    return labels


def balanced_class_weights(labels: ArrayLike, num_classes: int) -> dict[int, float]:
    """Per-class weights ``{class: n_samples / (num_classes * count)}``.

    These are scikit-learn's ``"balanced"`` weights; a class with no sample gets 0.0.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64).reshape(-1), minlength=num_classes)
    n = counts.sum()
    return {i: float(n / (num_classes * c)) if c else 0.0 for i, c in enumerate(counts)}
