"""The audit's gallery in a real browser: Debian's headless chromium loads and paints it.

Slow (a browser start-up) and skipped when ``/usr/bin/chromium`` is missing, as
``tests/test_html_browser.py`` (whose browser call it shares).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowerkit.auditing import AuditReport, LabelIssue, NearDuplicateGroup, Outlier
from test_html_browser import CHROMIUM, _chromium

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

COLOURS = {"daisy": (240, 240, 230), "<roses & co>": (200, 20, 60), "tulips": (240, 160, 20)}


def _photo(path: Path, colour: tuple[int, int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) - rng.integers(0, 60, (90, 120, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    examples = {
        name: tuple(_photo(root / name / f"{i}.jpg", colour, i) for i in range(4))
        for name, colour in COLOURS.items()
    }
    wrong = _photo(root / "daisy" / "wrong.jpg", COLOURS["tulips"], 9)
    copy = _photo(root / "tulips" / "copy.jpg", COLOURS["tulips"], 0)
    odd = _photo(root / "tulips" / "odd.jpg", (20, 120, 240), 10)
    report = AuditReport(
        root,
        tuple(COLOURS),
        {name: 4 for name in COLOURS},
        (LabelIssue(wrong, "daisy", "tulips", 0.97, 0.9, "train"),),
        (
            NearDuplicateGroup(
                (examples["tulips"][0], copy), ("tulips", "tulips"), ("train", "validation"), 0.99
            ),
        ),
        (Outlier(odd, "tulips", 0.4, "daisy"),),
        None,
        ("classes are balanced",),
        "test features",
        examples=examples,
    )
    return report.write_html(tmp_path / "audit.html")


def test_chromium_renders_the_gallery(gallery: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path / "profile-dom", "--dump-dom", gallery.as_uri()).stdout
    assert "Likely label errors (1)" in dom and "Near-duplicates (1)" in dom
    assert "&lt;roses &amp; co&gt;" in dom  # escaped text stayed text
    assert "typical daisy" in dom and "typical tulips" in dom
    # the suspect, 3 typical photos of each of its two classes, 2 copies, 1 outlier
    assert len(re.findall(r'<img [^>]*src="data:image/jpeg;base64,', dom)) == 1 + 6 + 2 + 1
    assert 'class="finding leak"' in dom

    shot = tmp_path / "screenshot.png"
    _chromium(
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        "--window-size=1200,1400",
        gallery.as_uri(),
    )
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 300  # photos painted
    orange = (pixels[:, :, 0] > 180) & (pixels[:, :, 1] > 90) & (pixels[:, :, 2] < 60)
    assert orange.mean() > 0.005  # the tulip photos are on screen
