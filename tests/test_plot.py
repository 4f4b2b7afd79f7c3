"""flowerkit.evaluation.plots renders real figures with Agg, without pyplot or TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from conftest import LABELS, PROBS
from flowerkit.data.loading import Datasets
from flowerkit.evaluation import plots as plot
from flowerkit.evaluation.report import EvaluationReport
from flowerkit.exceptions import ConfigError

HISTORY = {
    "accuracy": [0.5, 0.7, 0.8],
    "val_accuracy": [0.45, 0.6, 0.65],
    "loss": [1.2, 0.8, 0.5],
    "val_loss": [1.3, 1.0, 0.9],
}
NAMES = ("daisy", "roses", "tulips")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plotting_never_imports_pyplot(tmp_path: Path) -> None:
    """pyplot's global state is never touched (checked in a clean interpreter, since other
    libraries in this test process may import pyplot themselves)."""
    code = (
        "import sys\n"
        "from flowerkit.evaluation.plots import plot_history\n"
        "plot_history({'accuracy': [0.5, 0.7], 'val_accuracy': [0.4, 0.6],"
        " 'loss': [1.0, 0.8], 'val_loss': [1.1, 0.9]},"
        f" save_path={str(tmp_path / 'c.png')!r})\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC


def _photos(folder: Path, n: int = 5) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"p{i}.png"
        Image.new("RGB", (60 + 10 * i, 40), (40 * i, 100, 200)).save(path)
        paths.append(path)
    return paths


def _report(paths: list[Path] | None = None) -> EvaluationReport:
    return EvaluationReport.from_predictions(LABELS, PROBS, NAMES, file_paths=paths)


def _titles(fig: object) -> list[str]:
    return [ax.get_title() for ax in fig.axes]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- history


class _KerasHistory:  # what keras.callbacks.History looks like from outside
    def __init__(self) -> None:
        self.history = HISTORY


@pytest.mark.parametrize(
    "history",
    [HISTORY, _KerasHistory(), SimpleNamespace(history_=HISTORY)],
    ids=["dict", "keras-history", "classifier"],
)
def test_plot_history_two_panels(history: object) -> None:
    fig = plot.plot_history(history)
    acc, loss = fig.axes
    assert _titles(fig) == ["Training and Validation Accuracy", "Training and Validation Loss"]
    assert [line.get_label() for line in acc.lines] == ["Training Accuracy", "Validation Accuracy"]
    assert [line.get_label() for line in loss.lines] == ["Training Loss", "Validation Loss"]
    np.testing.assert_array_equal(acc.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(acc.lines[1].get_ydata(), HISTORY["val_accuracy"])
    np.testing.assert_allclose(loss.lines[0].get_ydata(), HISTORY["loss"])
    assert acc.get_xlabel() == "Epoch"


def test_plot_history_without_validation_and_old_key_names() -> None:
    fig = plot.plot_history({"acc": [0.1, 0.2], "loss": [2.0, 1.0], "learning_rate": [1e-3] * 2})
    acc, loss = fig.axes
    assert [line.get_label() for line in acc.lines] == ["Training Accuracy"]
    assert len(loss.lines) == 1


def test_plot_history_refuses_useless_input() -> None:
    with pytest.raises(ConfigError, match=r"no accuracy or loss.*\['lr'\]"):
        plot.plot_history({"lr": [0.1]})
    with pytest.raises(ConfigError, match=r"`history` must be a dict.*int"):
        plot.plot_history(3)
    with pytest.raises(ConfigError, match=r"`history\['loss'\]` must hold numbers"):
        plot.plot_history({"loss": ["high", "low"]})


def test_save_png_and_svg(tmp_path: Path) -> None:
    png = tmp_path / "curves.png"
    svg = tmp_path / "curves.SVG"
    plot.plot_history(HISTORY, save_path=png)
    plot.plot_history(HISTORY, save_path=str(svg))
    assert png.read_bytes().startswith(PNG_MAGIC)
    with Image.open(png) as image:
        assert image.size[0] > 400
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text
    assert "Training and Validation Loss" in text or "<path" in text
    with pytest.raises(ConfigError, match=r"`save_path` must end in \.png, \.svg.*x\.jpg"):
        plot.plot_history(HISTORY, save_path=tmp_path / "x.jpg")


# --------------------------------------------------------------------------- confusion matrix


def test_plot_confusion_matrix_counts() -> None:
    report = _report()
    fig = plot.plot_confusion_matrix(report)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), report.confusion_matrix)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(NAMES)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(NAMES)
    assert ax.get_xlabel() == "Predicted class"
    assert ax.get_ylabel() == "True class"
    assert sorted(t.get_text() for t in ax.texts) == sorted("110010101")
    assert len(fig.axes) == 2  # the matrix and its colour bar


def test_plot_confusion_matrix_normalized_into_given_axes() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    out = plot.plot_confusion_matrix(_report(), normalize=True, ax=ax)
    assert out is fig
    np.testing.assert_allclose(
        ax.images[0].get_array(), [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]
    )
    assert "normalized" in ax.get_title()
    assert "0.50" in [t.get_text() for t in ax.texts]


def test_dollar_signs_in_class_names_are_literal(tmp_path: Path) -> None:
    r = EvaluationReport.from_predictions([0, 1], np.eye(2), ["$5 bill", "$10 bill"])
    fig = plot.plot_confusion_matrix(r, save_path=tmp_path / "cm.png")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [r"\$5 bill", r"\$10 bill"]
    assert (tmp_path / "cm.png").read_bytes().startswith(PNG_MAGIC)


def test_plot_confusion_matrix_checks_its_argument() -> None:
    with pytest.raises(ConfigError, match=r"EvaluationReport.*dict"):
        plot.plot_confusion_matrix({})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- samples


def test_plot_samples_from_paths(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "photos")
    labels = [0, 1, 2, 0, 1]
    fig = plot.plot_samples((paths, labels), NAMES, n=4, seed=None)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 4
    assert [ax.get_title() for ax in shown] == ["daisy", "roses", "tulips", "daisy"]
    assert shown[1].images[0].get_array().shape == (40, 70, 3)  # original size
    assert len(fig.axes) == 4  # a 2x2 grid


def test_plot_samples_from_datasets_uses_file_lists_and_image_size(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "photos", n=12)
    datasets = Datasets(
        train=None,  # never iterated: no TensorFlow needed
        validation=None,
        class_names=NAMES,
        train_files=tuple(paths[:10]),
        train_labels=(0, 1, 2, 0, 1, 2, 0, 1, 2, 0),
        validation_files=tuple(paths[10:]),
        validation_labels=(1, 2),
        image_size=(32, 48),
        batch_size=4,
        seed=1,
        split="stratified",
    )
    fig = plot.plot_samples(datasets, save_path=tmp_path / "samples.png")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 9
    assert all(ax.images[0].get_array().shape == (32, 48, 3) for ax in shown)
    assert {ax.get_title() for ax in shown} <= set(NAMES)
    assert (tmp_path / "samples.png").read_bytes().startswith(PNG_MAGIC)
    again = plot.plot_samples(datasets)  # the default seed makes it repeatable
    assert [a.get_title() for a in again.axes] == [a.get_title() for a in fig.axes]
    val = plot.plot_samples(datasets, subset="validation", n=9)
    assert [ax.get_title() for ax in val.axes if ax.images] in (
        ["roses", "tulips"],
        ["tulips", "roses"],
    )


def test_plot_samples_placeholder_and_errors(tmp_path: Path) -> None:
    paths = [*_photos(tmp_path / "photos", n=1), tmp_path / "gone.jpg"]
    fig = plot.plot_samples((paths, [0, 1]), NAMES, seed=None)
    placeholder = fig.axes[1]
    assert not placeholder.images
    assert "not\navailable" in placeholder.texts[0].get_text()
    with pytest.raises(ConfigError, match="class_names"):
        plot.plot_samples((paths, [0, 1]))
    with pytest.raises(ConfigError, match="2 paths and 1 labels"):
        plot.plot_samples((paths, [0]), NAMES)
    with pytest.raises(ConfigError, match="Label 7"):
        plot.plot_samples((paths, [0, 7]), NAMES)
    with pytest.raises(ConfigError, match="`n`"):
        plot.plot_samples((paths, [0, 1]), NAMES, n=0)


# --------------------------------------------------------------------------- mistakes, calibration


def test_plot_mistakes_captions_and_placeholders(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "photos")
    paths[4].unlink()
    fig = plot.plot_mistakes(_report(paths), save_path=tmp_path / "m.svg")
    assert _titles(fig) == ["daisy → roses (0.50)", "tulips → daisy (0.60)"]
    first, second = fig.axes
    assert first.images[0].get_array().shape == (40, 70, 3)
    assert not second.images  # its file is missing
    assert "<svg" in (tmp_path / "m.svg").read_text(encoding="utf-8")
    assert len(plot.plot_mistakes(_report(paths), n=1).axes) == 1


def test_plot_mistakes_without_mistakes() -> None:
    perfect = EvaluationReport.from_predictions([0, 1], np.eye(2), ["x", "y"])
    fig = plot.plot_mistakes(perfect)
    assert fig.axes == []
    assert fig.texts[0].get_text() == "No mistakes to show"


def test_plot_calibration() -> None:
    report = _report()
    fig = plot.plot_calibration(report)
    ax = fig.axes[0]
    assert f"ECE = {report.ece:.3f}" in ax.get_title()
    assert len(ax.patches) == 2 * len(report.calibration_bins)
    heights = sorted(p.get_height() for p in ax.patches[: len(report.calibration_bins)])
    assert heights == [0.0, 0.0, 1.0, 1.0, 1.0]  # one sample per bin: right or wrong
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0, 0], [1, 1]])


# --------------------------------------------------------------------------- optional extra


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'flowerkit\[plot\]'") as info:
        plot.plot_history(HISTORY)
    assert isinstance(info.value, ImportError)
    assert info.value.name == "matplotlib"
    with pytest.raises(ImportError, match="matplotlib"):
        plot.plot_calibration(_report())


def test_plot_history_from_a_saved_model_file(tmp_path: Path) -> None:
    """A saved model's history is read from its flowerkit.json entry (no TensorFlow)."""
    import json
    import zipfile

    model = tmp_path / "m.keras"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr(
            "flowerkit.json",
            json.dumps({"format": "flowerkit.model", "format_version": 1, "history": HISTORY}),
        )
    fig = plot.plot_history(model, save_path=tmp_path / "curves.png")
    assert len(fig.axes) == 2
    assert list(fig.axes[0].lines[0].get_ydata()) == HISTORY["accuracy"]
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG_MAGIC
