"""Knowing when not to answer (min_confidence), and the learning-rate finder through the
Classifier."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from flowerkit.prediction import from_probabilities

ROWS = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.2, 0.7, 0.1]])


def test_predictions_below_the_threshold_are_uncertain() -> None:
    preds = from_probabilities(["a", "b", "c"], ROWS, ["x", "y", "z"], top_k=2, min_confidence=0.5)
    assert [p.uncertain for p in preds] == [False, True, False]
    assert preds.labels == ["x", "x", "y"]  # the best guess is kept
    assert [p.source for p in preds.answered] == ["a", "c"]
    assert preds[1].to_dict()["uncertain"] is True
    assert "uncertain" in str(preds[1])
    plain = from_probabilities(["a", "b", "c"], ROWS, ["x", "y", "z"], top_k=2)
    assert not any(p.uncertain for p in plain)


def test_report_coverage_and_accuracy_at_a_threshold() -> None:
    labels = [0, 1, 0]
    report = fk.EvaluationReport.from_predictions(labels, ROWS, ["x", "y", "z"], min_confidence=0.5)
    assert report.coverage == pytest.approx(2 / 3)
    assert report.selective_accuracy == 0.5  # answered: row 0 right, row 2 wrong
    assert report.accuracy == pytest.approx(1 / 3)
    again = fk.EvaluationReport.from_dict(report.to_dict())
    assert again == report
    assert "at confidence >= 0.5: coverage 66.7%, accuracy 50.0%" in report.to_text()
    nobody = fk.EvaluationReport.from_predictions(labels, ROWS, ["x", "y", "z"], min_confidence=1)
    assert nobody.coverage == 0 and nobody.selective_accuracy is None
    assert (
        "min_confidence"
        not in fk.EvaluationReport.from_predictions(labels, ROWS, ["x", "y", "z"]).to_dict()
    )
    with pytest.raises(fk.ConfigError, match="min_confidence"):
        fk.EvaluationReport.from_predictions(labels, ROWS, ["x", "y", "z"], min_confidence=2)


def test_classifier_predict_and_evaluate_with_min_confidence(trained: Any) -> None:
    clf, data = trained
    files = list(data.validation_files)
    preds = clf.predict(files)
    threshold = float(np.median([p.confidence for p in preds]))
    marked = clf.predict(files, min_confidence=threshold)
    assert [p.uncertain for p in marked] == [p.confidence < threshold for p in preds]
    report = clf.evaluate(data, min_confidence=threshold)
    assert report.coverage == pytest.approx(np.mean([not p.uncertain for p in marked]))
    with pytest.raises(fk.ConfigError, match="min_confidence"):
        clf.predict(files, min_confidence=-0.1)


def test_cli_marks_uncertain_photos(
    trained: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowerkit.cli import main

    clf, data = trained
    model = clf.save(tmp_path / "m.keras")
    photo = str(data.validation_files[0])
    assert main(["predict", str(model), photo, "--min-confidence", "1", "--format", "json"]) == 0
    assert '"uncertain": true' in capsys.readouterr().out
    assert main(["predict", str(model), photo, "--min-confidence", "1"]) == 0
    assert " uncertain " in capsys.readouterr().out


def test_find_learning_rate_leaves_the_classifier_as_it_was(trained: Any) -> None:
    clf, data = trained
    before = [w.copy() for w in clf.model.get_weights()]
    finding = clf.find_learning_rate(data, steps=12, start=1e-5, end=1e-1)
    assert len(finding.rates) == len(finding.losses) <= 12
    assert finding.rates[0] == pytest.approx(1e-5)
    for a, b in zip(before, clf.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_find_learning_rate_before_fit_compiles_with_the_recipe(
    colour_folder: Any, tiny_compact: str
) -> None:
    """The ``compact`` recipe (AdamW, schedule), on the tiny preset that has it."""
    data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)
    clf = fk.Classifier.from_preset(
        tiny_compact, class_names=data.class_names, image_size=32, seed=1
    )
    finding = clf.find_learning_rate(data, steps=8)
    assert clf.model.compiled and finding.rates
    history = clf.fit(data, epochs=1, verbose=0)  # the recipe's schedule still runs
    assert len(history.history["loss"]) == 1
