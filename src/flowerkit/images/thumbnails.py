"""Small previews of images for reports and plots."""

from __future__ import annotations

import base64
import io
import os

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from flowerkit.images.decode import load_image

__all__ = ["jpeg_data_uri", "thumbnail"]


def thumbnail(path: str | os.PathLike[str] | None, max_side: int) -> NDArray[np.uint8] | None:
    """The image at ``path`` shrunk so its longest side is at most ``max_side`` pixels.

    The image is decoded by :func:`~flowerkit.images.load_image` and shrunk (never
    enlarged), keeping its aspect ratio.

    Args:
        path: the image file, or ``None``.
        max_side: the longest side allowed, in pixels.

    Returns:
        The ``uint8`` RGB pixels; ``None`` when there is no path or the file cannot be
        read, so that a report or a gallery never fails because one image moved or broke.
        It raises no error for an unreadable file.

    Example:
        >>> from flowerkit.images import thumbnail
        >>> thumbnail("my_rose.jpg", 32).shape  # 64 x 48 shrunk to 32 x 24
        (24, 32, 3)
        >>> thumbnail("my_rose.jpg", 100).shape  # never enlarged
        (48, 64, 3)
        >>> print(thumbnail("no_such_photo.jpg", 32))
        None
    """
    if path is None:
        return None
    try:
        image = Image.fromarray(load_image(path))
    except Exception:
        return None
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def jpeg_data_uri(pixels: NDArray[np.uint8], quality: int = 85) -> str:
    """``pixels`` as a JPEG ``data:`` URI, to embed in a self-contained HTML page.

    Args:
        pixels: ``(H, W, 3)`` uint8 RGB.
        quality: the JPEG quality.

    Example:
        >>> import numpy as np
        >>> from flowerkit.images import jpeg_data_uri
        >>> jpeg_data_uri(np.zeros((4, 4, 3), np.uint8))[:23]
        'data:image/jpeg;base64,'
    """
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
