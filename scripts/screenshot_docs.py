"""Open the built docs in headless Chromium, screenshot pages and check their layout.

So a broken layout is seen, not guessed: for each page it writes a PNG (look at them)
and checks what a reader would notice at once: the page painted text, the theme's
stylesheet loaded (Furo's grey navigation sidebar on the left, with links in it), and
every image the page shows exists and painted colour (the tutorial's figures).

    sphinx-build -b html docs docs/_build/html
    python scripts/screenshot_docs.py docs/_build/html --out /tmp/docs-shots

Exits 1 and names the page and the check when one fails. Needs Chromium
(``apt-get install chromium``); ``tests/test_docs_browser.py`` runs it as a slow test.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 1280, 1600
PAGES = ["index.html", "tutorial.html", "api.html"]
CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome"]


def chromium() -> str | None:
    """The path of a Chromium on this machine, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(browser: str, page: Path, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                f"--window-size={WIDTH},{HEIGHT}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return out


def missing_images(page: Path) -> list[str]:
    """The local images the page refers to that are not in the build."""
    html = page.read_text(encoding="utf-8")
    sources = re.findall(r'<img [^>]*src="([^"]+)"', html)
    return [s for s in sources if "://" not in s and not (page.parent / s).is_file()]


def problems(page: Path, shot: Path) -> list[str]:
    """What looks broken in the screenshot ``shot`` of ``page`` (empty: looks right)."""
    found = [f"missing image {s}" for s in missing_images(page)]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    dark = pixels.sum(axis=2) < 200
    if dark.mean() < 0.003:
        found.append(f"almost no text painted ({dark.mean():.2%} dark pixels)")
    # Furo's sidebar: a light grey column on the left, unlike the white page, with dark
    # navigation text. Without the stylesheet the page is white edge to edge.
    # (At this width Furo centres the page: the sidebar spans about x = 0..345.)
    sidebar, main = pixels[:, 100:340], pixels[:, 500:1000]
    background = np.median(sidebar.reshape(-1, 3), axis=0)
    if np.all(background >= 253) or np.array_equal(background, np.median(main.reshape(-1, 3), 0)):
        found.append("no sidebar: the theme's stylesheet did not load")
    ink = np.abs(sidebar - background).sum(axis=2) > 120
    if ink.mean() < 0.005:
        found.append(f"the sidebar holds no navigation links ({ink.mean():.2%} ink)")
    if page.name.startswith("tutorial"):
        spread = pixels.max(axis=2) - pixels.min(axis=2)
        if (spread > 80).mean() < 0.01:
            found.append("no figure painted (the tutorial's plots and photos)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built site (sphinx-build -b html)")
    parser.add_argument("--out", type=Path, default=Path("docs-shots"), help="PNGs go here")
    parser.add_argument("--page", action="append", help=f"pages to check (default {PAGES})")
    args = parser.parse_args(argv)
    browser = chromium()
    if browser is None:
        print("screenshot_docs: no Chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    failed = False
    for name in args.page or PAGES:
        page = args.html / name
        if not page.is_file():
            print(f"{name}: not in {args.html}", file=sys.stderr)
            failed = True
            continue
        shot = screenshot(browser, page, args.out / (page.stem + ".png"))
        found = problems(page, shot)
        failed = failed or bool(found)
        print(f"{name}: {'; '.join(found) if found else 'looks right'} ({shot})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
