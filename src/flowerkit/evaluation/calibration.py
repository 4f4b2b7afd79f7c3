"""Temperature scaling: one number that makes a classifier's confidences honest.

A network trained with cross-entropy is usually over-confident: among the images it calls
90% sure, fewer than 90% are right. Temperature scaling (Guo et al., 2017, "On Calibration
of Modern Neural Networks") divides every logit by a single temperature ``T > 0`` chosen to
minimise the negative log-likelihood (NLL) of held-out labels. ``T > 1`` softens
over-confident predictions, ``T < 1`` sharpens under-confident ones. Dividing all logits
of a row by the same positive number never changes which class is largest, so accuracy is
unchanged; only the probabilities move.

:func:`fit_temperature` finds ``T`` with NumPy alone (no SciPy). The NLL is a convex
function of ``1 / T`` (a log-sum-exp of terms linear in ``1 / T`` minus a linear term), so
it has a single minimum along ``log T`` and a golden-section search on ``log T`` within
``bounds`` finds it to machine-level precision in a few dozen evaluations.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowerkit.core.numeric import check_labels, softmax
from flowerkit.exceptions import ConfigError

__all__ = ["apply_temperature", "calibrate_logits", "fit_temperature", "temperature_nll"]

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0  # 1 / golden ratio


def _check_logits(logits: ArrayLike) -> NDArray[np.float64]:
    try:
        z = np.asarray(logits, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            "`logits` must be a numeric (N, num_classes) array. "
            f"Received an object of type {type(logits).__name__}."
        ) from None
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 2:
        raise ConfigError(
            "`logits` must have shape (N, num_classes) with N >= 1 and num_classes >= 2. "
            f"Received shape {z.shape}."
        )
    if not np.all(np.isfinite(z)):
        raise ConfigError("`logits` must be finite; it holds NaN or infinite values.")
    return z


def _check_bounds(bounds: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ConfigError(
            f"`bounds` must be a (low, high) pair of positive numbers. Received: bounds={bounds!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo < hi):
        raise ConfigError(
            f"`bounds` must satisfy 0 < low < high (both finite). Received: bounds={bounds!r}"
        )
    return lo, hi


def _check_temperature(temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise ConfigError(
            f"`temperature` must be a positive number. Received: temperature={temperature!r}"
        )
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ConfigError(
            f"`temperature` must be a positive number. Received: temperature={temperature!r}"
        )
    return t


def _nll(z: NDArray[np.float64], y: NDArray[np.int64], temperature: float) -> float:
    scaled = z / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(y)), y]))


def _mean_confidence(z: NDArray[np.float64], temperature: float) -> float:
    return float(softmax(z / temperature).max(axis=1).mean())


def temperature_nll(logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``.

    Args:
        logits: ``(N, num_classes)`` array of unnormalised scores.
        labels: ``N`` integer class indices.
        temperature: a positive number; 1 leaves the logits as they are.

    Returns:
        The mean NLL in nats.

    Raises:
        ~flowerkit.ConfigError: ``logits`` is not a finite ``(N, num_classes)`` array
            with at least two columns, ``labels`` do not match it, or ``temperature`` is
            not a positive number.

    Example:
        The NLL is lowest at the temperature :func:`fit_temperature` finds:

        >>> import numpy as np
        >>> from flowerkit.evaluation import temperature_nll
        >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
        >>> labels = [0, 1, 1, 0]  # one confident mistake in four
        >>> [round(temperature_nll(logits, labels, t), 3) for t in (1.0, 3.64, 10.0)]
        [1.018, 0.562, 0.613]
    """
    z = _check_logits(logits)
    y = check_labels(labels, "labels", z.shape[0], z.shape[1], rows="logits")
    return _nll(z, y, _check_temperature(temperature))


def apply_temperature(logits: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """Class probabilities ``softmax(logits / temperature)``, row by row.

    Args:
        logits: ``(N, num_classes)`` array of unnormalised scores.
        temperature: a positive number, as returned by :func:`fit_temperature`.

    Returns:
        An ``(N, num_classes)`` float64 array whose rows sum to 1.

    Raises:
        ~flowerkit.ConfigError: ``logits`` is not a finite ``(N, num_classes)`` array
            with at least two columns, or ``temperature`` is not a positive number.

    Example:
        >>> from flowerkit.evaluation import apply_temperature
        >>> apply_temperature([[2.0, 0.0]], 1.0).round(3)
        array([[0.881, 0.119]])
        >>> apply_temperature([[2.0, 0.0]], 2.0).round(3)  # softer, same winner
        array([[0.731, 0.269]])
        >>> apply_temperature([[2.0, 0.0]], 0)
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: `temperature` must be a positive number. Received: temperature=0
    """
    return softmax(_check_logits(logits) / _check_temperature(temperature))


def fit_temperature(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    bounds: tuple[float, float] = (0.05, 20.0),
    max_confidence: float | None = None,
) -> float:
    """The temperature ``T`` that minimises the NLL of ``labels`` under ``softmax(logits / T)``.

    Fit it on data the model was not trained on (the validation split), then divide the
    logits by ``T`` before the softmax at prediction time. The search is a golden-section
    search on ``log T`` over ``bounds``; because the NLL has a single minimum along
    ``log T``, the result is the global minimum within the bounds (a bound itself when the
    minimum lies outside, e.g. ``T`` at the lower bound when every validation image is
    right with a wide margin).

    Args:
        logits: ``(N, num_classes)`` array of unnormalised scores (*not* probabilities;
            for a model that outputs probabilities pass their logarithm).
        labels: ``N`` integer class indices in ``0..num_classes - 1``.
        bounds: ``(low, high)``, the range of temperatures searched, ``0 < low < high``.
        max_confidence: the largest mean top-1 probability the result may give, in
            ``(0, 1)``, or ``None``. When the NLL's minimum gives more, ``T`` is raised
            until it gives this much (the mean top-1 probability falls as ``T`` grows).
            Without it a validation set the model gets all right drives ``T`` to the lower
            bound and every score to 1; :func:`calibrate_logits` passes the rule of
            succession's estimate of the accuracy.

    Returns:
        The fitted temperature as a Python float.

    Raises:
        ~flowerkit.ConfigError: when ``logits`` is not a finite 2-D array
            with at least two columns, ``labels`` do not match it, or ``bounds`` is
            invalid.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
        >>> round(fit_temperature(logits, [0, 1, 1, 0]), 2)  # one confident mistake in four
        3.64
    """
    z = _check_logits(logits)
    y = check_labels(labels, "labels", z.shape[0], z.shape[1], rows="logits")
    lo_t, hi_t = _check_bounds(bounds)
    if max_confidence is not None and not (
        isinstance(max_confidence, numbers.Real) and 0.0 < float(max_confidence) < 1.0
    ):
        raise ConfigError(
            "`max_confidence` must be in (0, 1) or None. "
            f"Received: max_confidence={max_confidence!r}"
        )

    def f(log_t: float) -> float:
        return _nll(z, y, math.exp(log_t))

    a, b = math.log(lo_t), math.log(hi_t)
    c = b - _INV_PHI * (b - a)
    d = a + _INV_PHI * (b - a)
    fc, fd = f(c), f(d)
    # The interval shrinks by 0.618 per step; stop when it is below 1e-7 in log T.
    while b - a > 1e-7:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _INV_PHI * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _INV_PHI * (b - a)
            fd = f(d)
    best_log_t, best = (c, fc) if fc <= fd else (d, fd)
    # The minimum may sit on a bound (golden section only ever probes the interior).
    for edge in (math.log(lo_t), math.log(hi_t)):
        value = f(edge)
        if value < best:
            best_log_t, best = edge, value
    if max_confidence is not None and _mean_confidence(z, math.exp(best_log_t)) > max_confidence:
        a, b = best_log_t, math.log(hi_t)  # too sure at a; bisect for the cap (or hi_t)
        while b - a > 1e-7:
            mid = (a + b) / 2
            if _mean_confidence(z, math.exp(mid)) > max_confidence:
                a = mid
            else:
                b = mid
        best_log_t = b
    return float(min(max(math.exp(best_log_t), lo_t), hi_t))


def calibrate_logits(logits: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Fit a temperature on held-out ``logits`` and say what it changed.

    Args:
        logits: ``(N, num_classes)`` held-out logits (log-probabilities will do).
        labels: their ``N`` class indices.

    The fit counts the held-out set as evidence of its size: the mean confidence it
    leaves may not exceed ``(k + 1) / (N + 2)`` for ``k`` right of ``N`` (Laplace's rule of
    succession: a model right on all ``N`` images is expected right on a new one with
    probability ``(N + 1) / (N + 2)``). Without that cap, a model that gets every held-out
    image right with a margin would be sharpened to certainty (scores of 1.0 whatever it
    sees next). Where the held-out set has mistakes the log-loss's own minimum lies near
    or below the cap, and the cap changes nothing.

    Returns:
        ``{"temperature", "ece_before", "ece_after"}``: the temperature
        (:func:`fit_temperature`) and the expected calibration error (15 bins) before and
        after it.

    Raises:
        ~flowerkit.ConfigError: as :func:`fit_temperature`.

    Example:
        >>> import numpy as np
        >>> from flowerkit.evaluation.calibration import calibrate_logits
        >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
        >>> result = calibrate_logits(logits, [0, 1, 1, 0])
        >>> round(result["temperature"], 2), result["ece_after"] < result["ece_before"]
        (5.77, True)
    """
    from flowerkit.evaluation.report import expected_calibration_error

    z = _check_logits(logits)
    y = check_labels(labels, "labels", z.shape[0], z.shape[1], rows="logits")
    right = int(np.sum(z.argmax(axis=1) == y))
    temperature = fit_temperature(z, y, max_confidence=(right + 1) / (len(z) + 2))
    return {
        "temperature": temperature,
        "ece_before": float(expected_calibration_error(labels, softmax(z))),
        "ece_after": float(expected_calibration_error(labels, softmax(z / temperature))),
    }
