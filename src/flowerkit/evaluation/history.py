"""Training histories in every form a user may hold one, turned into one dict."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from flowerkit.artifact import read_metadata
from flowerkit.exceptions import ConfigError

__all__ = ["as_history"]


def as_history(history: object) -> dict[str, list[float]]:
    """The ``{metric: [value per epoch]}`` dict behind any accepted ``history`` form.

    Args:
        history: such a dict, a Keras ``History``, a fitted ``Classifier`` (its
            ``history_``) or the path of a saved model (read from its metadata, without
            TensorFlow).

    Returns:
        A new dict of lists of floats, one list per metric.

    Raises:
        ~flowerkit.ConfigError: ``history`` is none of these, or a metric's
            values are not a list of numbers.
    """
    raw: object = history
    if isinstance(history, str | os.PathLike):
        raw = read_metadata(history).get("history") or {}
    for attribute in ("history_", "history"):
        if not isinstance(raw, Mapping) and hasattr(raw, attribute):
            raw = getattr(raw, attribute)
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "`history` must be a dict of metric lists (Keras `History.history`), a Keras "
            "`History`, a fitted Classifier (with `history_`) or a saved model's path. "
            f"Received an object of type {type(history).__name__}."
        )
    out: dict[str, list[float]] = {}
    for key, values in raw.items():
        if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
            raise ConfigError(
                f"`history[{key!r}]` must be a list of numbers (one per epoch). "
                f"Received {values!r}."
            )
        try:
            out[str(key)] = [float(x) for x in values]
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"`history[{key!r}]` must hold numbers. Received {list(values)[:5]!r}."
            ) from exc
    return out
