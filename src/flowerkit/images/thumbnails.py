"""Small previews of images for reports and plots."""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from flowerkit.images.decode import load_image

__all__ = ["thumbnail"]


def thumbnail(path: str | os.PathLike[str] | None, max_side: int) -> NDArray[np.uint8] | None:
    """The image at ``path`` decoded by :func:`load_image` and shrunk (never enlarged) so its
    longest side is at most ``max_side`` pixels, keeping its aspect ratio; ``None`` when
    there is no path or the file cannot be read, so that a report or a gallery never fails
    because one image moved or broke."""
    if path is None:
        return None
    try:
        image = Image.fromarray(load_image(path))
    except Exception:
        return None
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)
