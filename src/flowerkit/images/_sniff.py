"""Name what a file is from its first bytes, for error messages Pillow cannot give.

Pillow says "cannot identify image file" for a web page, a PDF, an iPhone HEIC photo and a
JPEG cut off inside its header alike. :func:`sniff` tells these apart so the reason code
and the advice are right, and :func:`looks_truncated` checks the sizes a container
declares against the real file size.
"""

from __future__ import annotations

from typing import NamedTuple

__all__: list[str] = []  # private module

#: Bytes :func:`sniff` needs from the start of a file.
PREFIX_BYTES = 64

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_VIDEO_BRANDS = frozenset(
    {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"M4A ", b"3gp4", b"3gp5", b"avc1"}
)


class Kind(NamedTuple):
    """What the first bytes say: an image ``format`` flowerkit knows, or ``None``.

    Attributes:
        format: ``"JPEG"``, ``"PNG"``, ``"GIF"``, ``"BMP"``, ``"WEBP"``, ``"TIFF"`` or
            ``None``.
        label: human words for the content, e.g. ``"a web page (HTML)"``.
        unsupported: ``True`` for an image format that flowerkit cannot decode (HEIC,
            JPEG XL, SVG...).
    """

    format: str | None
    label: str
    unsupported: bool = False


def sniff(prefix: bytes) -> Kind:
    """Guess what a file holds from its first :data:`PREFIX_BYTES` bytes."""
    if prefix.startswith(b"\xff\xd8\xff"):
        return Kind("JPEG", "a JPEG image")
    if prefix.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind("PNG", "a PNG image")
    if prefix[:6] in (b"GIF87a", b"GIF89a"):
        return Kind("GIF", "a GIF image")
    if prefix.startswith(b"BM"):
        return Kind("BMP", "a BMP image")
    if prefix.startswith(b"RIFF") and prefix[8:12] == b"WEBP":
        return Kind("WEBP", "a WEBP image")
    if prefix[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Kind("TIFF", "a TIFF image")
    if prefix[4:8] == b"ftyp":
        brand = prefix[8:12]
        if brand in _HEIF_BRANDS:
            return Kind(None, "a HEIC/HEIF photo (the iPhone format)", unsupported=True)
        if brand in _AVIF_BRANDS:
            return Kind(None, "an AVIF image", unsupported=True)
        if brand in _VIDEO_BRANDS:
            return Kind(None, "a video (MP4/QuickTime)")
    if prefix.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return Kind(None, "a JPEG XL image", unsupported=True)
    if prefix.startswith(b"%PDF"):
        return Kind(None, "a PDF document")
    if prefix.startswith(b"PK\x03\x04"):
        return Kind(None, "a ZIP archive (or an Office document)")
    if prefix.startswith(b"\x1f\x8b"):
        return Kind(None, "a gzip archive")
    text = prefix.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return Kind(None, "a web page, e.g. an error page saved by a failed download")
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return Kind(None, "an SVG vector image", unsupported=True)
    if text.startswith(b"<?xml"):
        return Kind(None, "an XML document")
    if text.startswith((b"{", b"[")):
        return Kind(None, "a text or JSON file")
    return Kind(None, "unrecognised data")


def looks_truncated(kind: Kind, prefix: bytes, tail: bytes, size: int) -> bool:
    """``True`` when the header of a known format promises more bytes than the file has.

    Args:
        kind: what :func:`sniff` made of ``prefix``.
        prefix: the first bytes of the file (any length up to the whole file).
        tail: the last bytes of the file (any length up to the whole file).
        size: the file's length in bytes.
    """
    if kind.format == "WEBP" and len(prefix) >= 8:
        return int.from_bytes(prefix[4:8], "little") + 8 > size
    if kind.format == "BMP" and len(prefix) >= 6:
        declared = int.from_bytes(prefix[2:6], "little")
        return declared > size
    if kind.format == "TIFF" and len(prefix) >= 8 and prefix[2:4] in (b"*\x00", b"\x00*"):
        first_dir = prefix[4:8] if prefix[:2] == b"MM" else prefix[7:3:-1]
        return int.from_bytes(first_dir, "big") >= size  # first directory past the end
    if kind.format == "JPEG":
        return b"\xff\xd9" not in tail
    if kind.format == "PNG":
        return b"IEND" not in tail
    if kind.format == "GIF":
        return not tail.rstrip(b"\x00").endswith(b";")
    return False
