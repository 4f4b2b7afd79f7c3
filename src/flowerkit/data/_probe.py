"""Check one file: decode it with :func:`flowerkit.images.load_image` and fingerprint it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

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


def pixel_digest(rgb: NDArray[np.uint8]) -> str:
    """sha256 of a C-contiguous ``(H, W, 3)`` uint8 array and its shape."""
    digest = hashlib.sha256("x".join(map(str, rgb.shape)).encode() + b"\n")
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


def probe(path: Path) -> Probe:
    """Decode ``path`` exactly as training will and hash its bytes and pixels.

    Never raises.

    Returns:
        The fingerprints and size of a usable image; for any failure, a :class:`Probe`
        with a reason code and a message.
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return Probe(
            "unreadable",
            f"{str(path)!r} has a file name that is not valid UTF-8, which TensorFlow "
            "cannot open; rename it.",
        )
    try:
        rgb = images.load_image(path)
    except UnreadableImageError as exc:
        return Probe(exc.reason, str(exc))
    except MemoryError:
        return Probe("too_large", f"{str(path)!r} is too large to decode in the memory available.")
    except Exception as exc:  # a Pillow bug must not stop the whole check
        return Probe("decode_error", f"{str(path)!r} could not be decoded ({exc!r}).")
    try:
        with open(path, "rb") as handle:
            file_sha = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        return Probe("unreadable", f"{str(path)!r} could not be read ({exc.strerror or exc}).")
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    return Probe(None, "", file_sha, pixel_digest(rgb), width, height)
