"""Evaluation: the report of a model's predictions on labelled data, calibration
(temperature scaling), its text, Markdown and HTML renderings, and plots
(:mod:`flowerkit.evaluation.plots`, which needs the ``plot`` extra).

Importing this package imports neither TensorFlow nor Pillow nor matplotlib.
"""

from __future__ import annotations

# Registers the HTML renderer behind EvaluationReport.to_html (Pillow and matplotlib are
# imported only when a page is rendered).
from flowerkit.evaluation import html as _html  # noqa: F401
from flowerkit.evaluation.calibration import apply_temperature, fit_temperature, temperature_nll
from flowerkit.evaluation.report import (
    ECE_BINS,
    SCHEMA_VERSION,
    AverageMetrics,
    CalibrationBin,
    ClassMetrics,
    EvaluationReport,
    Mistake,
    expected_calibration_error,
)

__all__ = [
    "ECE_BINS",
    "SCHEMA_VERSION",
    "AverageMetrics",
    "CalibrationBin",
    "ClassMetrics",
    "EvaluationReport",
    "Mistake",
    "apply_temperature",
    "expected_calibration_error",
    "fit_temperature",
    "temperature_nll",
]
