"""The HTML report in a real browser: Debian's headless chromium loads and paints it.

Slow (a browser start-up) and skipped when ``/usr/bin/chromium`` is missing. Run with
``pytest -m slow tests/test_html_browser.py``.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowerkit.evaluation.report import EvaluationReport

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1200, 2000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


@pytest.fixture
def report_html(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    names = ("daisy", "roses", "<tulips & co>")
    labels = rng.integers(0, 3, 40)
    paths = []
    for i, label in enumerate(labels):
        path = photos / f"{i}.jpg"
        colour = [(240, 240, 240), (200, 20, 60), (240, 160, 20)][int(label)]
        noise = rng.integers(0, 60, (90, 120, 3))
        pixels = np.clip(np.array(colour) - noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path)
        paths.append(path)
    paths[3].unlink()  # one mistake may point at a missing file
    logits = rng.normal(size=(40, 3))
    logits[np.arange(40), labels] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    report = EvaluationReport.from_predictions(labels, probs, names, file_paths=paths)
    # Grad-CAM maps on the mistakes, as Classifier.evaluate attaches them: a hot corner.
    heat = np.zeros((5, 5), dtype=np.float32)
    heat[0, 0] = 1.0
    mistakes = tuple(dataclasses.replace(m, explanation=heat) for m in report.mistakes)
    report = dataclasses.replace(report, mistakes=mistakes)
    history = {
        "accuracy": [0.4, 0.6, 0.7],
        "val_accuracy": [0.35, 0.5, 0.55],
        "loss": [1.1, 0.8, 0.6],
        "val_loss": [1.2, 1.0, 0.95],
    }
    return report.to_html(tmp_path / "report.html", history=history, title="Browser check")


def test_chromium_renders_the_report(report_html: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path / "profile-dom", "--dump-dom", report_html.as_uri()).stdout
    assert "<h1>Browser check</h1>" in dom
    assert "&lt;tulips &amp; co&gt;" in dom  # escaped text stayed text
    images = re.findall(r'<img [^>]*src="data:image/(png|jpeg);base64,', dom)
    assert images.count("png") == 3
    assert images.count("jpeg") >= 1
    # Each mistake whose photo is there has its Grad-CAM overlay beside its thumbnail.
    thumbnails = re.findall(r'<img src="data:image/jpeg;base64,[^"]+" alt="([^"]+)"', dom)
    overlays = re.findall(
        r'<img class="gradcam" src="data:image/jpeg;base64,[^"]+" alt="([^"]+)"', dom
    )
    assert len(overlays) == len(thumbnails) >= 1
    assert all(alt.startswith("Grad-CAM overlay: where the model saw ") for alt in overlays)

    shot = tmp_path / "screenshot.png"
    _chromium(
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        report_html.as_uri(),
    )
    with Image.open(shot) as image:
        assert image.size == (WIDTH, HEIGHT)
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    # Painted, not blank: many distinct colours (plots and photos), dark text on white.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500
    assert (pixels.sum(axis=2) < 150).mean() > 0.002
    # The blue of the confusion matrix and the training curves is on screen.
    blue = (pixels[:, :, 2] > 150) & (pixels[:, :, 0] < 80)
    assert blue.mean() > 0.005
