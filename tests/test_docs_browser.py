"""The built docs in headless Chromium: index, tutorial and API pages lay out right.

Slow (a Sphinx build and a browser start-up per page); skipped without Chromium.
Runs ``scripts/screenshot_docs.py`` (which says what it checks) and tests that it can
fail: a build without the theme's stylesheet is reported as broken.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "screenshot_docs.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
        reason="needs Chromium",
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(ROOT / "docs"), str(out)],
        check=True,
        timeout=900,
    )
    return out


def _check(site: Path, shots: Path, *pages: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(SCRIPT), str(site), "--out", str(shots)]
    for page in pages:
        args += ["--page", page]
    return subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)


def test_index_tutorial_and_api_pages_look_right(site: Path, tmp_path: Path) -> None:
    result = _check(site, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("looks right") == 3
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "api.png",
        "index.png",
        "tutorial.png",
    ]


def test_a_page_without_its_stylesheet_is_reported(site: Path, tmp_path: Path) -> None:
    broken = tmp_path / "site"
    shutil.copytree(site, broken)
    for css in (broken / "_static").rglob("*.css"):
        css.write_text("")
    result = _check(broken, tmp_path / "shots", "index.html")
    assert result.returncode == 1
    assert "stylesheet did not load" in result.stdout
