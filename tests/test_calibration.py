"""Temperature scaling (flowerkit.evaluation.calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from flowerkit.evaluation.calibration import (
    apply_temperature,
    calibrate_logits,
    fit_temperature,
    temperature_nll,
)
from flowerkit.evaluation.report import expected_calibration_error
from flowerkit.exceptions import ConfigError


def _calibrated(n: int = 20_000, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (n, k))
    probs = apply_temperature(logits, 1.0)
    cumulative = probs.cumsum(axis=1)
    labels = (rng.random((n, 1)) > cumulative).sum(axis=1)
    return logits, np.minimum(labels, k - 1)


def test_over_confident_logits_give_temperature_about_five_and_lower_ece() -> None:
    logits, labels = _calibrated()
    over = 5.0 * logits
    t = fit_temperature(over, labels)
    assert t == pytest.approx(5.0, rel=0.05)
    before = expected_calibration_error(labels, apply_temperature(over, 1.0))
    after = expected_calibration_error(labels, apply_temperature(over, t))
    assert before > 0.1 and after < 0.02 and after < before / 5
    assert temperature_nll(over, labels, t) < temperature_nll(over, labels, 1.0)


def test_calibrated_logits_give_temperature_one() -> None:
    logits, labels = _calibrated(seed=1)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.05)


def test_under_confident_logits_give_temperature_below_one() -> None:
    logits, labels = _calibrated(seed=2)
    assert fit_temperature(logits / 2, labels) == pytest.approx(0.5, rel=0.05)


def test_temperature_is_the_nll_minimum() -> None:
    logits, labels = _calibrated(n=2_000, k=3, seed=3)
    logits = 3.0 * logits
    t = fit_temperature(logits, labels)
    best = temperature_nll(logits, labels, t)
    for other in (t * 0.97, t * 1.03, 1.0, 10.0):
        assert best <= temperature_nll(logits, labels, other)


def test_minimum_outside_bounds_returns_the_bound() -> None:
    # Every prediction right with a wide margin: the NLL keeps falling as T -> 0.
    logits = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    labels = np.array([0, 1, 2])
    assert fit_temperature(logits, labels) == pytest.approx(0.05)
    assert fit_temperature(logits, labels, bounds=(0.5, 2.0)) == pytest.approx(0.5)
    # Every prediction wrong: the flattest distribution (largest T) is best.
    assert fit_temperature(logits, np.array([1, 2, 0]), bounds=(0.5, 2.0)) == pytest.approx(2.0)


def test_predicted_labels_never_change() -> None:
    logits, labels = _calibrated(n=500, seed=4)
    t = fit_temperature(4 * logits, labels)
    np.testing.assert_array_equal(
        apply_temperature(4 * logits, t).argmax(axis=1), logits.argmax(axis=1)
    )


def test_accepts_lists_column_labels_and_float_integer_labels() -> None:
    logits = [[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]]
    t = fit_temperature(logits, [0, 1, 1, 1])
    assert fit_temperature(np.array(logits), np.array([[0], [1], [1], [1]])) == pytest.approx(t)
    assert fit_temperature(logits, np.array([0.0, 1.0, 1.0, 1.0])) == pytest.approx(t)
    assert isinstance(t, float)


@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        ([1.0, 2.0], [0], "shape"),
        (np.zeros((0, 3)), [], "shape"),
        (np.zeros((2, 1)), [0, 0], "shape"),
        ([[0.0, np.nan]], [0], "finite"),
        ([["a", "b"]], [0], "numeric"),
        (np.zeros((2, 3)), [0], "1-D array of 2"),
        (np.zeros((2, 3)), [0, 3], "0..2"),
        (np.zeros((2, 3)), [0, -1], "0..2"),
        (np.zeros((2, 3)), [0.5, 1], "non-integers"),
        (np.zeros((2, 3)), ["x", "y"], "integer class indices"),
    ],
)
def test_bad_input_raises_config_error(logits: object, labels: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        fit_temperature(logits, labels)  # type: ignore[arg-type]


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (2.0, 1.0), (1.0, float("inf")), (1.0,), "ab"])
def test_bad_bounds_raise_config_error(bounds: object) -> None:
    with pytest.raises(ConfigError, match="bounds"):
        fit_temperature(np.zeros((2, 2)), [0, 1], bounds=bounds)  # type: ignore[arg-type]


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), "2", True])
def test_bad_temperature_raises_config_error(temperature: object) -> None:
    with pytest.raises(ConfigError, match="temperature"):
        apply_temperature(np.zeros((1, 2)), temperature)  # type: ignore[arg-type]


def test_a_cap_on_the_mean_confidence_keeps_a_perfect_set_from_certainty() -> None:
    """calibrate_logits caps the mean confidence at the rule of succession's (k+1)/(N+2):
    a validation set the model gets all right no longer drives every score to 1."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 40)
    logits = rng.normal(0.0, 1.0, (40, 4))
    logits[np.arange(40), labels] += 9.0  # all right, wide margins
    assert fit_temperature(logits, labels) == pytest.approx(0.05)  # the bound: certainty
    result = calibrate_logits(logits, labels)
    mean_top = apply_temperature(logits, result["temperature"]).max(axis=1).mean()
    assert mean_top == pytest.approx(41 / 42, abs=1e-6)
    capped = fit_temperature(logits, labels, max_confidence=0.9)
    assert apply_temperature(logits, capped).max(axis=1).mean() == pytest.approx(0.9, abs=1e-6)


def test_the_cap_leaves_a_set_with_mistakes_at_its_log_loss_minimum() -> None:
    logits, labels = _calibrated(n=2_000, k=5, seed=5)
    over = 3.0 * logits
    assert calibrate_logits(over, labels)["temperature"] == pytest.approx(
        fit_temperature(over, labels)
    )


@pytest.mark.parametrize("cap", [0.0, 1.0, -0.5, "high", True])
def test_bad_max_confidence_raises_config_error(cap: object) -> None:
    with pytest.raises(ConfigError, match="max_confidence"):
        fit_temperature([[1.0, 0.0]], [0], max_confidence=cap)  # type: ignore[arg-type]
