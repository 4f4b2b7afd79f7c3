"""EvaluationReport: numbers checked by hand, validation, serialisation and HTML."""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import LABELS, PROBS
from flowerkit.evaluation.report import (
    SCHEMA_VERSION,
    EvaluationReport,
    Mistake,
    expected_calibration_error,
)
from flowerkit.exceptions import ConfigError

NAMES = ("a", "b", "c")
# Five samples, worked by hand below:
#   s0 true a, p=[.7 .2 .1] -> a  right, conf .7
#   s1 true a, p=[.2 .5 .3] -> b  WRONG, conf .5, p_true .2, a not in top-2
#   s2 true b, p=[.1 .8 .1] -> b  right, conf .8
#   s3 true c, p=[.3 .3 .4] -> c  right, conf .4
#   s4 true c, p=[.6 .1 .3] -> a  WRONG, conf .6, p_true .3, c in top-2
# (LABELS and PROBS live in conftest.py, shared with the plotting tests.)
PATHS = ["s0.jpg", "s1.jpg", "s2.jpg", "s3.jpg", "s4.jpg"]


@pytest.fixture
def report() -> EvaluationReport:
    return EvaluationReport.from_predictions(LABELS, PROBS, NAMES, file_paths=PATHS, top_k=2)


# --------------------------------------------------------------------------- metrics


def test_accuracy_top_k_and_loss(report: EvaluationReport) -> None:
    assert report.num_samples == 5
    assert report.accuracy == pytest.approx(3 / 5)
    assert report.top_k == 2
    assert report.top_k_accuracy == pytest.approx(4 / 5)
    expected_loss = -np.mean(np.log([0.7, 0.2, 0.8, 0.4, 0.3]))
    assert report.loss == pytest.approx(expected_loss, rel=1e-6)
    assert report.num_errors == 2


def test_confusion_matrix_rows_are_true_classes(report: EvaluationReport) -> None:
    expected = [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert report.confusion == tuple(tuple(r) for r in expected)
    matrix = report.confusion_matrix
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, expected)
    matrix[0, 0] = 99  # a copy: the frozen report does not change
    assert report.confusion[0][0] == 1


def test_per_class_and_averages(report: EvaluationReport) -> None:
    # precision = diag / column sums [2, 2, 1]; recall = diag / row sums [2, 1, 2]
    a, b, c = report.per_class
    assert (a.name, a.precision, a.recall, a.f1, a.support) == ("a", 0.5, 0.5, 0.5, 2)
    assert (b.precision, b.recall, b.support) == (0.5, 1.0, 1)
    assert b.f1 == pytest.approx(2 / 3)
    assert (c.precision, c.recall, c.support) == (1.0, 0.5, 2)
    assert c.f1 == pytest.approx(2 / 3)
    assert report.macro_avg.precision == pytest.approx(2 / 3)
    assert report.macro_avg.recall == pytest.approx(2 / 3)
    assert report.macro_avg.f1 == pytest.approx(11 / 18)
    assert report.weighted_avg.precision == pytest.approx(0.7)
    assert report.weighted_avg.recall == pytest.approx(report.accuracy)
    assert report.weighted_avg.f1 == pytest.approx(0.6)
    assert report.macro_avg.support == report.weighted_avg.support == 5


def test_zero_division_gives_zero_not_nan() -> None:
    # class "c" is never present and never predicted; "b" is predicted but never right.
    r = EvaluationReport.from_predictions(
        [0, 0, 1], [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]], NAMES
    )
    b, c = r.per_class[1], r.per_class[2]
    assert (b.precision, b.recall, b.f1, b.support) == (0.0, 0.0, 0.0, 1)
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 0)
    assert r.macro_avg.recall == pytest.approx(0.5 / 3)  # empty class counted in the mean
    assert "NaN" not in r.to_json()


def test_ties_predict_the_first_class_and_top1_equals_accuracy() -> None:
    r = EvaluationReport.from_predictions([1, 0], [[0.5, 0.5], [0.5, 0.5]], ("x", "y"), top_k=1)
    assert r.accuracy == 0.5
    assert r.top_k_accuracy == r.accuracy
    assert r.mistakes[0].predicted_label == "x"


def test_top_k_is_clipped_to_the_number_of_classes() -> None:
    r = EvaluationReport.from_predictions(LABELS, PROBS, NAMES, top_k=10)
    assert r.top_k == 3
    assert r.top_k_accuracy == 1.0


def test_mistakes_are_the_top_losses_worst_first(report: EvaluationReport) -> None:
    worst, second = report.mistakes
    assert worst == Mistake(
        index=1,
        file_path="s1.jpg",
        true_label="a",
        predicted_label="b",
        confidence=0.5,
        true_probability=0.2,
        loss=pytest.approx(-math.log(0.2)),  # type: ignore[arg-type]
    )
    assert (second.index, second.true_label, second.predicted_label) == (4, "c", "a")
    assert second.loss == pytest.approx(-math.log(0.3))
    assert report.top_losses(1) == (worst,)
    assert report.top_losses() == report.mistakes
    assert report.top_losses(0) == ()


def test_num_mistakes_limits_the_list_but_not_the_error_count() -> None:
    r = EvaluationReport.from_predictions(LABELS, PROBS, NAMES, num_mistakes=1)
    assert [m.index for m in r.mistakes] == [1]
    assert r.num_errors == 2
    assert r.mistakes[0].file_path is None  # no file_paths given
    assert EvaluationReport.from_predictions(LABELS, PROBS, NAMES, num_mistakes=0).mistakes == ()


def test_equal_losses_keep_data_order() -> None:
    probs = [[0.4, 0.6], [0.9, 0.1], [0.4, 0.6]]
    r = EvaluationReport.from_predictions([0, 0, 0], probs, ("x", "y"))
    assert [m.index for m in r.mistakes] == [0, 2]


def test_paths_accept_path_objects(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.png" for i in range(5)]
    r = EvaluationReport.from_predictions(LABELS, PROBS, NAMES, file_paths=paths)
    assert r.mistakes[0].file_path == str(paths[1])


def test_most_confused(report: EvaluationReport) -> None:
    assert report.most_confused() == [("a", "b", 1), ("c", "a", 1)]
    assert report.most_confused(min_count=2) == []
    r = EvaluationReport.from_predictions([0, 0, 1, 2, 2, 2], np.eye(3)[[1, 1, 0, 0, 1, 0]], NAMES)
    assert r.most_confused() == [("a", "b", 2), ("c", "a", 2), ("b", "a", 1), ("c", "b", 1)]


# --------------------------------------------------------------------------- calibration


def test_expected_calibration_error_by_hand() -> None:
    # 15 bins: every sample is alone in its bin -> mean |correct - confidence|
    assert expected_calibration_error(LABELS, PROBS) == pytest.approx(
        (0.3 + 0.5 + 0.2 + 0.6 + 0.6) / 5
    )
    # one bin: |accuracy - mean confidence| = |0.6 - 0.6|
    assert expected_calibration_error(LABELS, PROBS, n_bins=1) == pytest.approx(0.0)
    # two bins (0, .5] = {s1 wrong .5, s3 right .4}, (.5, 1] = {s0 .7, s2 .8 right, s4 .6 wrong}
    two = 2 / 5 * abs(0.5 - 0.45) + 3 / 5 * abs(2 / 3 - 0.7)
    assert expected_calibration_error(LABELS, PROBS, n_bins=2) == pytest.approx(two)


def test_perfect_confident_predictions_have_zero_ece() -> None:
    assert expected_calibration_error([0, 1, 2], np.eye(3)) == 0.0


def test_report_ece_and_bins(report: EvaluationReport) -> None:
    assert report.ece == pytest.approx(expected_calibration_error(LABELS, PROBS))
    assert report.n_bins == 15
    assert sum(b.count for b in report.calibration_bins) == 5
    assert all(b.count > 0 for b in report.calibration_bins)
    for b in report.calibration_bins:
        assert b.lower < b.confidence <= b.upper + 1e-12


def test_before_calibration_values() -> None:
    flat = np.full((5, 3), 1 / 3)
    r = EvaluationReport.from_predictions(
        LABELS, PROBS, NAMES, probabilities_before_calibration=flat
    )
    assert r.loss_before_calibration == pytest.approx(math.log(3))
    assert r.ece_before_calibration == pytest.approx(abs(0.4 - 1 / 3))  # argmax -> class a
    assert EvaluationReport.from_predictions(LABELS, PROBS, NAMES).ece_before_calibration is None


def test_ece_validates_n_bins() -> None:
    with pytest.raises(ConfigError, match="n_bins"):
        expected_calibration_error(LABELS, PROBS, n_bins=0)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"probabilities": [[0.5, 0.5]] * 5}, r"`probabilities`.*3 class names.*\(5, 2\)"),
        ({"probabilities": [0.2, 0.3, 0.5]}, r"`probabilities`.*shape \(3,\)"),
        ({"labels": [0, 1]}, r"`labels`.*\(5\).*2 labels"),
        ({"labels": [0, 1, 2, 3, 0]}, r"`labels`.*\[0, 3\).*3 at position 3"),
        ({"labels": [0, -1, 0, 0, 0]}, r"`labels`.*-1 at position 1"),
        ({"labels": [0, 0.5, 1, 2, 2]}, r"`labels`.*integer.*0\.5 at position 1"),
        ({"labels": ["a", "a", "b", "c", "c"]}, r"`labels`.*integer class indices"),
        ({"labels": np.eye(3)[LABELS]}, r"`labels`.*not one-hot.*argmax"),
        ({"file_paths": ["x.jpg"]}, r"`file_paths`.*\(5\).*1 paths"),
        ({"file_paths": "x.jpg"}, r"`file_paths`.*'x.jpg'"),
        ({"class_names": ["a", "b"]}, r"`probabilities`.*2 class names.*\(5, 3\)"),
        ({"class_names": ["a", "a", "b"]}, r"`class_names`.*repeat"),
        ({"top_k": 0}, r"`top_k`.*top_k=0"),
        ({"num_mistakes": -1}, r"`num_mistakes`.*num_mistakes=-1"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs: dict[str, object], pattern: str) -> None:
    args: dict[str, object] = {
        "labels": LABELS,
        "probabilities": PROBS,
        "class_names": NAMES,
        "file_paths": PATHS,
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=pattern):
        EvaluationReport.from_predictions(**args)  # type: ignore[arg-type]


def test_probabilities_must_be_finite_and_sum_to_one() -> None:
    nan = np.array(PROBS)
    nan[3, 1] = np.nan
    pattern = r"`probabilities` contains NaN.*row 3: \[0\.3, nan, 0\.4\]"
    with pytest.raises(ConfigError, match=pattern):
        EvaluationReport.from_predictions(LABELS, nan, NAMES)
    bad_sum = np.array(PROBS)
    bad_sum[2] = [0.5, 0.5, 0.5]
    with pytest.raises(ConfigError, match=r"`probabilities` must sum to 1.*Row 2 sums to 1\.5"):
        EvaluationReport.from_predictions(LABELS, bad_sum, NAMES)
    with pytest.raises(ConfigError, match=r"\[0, 1\].*from -2 to 3.*softmax"):
        EvaluationReport.from_predictions(LABELS, [[3, -2, 0]] * 5, NAMES)
    with pytest.raises(ConfigError, match=r"`probabilities_before_calibration`.*\(4, 3\)"):
        EvaluationReport.from_predictions(
            LABELS, PROBS, NAMES, probabilities_before_calibration=PROBS[:4]
        )


def test_float32_softmax_rounding_is_accepted() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 7)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    r = EvaluationReport.from_predictions(
        rng.integers(0, 7, 50).astype(np.int32), probs, [f"k{i}" for i in range(7)]
    )
    assert 0.0 <= r.accuracy <= 1.0


def test_empty_input_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"at least one sample.*\(0,\)"):
        EvaluationReport.from_predictions([], [], NAMES)


# --------------------------------------------------------------------------- serialisation


def test_to_dict_schema(report: EvaluationReport) -> None:
    d = report.to_dict()
    assert list(d) == [
        "schema_version",
        "num_samples",
        "num_errors",
        "class_names",
        "accuracy",
        "top_k",
        "top_k_accuracy",
        "loss",
        "ece",
        "loss_before_calibration",
        "ece_before_calibration",
        "per_class",
        "macro_avg",
        "weighted_avg",
        "confusion_matrix",
        "calibration",
        "mistakes",
    ]
    assert d["schema_version"] == SCHEMA_VERSION == 1
    assert d["per_class"]["b"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    assert d["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert d["calibration"]["n_bins"] == 15
    assert set(d["calibration"]["bins"][0]) == {"lower", "upper", "count", "accuracy", "confidence"}
    assert d["mistakes"][0] == {
        "index": 1,
        "file_path": "s1.jpg",
        "true_label": "a",
        "predicted_label": "b",
        "confidence": 0.5,
        "true_probability": 0.2,
        "loss": pytest.approx(-math.log(0.2)),
    }
    assert json.loads(json.dumps(d)) == d  # plain JSON types only


def test_round_trips_through_dict_and_json() -> None:
    r = EvaluationReport.from_predictions(
        LABELS,
        PROBS,
        ["rosé", 'say "hi"', "a|b"],
        file_paths=[None, Path("x/s1.jpg"), "s2", "s3", "s4"],
        probabilities_before_calibration=np.full((5, 3), 1 / 3),
    )
    assert EvaluationReport.from_dict(r.to_dict()) == r
    assert EvaluationReport.from_dict(json.loads(r.to_json())) == r
    assert "rosé" in r.to_json()
    assert hash(r) == hash(EvaluationReport.from_dict(r.to_dict()))


def test_from_dict_refuses_other_versions_and_incomplete_data(report: EvaluationReport) -> None:
    d = report.to_dict()
    with pytest.raises(ConfigError, match="schema_version=2"):
        EvaluationReport.from_dict({**d, "schema_version": 2})
    del d["confusion_matrix"]
    with pytest.raises(ConfigError, match="'confusion_matrix' is missing"):
        EvaluationReport.from_dict(d)
    with pytest.raises(ConfigError, match="list"):
        EvaluationReport.from_dict([])  # type: ignore[arg-type]


def test_to_markdown(report: EvaluationReport) -> None:
    md = report.to_markdown()
    assert "| Accuracy | 0.6000 |" in md
    assert "| Top-2 accuracy | 0.8000 |" in md
    assert "| a | 0.5000 | 0.5000 | 0.5000 | 2 |" in md
    assert "| **c** | 1 | 0 | 1 |" in md
    assert "| a | b | 1 |" in md  # most confused
    assert "| 1 | s1.jpg | a | b | 0.500 | 1.609 |" in md
    odd = EvaluationReport.from_predictions([0, 1], np.eye(2), ["x|y", "<i>z</i>"]).to_markdown()
    assert "x\\|y" in odd
    assert "&lt;i&gt;z&lt;/i&gt;" in odd
    assert "Worst mistakes" not in odd


def test_to_text(report: EvaluationReport) -> None:
    text = report.to_text()
    assert "5 images, 3 classes, 2 wrong" in text
    assert "accuracy 60.0%" in text
    assert "top-2 accuracy 80.0%" in text
    assert re.search(r"^a\s+0\.500\s+0\.500\s+0\.500\s+2$", text, re.MULTILINE)
    assert re.search(r"^macro avg\s+0\.667\s+0\.667\s+0\.611\s+5$", text, re.MULTILINE)
    assert "most confused: a -> b (1), c -> a (1)" in text
    assert "a -> b (0.50)  s1.jpg" in text
    assert "worst mistakes" not in report.to_text(max_mistakes=0)


# --------------------------------------------------------------------------- HTML


def _images(folder: Path) -> list[Path]:
    folder.mkdir()
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]
    paths = []
    for i, colour in enumerate(colours):
        path = folder / f"img{i}.jpg"
        Image.new("RGB", (400, 300), colour).save(path)
        paths.append(path)
    return paths


def _data_uris(html: str, kind: str) -> list[bytes]:
    found = re.findall(rf'src="data:image/{kind};base64,([A-Za-z0-9+/=]+)"', html)
    return [base64.b64decode(x) for x in found]


def test_to_html_is_self_contained(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    paths = _images(tmp_path / "photos")
    paths[4].unlink()  # a mistake whose file has gone
    names = ("a", "<b>b & co</b>", 'c"')
    r = EvaluationReport.from_predictions(LABELS, PROBS, names, file_paths=paths)
    history = {"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6], "loss": [1.0, 0.6]}
    out = r.to_html(tmp_path / "report.html", history=history, title="<script>x</script>")
    assert out == tmp_path / "report.html"
    html = out.read_text(encoding="utf-8")

    assert html.startswith("<!DOCTYPE html>")
    assert "&lt;b&gt;b &amp; co&lt;/b&gt;" in html
    assert "<b>b" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script" not in html
    assert not re.search(r"(src|href)=\"(?!data:)", html)  # nothing to fetch
    assert "http://" not in html
    assert "https://" not in html

    pngs = _data_uris(html, "png")
    assert len(pngs) == 3  # training curves, confusion matrix, reliability diagram
    for png in pngs:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    jpegs = _data_uris(html, "jpeg")
    assert len(jpegs) == 1  # s1 has its file, s4's is missing
    thumb = Image.open(io.BytesIO(jpegs[0]))
    assert thumb.format == "JPEG"
    assert thumb.size == (128, 96)  # 400x300 shrunk to fit 128
    red, green, _ = thumb.getpixel((64, 48))
    assert green > 150 > red  # the green image of s1
    assert "image not found" in html
    assert "Training curves" in html


def test_to_html_never_fails_on_bad_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    paths = [garbage, garbage, tmp_path / "missing.png", tmp_path, garbage]
    r = EvaluationReport.from_predictions(LABELS, PROBS, NAMES, file_paths=paths)
    html = r.to_html(tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.count("image not found") == 2
    assert _data_uris(html, "jpeg") == []
    no_paths = EvaluationReport.from_predictions(LABELS, PROBS, NAMES)
    assert "no file" in no_paths.to_html(tmp_path / "n.html").read_text(encoding="utf-8")


def test_to_html_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    r = EvaluationReport.from_predictions(LABELS, PROBS, ("a", "b", "<c>"))
    html = r.to_html(tmp_path / "r.html", history={"loss": [1.0, 0.5]}).read_text("utf-8")
    assert "matplotlib is not installed: <code>pip install 'flowerkit[plot]'</code>" in html
    assert _data_uris(html, "png") == []
    assert '<table class="cm">' in html
    assert "&lt;c&gt;" in html
    assert "<td>0.5000</td>" in html  # history as a table


def test_to_html_with_empty_history_leaves_out_curves(
    report: EvaluationReport, tmp_path: Path
) -> None:
    html = report.to_html(tmp_path / "r.html", history={}).read_text("utf-8")
    assert "Training curves" not in html


# --------------------------------------------------------------------------- imports


def test_evaluation_imports_neither_tensorflow_nor_plotting_libraries() -> None:
    import flowerkit.evaluation.report

    src = str(Path(flowerkit.evaluation.__file__).parents[1])
    code = (
        "import sys, flowerkit.evaluation\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib', 'PIL') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import flowerkit.evaluation.plots, flowerkit.evaluation.html\n"
        "assert 'tensorflow' not in sys.modules and 'matplotlib' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
