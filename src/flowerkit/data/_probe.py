"""Check one file: decode it with :func:`flowerkit.images.load_image` and fingerprint it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from PIL import Image

import flowerkit.images.decode as images
from flowerkit.exceptions import UnreadableImageError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__: list[str] = []  # private module


class Probe(NamedTuple):
    """The outcome of checking one file (what the check cache stores).

    Attributes:
        reason: ``None`` when the file is a usable image, else a reason code from
            ``images.REASONS``.
        message: why the file cannot be used (bad files only).
        sha256: sha256 of the file's bytes (usable files only).
        pixel_sha256: sha256 of the decoded RGB pixels and their shape (usable files
            only).
        width: width of the decoded image in pixels (usable files only).
        height: height of the decoded image in pixels (usable files only).
    """

    reason: str | None
    message: str = ""
    sha256: str = ""
    pixel_sha256: str = ""
    width: int = 0
    height: int = 0


def pixel_digest(rgb: Image.Image) -> str:
    """sha256 of an RGB image's pixels and shape (the bytes and shape of its
    ``(H, W, 3)`` uint8 array)."""
    digest = hashlib.sha256(f"{rgb.height}x{rgb.width}x3\n".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def probe(path: Path) -> Probe:
    """Decode ``path`` exactly as training will and hash its bytes and pixels.

    Never raises.

    Returns:
        The fingerprints and size of a usable image; for any failure, a :class:`Probe`
        with a reason code and a message.
    """
    return probe_and_resize(path, None)[0]


def probe_and_resize(
    path: Path, size: tuple[int, int] | None
) -> tuple[Probe, NDArray[np.uint8] | None]:
    """:func:`probe`, and the decoded image resized to ``size`` (``None``: no image).

    The image is exactly what ``images.load_image(path, size)`` returns, from the same
    decode, so a check can fill the training cache without a second decode. Never raises;
    the image is ``None`` for a bad file.
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return Probe(
            "unreadable",
            f"{str(path)!r} has a file name that is not valid UTF-8, which TensorFlow "
            "cannot open; rename it.",
        ), None
    try:
        rgb = images.decode_image(path)
        pixels = pixel_digest(rgb)
        if size is None:
            small = None
        elif images.dct_scaled(rgb.width, rgb.height, size):  # a second, cheap decode
            small = images.load_image(path, size)
        else:
            small = images.resize_decoded(rgb, size)
    except UnreadableImageError as exc:
        return Probe(exc.reason, str(exc)), None
    except MemoryError:
        message = f"{str(path)!r} is too large to decode in the memory available."
        return Probe("too_large", message), None
    except Exception as exc:  # a Pillow bug must not stop the whole check
        return Probe("decode_error", f"{str(path)!r} could not be decoded ({exc!r})."), None
    try:
        with open(path, "rb") as handle:
            file_sha = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        message = f"{str(path)!r} could not be read ({exc.strerror or exc})."
        return Probe("unreadable", message), None
    return Probe(None, "", file_sha, pixels, rgb.width, rgb.height), small
