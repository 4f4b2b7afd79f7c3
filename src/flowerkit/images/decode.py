"""The one decode function used for training, prediction and checking.

``load_image`` turns a path, encoded bytes, a PIL image or an array into a ``uint8`` RGB
array of shape ``(height, width, 3)``, resized to ``image_size`` when one is given.
``flowerkit.data`` (the tf.data pipeline), ``Classifier.predict`` and the checker all call
it, so what the model sees in training is exactly what it sees in use.

Rules, in order (rule 8, added last, applies between rules 5 and 6):

1. The file type comes from the bytes, not the extension (a PNG named ``.jpg`` loads).
   The formats decoded are listed in :data:`DECODED_FORMATS`: JPEG (baseline, progressive,
   CMYK, multi-picture), PNG and APNG, GIF, BMP, WEBP, TIFF, AVIF (when Pillow was built
   with it) and HEIF (when a plugin such as ``pillow-heif`` is registered).
2. Images with more pixels than :func:`max_pixels` (:data:`MAX_PIXELS`, about 8,000 x
   11,000, unless ``$FLOWERKIT_MAX_PIXELS`` says otherwise) are refused as ``too_large``
   from their header, before any pixel memory is allocated (decompression bombs).
   flowerkit applies its own limit and ignores ``PIL.Image.MAX_IMAGE_PIXELS``.
3. A file that ends early is ``truncated`` whatever ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``
   is set to: flowerkit never returns the grey-filled remains of a cut-off download.
   flowerkit reads no Pillow setting and changes none.
4. EXIF orientation (all eight values) is applied, so a phone photo comes out upright. A
   damaged EXIF block is ignored rather than failing the image.
5. Animated images (GIF, WEBP, APNG) and multi-page TIFFs use their first frame.
6. Every mode becomes 3-channel RGB: grayscale and bilevel are repeated, palette, CMYK
   (Adobe/Photoshop inverted CMYK included) and YCbCr are converted, 16-bit samples are
   scaled to 8 bits (``round(v / 257)``), and transparency (an alpha channel, ``tRNS`` or a
   transparent palette entry) is composited on **white**.
7. Resizing squashes to ``image_size`` = ``(height, width)`` (no crop), with Pillow's
   anti-aliased bilinear filter. A JPEG at least :data:`DCT_REDUCING_GAP` x 2 times the
   target on both sides is first decoded at 1/2, 1/4 or 1/8 of its size by libjpeg's DCT
   scaling (Pillow's ``draft``), keeping at least :data:`DCT_REDUCING_GAP` times the target,
   then resized as above (the rule Pillow's own ``thumbnail`` follows). A 12-megapixel
   phone photo loads at 180x180 about 4 times faster, its pixels 0.2 levels (of 255) from
   a full decode on average; on flower_photos at 64x64, 1.0 on average and 3.3 for the
   worst photo (``benchmarks/bench_dct.py`` measures this and the accuracy).
8. Colours are converted to sRGB when the file embeds an ICC profile
   (``image.info["icc_profile"]``: Display P3 from phones, Adobe RGB from cameras, CMYK
   press profiles), after rule 5 and before the conversion of rule 6 and the resize of
   rule 7 (a DCT-scaled JPEG is converted at its reduced size). The conversion is
   littleCMS's (``PIL.ImageCms``) to ``ImageCms.createProfile("sRGB")``, intent
   *relative colorimetric* with black-point compensation (Photoshop's default; it only
   matters for CMYK, whose darkest ink is not black): colours outside sRGB are clipped
   channel by channel. An RGB profile converts RGB, palette and RGBA pixels (the alpha
   is kept, then composited on white by rule 6), a gray profile grayscale pixels, a CMYK
   profile CMYK pixels (Adobe inverted CMYK included). A profile that is damaged or that
   littleCMS cannot use, of a colour space other than the pixels' (an RGB profile on a
   grayscale JPEG), or a device-link, abstract or named-colour profile is ignored and the
   pixels used as they are, as for a damaged EXIF block. A profile whose conversion
   leaves pixels as they are (sRGB itself: every level of each channel, the grays and a
   16 x 16 x 16 grid of colours within 1 level, tested once per distinct profile) is
   skipped. Images without a profile give exactly the pixels they gave before this rule.

A file that cannot be used raises :class:`~flowerkit.UnreadableImageError`
whose ``reason`` is one of these stable codes (see :data:`REASONS`):

====================== ==============================================================
``reason``             meaning
====================== ==============================================================
``empty_file``         the file has 0 bytes
``truncated``          the file ends before the image does (an interrupted copy or
                       download)
``not_an_image``       the bytes are not an image: a web page, a PDF, random bytes...
``unsupported_format`` an image format flowerkit does not decode (HEIC without a HEIF
                       plugin, JPEG XL, SVG, PSD, EPS, a TIFF codec that is missing...)
``too_large``          more pixels than :func:`max_pixels` (decompression-bomb guard)
``decode_error``       a known format whose data is damaged
``missing``            the path does not exist, or is a broken symbolic link
``unreadable``         the file exists but cannot be read: permissions, a folder or
                       device instead of a file, a name that is not valid UTF-8
====================== ==============================================================
"""

from __future__ import annotations

import errno
import functools
import io
import os
import re
import stat
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np
from PIL import Image, ImageCms

from flowerkit.exceptions import ConfigError, UnreadableImageError
from flowerkit.images._sniff import PREFIX_BYTES, sniff
from flowerkit.images._sniff import looks_truncated as _looks_truncated

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "DCT_REDUCING_GAP",
    "DECODED_FORMATS",
    "DECODE_RULES",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "REASONS",
    "ImageInput",
    "dct_scaled",
    "decode_image",
    "load_image",
    "max_pixels",
    "resize_decoded",
    "resize_image",
    "to_rgb_array",
]

#: Extensions (lower case) that are indexed as images in a data folder. HEIC/HEIF are
#: included so that iPhone photos are reported (``unsupported_format``) instead of being
#: passed over, and decoded when a HEIF plugin for Pillow is installed.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib",
        ".webp", ".tif", ".tiff", ".avif", ".heic", ".heif",
    }
)  # fmt: skip

#: Pillow format names that ``load_image`` decodes; any other format Pillow recognises is
#: ``unsupported_format``.
DECODED_FORMATS: frozenset[str] = frozenset(
    {"JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF", "AVIF", "HEIF"}
)

#: The largest image (width x height) flowerkit decodes by default, about 8,000 x 11,000
#: pixels: ``$FLOWERKIT_MAX_PIXELS`` overrides it (see :func:`max_pixels`). Larger files
#: are refused as ``too_large`` from their header, before decoding (decompression bombs).
#: It is Pillow's own default, 1024 x 1024 x 1024 // 4 // 3. A decoded RGB image this size
#: takes about 270 MB as a uint8 array (Pillow holds it in 4 bytes a pixel while decoding,
#: about 360 MB), so one decode stays under 0.4 GB and even a dozen at once (a tf.data
#: pipeline decoding in parallel) under 5 GB of a 24 GiB machine, while a 100-byte file
#: declaring 100,000 x 100,000 pixels (30 GB) is refused. The cost: photos over about 89
#: megapixels (some medium-format cameras, stitched panoramas, scans) cannot be used until
#: resized, or the limit raised.
MAX_PIXELS: int = 89_478_485

#: The environment variable that overrides :data:`MAX_PIXELS` (a positive whole number).
MAX_PIXELS_ENV = "FLOWERKIT_MAX_PIXELS"

#: Every ``UnreadableImageError.reason`` code and what it means.
REASONS: Mapping[str, str] = MappingProxyType(
    {
        "empty_file": "the file has 0 bytes",
        "truncated": "the file ends before the image does (interrupted copy or download)",
        "not_an_image": "the bytes are not an image (web page, document, random bytes)",
        "unsupported_format": "an image format flowerkit does not decode",
        "too_large": (
            f"more than {MAX_PIXELS:,} pixels, or ${MAX_PIXELS_ENV} when set "
            "(decompression-bomb guard)"
        ),
        "decode_error": "a known image format whose data is damaged",
        "missing": "the file does not exist, or is a broken symbolic link",
        "unreadable": "the file exists but cannot be read",
    }
)

#: Anything ``load_image`` accepts.
ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | Image.Image | NDArray[Any]"

_RESAMPLE = Image.Resampling.BILINEAR

#: The version of the rules above, saved with every model: 1 until 0.1, 2 since large
#: JPEGs are DCT-scaled (rule 7), 3 since embedded ICC colour profiles are converted to
#: sRGB (rule 8). It goes up whenever a rule changes the pixels a photo gives, so that a
#: model can tell it is fed photos decoded otherwise than in training.
DECODE_RULES = 3

#: A JPEG decoded for an image size is DCT-scaled down to no less than this many times
#: that size (then resized), as in ``PIL.Image.Image.thumbnail(reducing_gap=2.0)``.
DCT_REDUCING_GAP = 2
_TAIL_BYTES = 1024
_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ORIENTATION_TAG = 0x0112
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What Pillow's plugins raise for data they do not understand.
_DATA_ERRORS = (SyntaxError, IndexError, TypeError, ValueError, KeyError, EOFError, struct.error)
# Some plugins also run Pillow's own bomb check on sizes found while reading.
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


class _EofTracking:
    """Remembers whether a reader was asked for bytes past the end of its data, and reads
    a file exactly as its bytes.

    Pillow stops quietly at the end of a cut-off file when ``LOAD_TRUNCATED_IMAGES`` is
    set; an empty read while decoding tells flowerkit the file was truncated regardless.

    A header may point past the end of the data, as far as 2**64. Bytes in memory can be
    positioned anywhere up to 2**63 (then read nothing), but the file system refuses an
    offset over the largest file it can hold (2**44 to 2**63) with ``EINVAL``, which is no
    I/O error: such a position is kept here and reads nothing, as from bytes. A negative
    position is a ``ValueError`` for both, as for bytes.
    """

    hit_eof = False
    _beyond: int | None = None  # a position past any file, where reads give nothing

    def read(self, size: int | None = -1, /) -> bytes:
        data: bytes = b"" if self._beyond is not None else super().read(size)  # type: ignore[misc]
        if size is not None and size > 0 and not data:
            self.hit_eof = True
        return data

    def tell(self) -> int:
        return self._beyond if self._beyond is not None else int(super().tell())  # type: ignore[misc]

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        if whence == io.SEEK_CUR and self._beyond is not None:
            offset, whence = self._beyond + offset, io.SEEK_SET
        self._beyond = None
        try:
            return int(super().seek(offset, whence))  # type: ignore[misc]
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            base = {io.SEEK_SET: 0, io.SEEK_CUR: self.tell()}.get(whence)
            end = int(super().seek(0, io.SEEK_END))  # type: ignore[misc]
            target = (end if base is None else base) + offset
            if target < 0:
                raise ValueError(f"negative seek value {target}") from exc
            self._beyond = target
            return target


class _TrackedFile(_EofTracking, io.BufferedReader):
    pass


class _TrackedBytes(_EofTracking, io.BytesIO):
    pass


_Reader: TypeAlias = "_TrackedFile | _TrackedBytes"


def _where(path: Path | None) -> str:
    return f"{str(path)!r}" if path is not None else "The given bytes"


def _error(path: Path | None, reason: str, problem: str, advice: str) -> UnreadableImageError:
    return UnreadableImageError(f"{_where(path)} {problem}; {advice}.", path=path, reason=reason)


def _damaged(reader: _Reader, size: int, path: Path | None, detail: str) -> UnreadableImageError:
    """The error for a file of a known format that Pillow could not open or decode."""
    reader.seek(0)
    prefix = reader.read(PREFIX_BYTES)
    reader.seek(max(0, size - _TAIL_BYTES))
    tail = reader.read(_TAIL_BYTES)
    kind = sniff(prefix)
    if kind.format is not None and _looks_truncated(kind, prefix, tail, size):
        return _error(
            path,
            "truncated",
            f"is {kind.label} that is cut short ({size:,} bytes; {detail})",
            "the copy or download was probably interrupted: copy or download it again",
        )
    return _error(
        path,
        "decode_error",
        f"is {kind.label} whose data is damaged ({detail})",
        "re-export or re-download it, or delete it",
    )


def _too_large(path: Path | None, detail: str) -> UnreadableImageError:
    return _error(
        path,
        "too_large",
        f"is too large to decode safely ({detail})",
        "resize it to a smaller size first",
    )


def _unidentified(reader: _Reader, size: int, path: Path | None) -> UnreadableImageError:
    reader.seek(0)
    prefix = reader.read(PREFIX_BYTES)
    kind = sniff(prefix)
    if kind.format is not None:
        return _damaged(reader, size, path, "Pillow cannot read its header")
    if kind.unsupported:
        return _error(
            path,
            "unsupported_format",
            f"is {kind.label}, a format flowerkit does not decode",
            "convert it to JPEG or PNG (or delete it)",
        )
    what = (
        f"its first bytes ({prefix[:12]!r}) match no image format"
        if kind.label == "unrecognised data"
        else f"it looks like {kind.label} (it starts with {prefix[:12]!r})"
    )
    return _error(
        path,
        "not_an_image",
        f"is not an image: {what}",
        "delete it, or replace it with the real image",
    )


def _accepts(
    accept: Callable[[bytes], bool | str] | None, prefix: bytes, *, default: bool
) -> bool | str:
    """A plugin's verdict on a file's first bytes: a string names a missing codec.

    Some plugins read past the end of a prefix shorter than they expect (the DIB plugin
    on a file of 1 to 3 bytes); as for ``Image.open``, that means "not this format".
    """
    if accept is None:
        return default
    try:
        return accept(prefix)
    except _DATA_ERRORS:
        return False


def _identify(reader: _Reader, size: int, path: Path | None) -> Image.Image:
    """Open ``reader`` with the Pillow plugin its bytes match, reading only the header.

    This replaces ``Image.open`` so that no Pillow setting (``MAX_IMAGE_PIXELS``) is
    consulted and no Pillow warning is raised before flowerkit's own size check.
    """
    Image.init()  # registers every plugin once; cheap afterwards
    reader.seek(0)
    prefix = reader.read(16)
    others: list[str] = []
    warned: Warning | None = None
    for name in Image.ID:
        if name not in DECODED_FORMATS:
            others.append(name)
            continue
        factory, accept = Image.OPEN[name]
        verdict = _accepts(accept, prefix, default=True)
        if isinstance(verdict, str):  # the plugin knows the format but lacks a codec
            raise _error(
                path,
                "unsupported_format",
                f"is a {name} image, but this Pillow cannot decode {name} ({verdict})",
                "convert it to JPEG or PNG",
            )
        if not verdict:
            continue
        reader.seek(0)
        try:
            return factory(reader, "")
        except _BOMB as exc:
            raise _too_large(path, str(exc)) from exc
        except Warning as exc:  # only when the caller's warning filters say "error"
            warned = exc
            continue
        except _DATA_ERRORS:
            continue
        except OSError as exc:
            if exc.errno is not None:  # a real I/O error, not bad data
                raise
            continue
    for name in others:  # named only to give a precise message
        factory, accept = Image.OPEN[name]
        verdict = _accepts(accept, prefix, default=False)
        if not verdict or isinstance(verdict, str):
            continue
        reader.seek(0)
        try:
            factory(reader, "")
        except Exception:  # any failure means "not this format"
            continue
        raise _error(
            path,
            "unsupported_format",
            f"is a {name} file, a format flowerkit does not decode",
            "convert it to JPEG or PNG",
        )
    if warned is not None:
        raise _error(
            path,
            "decode_error",
            f"made Pillow warn {str(warned)!r}, and warnings are set to be errors",
            "re-export the image, or let this warning through",
        )
    raise _unidentified(reader, size, path)


def max_pixels() -> int:
    """The most pixels (width x height) an image may have to be decoded (rule 2).

    ``$FLOWERKIT_MAX_PIXELS`` when it is set (read at every decode, so it can be changed
    while the process runs), else :data:`MAX_PIXELS`. An empty value counts as unset.

    Raises:
        ~flowerkit.ConfigError: ``$FLOWERKIT_MAX_PIXELS`` is not a positive whole number.
    """
    value = os.environ.get(MAX_PIXELS_ENV)
    if not value:
        return MAX_PIXELS
    text = value.strip()
    if re.fullmatch(r"[0-9]+(_[0-9]+)*", text) and int(text) > 0:
        return int(text)
    raise ConfigError(
        f"The environment variable {MAX_PIXELS_ENV} must be a positive whole number of "
        f"pixels (width x height; the default is {MAX_PIXELS:,}). Received {value!r}."
    )


def _check_dimensions(image: Image.Image, path: Path | None) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise _error(path, "decode_error", f"has no pixels ({width}x{height})", "delete it")
    limit = max_pixels()
    if width * height > limit:
        where = f" (set by ${MAX_PIXELS_ENV})" if limit != MAX_PIXELS else ""
        raise _error(
            path,
            "too_large",
            f"is {width:,}x{height:,} = {width * height:,} pixels, more than the "
            f"{limit:,}{where} flowerkit decodes (a guard against decompression bombs)",
            "resize it to a smaller size first",
        )


def _sixteen_to_eight(image: Image.Image) -> Image.Image:
    """8-bit gray from 16-bit, 32-bit integer or float samples (floats up to 1.0 are
    scaled to 255; NaN becomes 0 and infinities 0 or 255, whatever the other samples)."""
    arr = np.asarray(image).astype(np.float32)
    mode = image.mode
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, np.where(arr > 0, np.float32(255), np.float32(0)))
    peak = float(arr[finite].max(initial=0.0))
    if mode == "F":
        scale = 255.0 if peak <= 1.0 else 1.0
    elif mode in _SIXTEEN_BIT or peak > 255:
        scale = 1.0 / 257.0
    else:
        scale = 1.0
    return Image.fromarray(
        np.where(finite, np.clip(np.rint(arr * scale), 0, 255), arr).astype(np.uint8)
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, compositing transparency on white."""
    if image.mode in _SIXTEEN_BIT or image.mode in ("I", "F"):
        image = _sixteen_to_eight(image)
    elif image.mode == "1":
        image = image.convert("L")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return background
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _exif_orientation(exif: bytes) -> int:
    """Read tag 0x0112 from raw EXIF bytes (a TIFF header and IFD0); 1 when absent."""
    data = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    if data[:4] == b"II*\x00":
        order = "<"
    elif data[:4] == b"MM\x00*":
        order = ">"
    else:
        return 1
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        for i in range(min(count, 512)):
            tag, kind, _, value = struct.unpack_from(order + "HHIH", data, ifd + 2 + 12 * i)
            if tag == _ORIENTATION_TAG and kind == 3:  # SHORT
                return int(value)
    except struct.error:
        return 1
    return 1


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1..8), or 1 when there is none or it cannot be read.

    Read from the raw EXIF bytes rather than ``Image.getexif()``, so a damaged EXIF block
    neither fails a good photo nor makes Pillow print warnings.
    """
    exif = image.info.get("exif")
    if isinstance(exif, bytes):
        value = _exif_orientation(exif)
    else:
        tags = getattr(image, "tag_v2", None)  # TIFF keeps orientation in its own tags
        value = tags.get(_ORIENTATION_TAG, 1) if tags is not None else 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


class _Profile(NamedTuple):
    """An embedded ICC profile littleCMS can convert from."""

    profile: ImageCms.ImageCmsProfile
    space: str  # "RGB", "GRAY" or "CMYK"


#: Device classes whose profiles describe the pixels of an image: input (camera,
#: scanner), display, output (printer, press) and colour-space profiles.
_IMAGE_CLASSES = frozenset({"scnr", "mntr", "prtr", "spac"})
_ICC_ERRORS = (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError)
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", *_SIXTEEN_BIT})
_RGB_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "YCbCr"})


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


# Sized for the distinct profiles of a real photo folder (flower_photos has 66; with 16
# and 32 entries, a third of the files with a profile parsed it again: 5% of a cold check).
@functools.lru_cache(maxsize=256)
def _parse_profile(icc: bytes) -> _Profile | None:
    """``icc`` parsed, or ``None`` when it is damaged or describes no image pixels."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = str(profile.profile.xcolor_space).strip()
        device_class = str(profile.profile.device_class)
    except _ICC_ERRORS:
        return None
    if space not in ("RGB", "GRAY", "CMYK") or device_class not in _IMAGE_CLASSES:
        return None
    return _Profile(profile, space)


def _probe(mode: str) -> Image.Image:
    """Every level of each channel alone, the grays and a 16 x 16 x 16 grid of colours
    (``RGB``), or every gray level (``L``)."""
    levels = np.arange(256, dtype=np.uint8)
    if mode == "L":
        return Image.fromarray(levels[None, :])
    zero = np.zeros(256, np.uint8)
    ramps = [
        np.stack(channels, axis=-1)
        for channels in (
            (levels, zero, zero),
            (zero, levels, zero),
            (zero, zero, levels),
            (levels, levels, levels),
        )
    ]
    grid = np.stack(np.meshgrid(*[np.arange(0, 256, 17, dtype=np.uint8)] * 3), -1)
    return Image.fromarray(np.concatenate([*ramps, grid.reshape(-1, 3)])[None, :, :])


@functools.lru_cache(maxsize=256)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The conversion of ``mode`` pixels (``RGB``, ``RGBA``, ``L`` or ``CMYK``) described by
    ``icc`` to sRGB (``RGBA`` stays ``RGBA``, the others become ``RGB``); ``None`` when
    ``icc`` cannot be used for them or converting would change no pixel (rule 8)."""
    parsed = _parse_profile(icc)
    wanted = {"RGB": "RGB", "RGBA": "RGB", "L": "GRAY", "CMYK": "CMYK"}[mode]
    if parsed is None or parsed.space != wanted:
        return None
    try:
        transform = ImageCms.buildTransform(
            parsed.profile,
            _srgb(),
            mode,
            "RGBA" if mode == "RGBA" else "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
        if mode == "CMYK":
            return transform
        if mode == "RGBA":  # the same colours as RGB: skipped for the same profiles
            return transform if _srgb_transform(icc, "RGB") is not None else None
        probe = _probe(mode)
        before = np.asarray(probe.convert("RGB"), dtype=np.int16)
        after = np.asarray(transform.apply(probe), dtype=np.int16)
    except _ICC_ERRORS:
        return None
    return None if int(np.abs(after - before).max()) <= 1 else transform


def _to_srgb(image: Image.Image) -> Image.Image:
    """``image`` converted to sRGB by its embedded ICC profile (rule 8), as ``RGB`` (or
    ``RGBA``, the alpha kept); ``image`` itself when it has no profile that applies."""
    icc = image.info.get("icc_profile")
    if not isinstance(icc, bytes) or not icc:
        return image
    parsed = _parse_profile(icc)
    if parsed is None:
        return image
    mode = image.mode
    alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if parsed.space == "RGB" and mode in _RGB_MODES:
        work = "RGBA" if alpha else "RGB"
    elif parsed.space == "GRAY" and mode in _GRAY_MODES:
        work = "L"
    elif parsed.space == "CMYK" and mode == "CMYK":
        work = "CMYK"
    else:  # a profile for other pixels than these
        return image
    transform = _srgb_transform(icc, work)
    if transform is None:
        return image
    try:
        if work != "L":
            return transform.apply(image if mode == work else image.convert(work))
        if mode in _SIXTEEN_BIT or mode in ("I", "F"):
            image = _sixteen_to_eight(image)
        if not alpha:
            return transform.apply(image if image.mode == "L" else image.convert("L"))
        gray, opacity = image.convert("LA").split()
        return Image.merge("RGBA", (*transform.apply(gray).split(), opacity))
    except _ICC_ERRORS:
        return image


def _finish(image: Image.Image, orientation: int) -> Image.Image:
    rgb = _to_rgb(_to_srgb(image))
    method = _TRANSPOSE.get(orientation)
    return rgb.transpose(method) if method is not None else rgb


def dct_scaled(width: int, height: int, image_size: tuple[int, int] | None) -> bool:
    """Whether a JPEG of ``width`` x ``height`` (upright) decoded for ``image_size`` =
    ``(height, width)`` is DCT-scaled (see rule 7 of the module documentation).

    It is when both sides are at least ``2 * DCT_REDUCING_GAP`` (4) times the target's.
    The checker uses this to tell whether its full-size decode also gives the training
    pixels (resized with :func:`resize_decoded`) or a second, DCT-scaled decode is needed.

    Args:
        width: the JPEG's width in pixels, after EXIF orientation.
        height: the JPEG's height in pixels, after EXIF orientation.
        image_size: the ``(height, width)`` it is decoded for; ``None`` (full size) is
            never DCT-scaled.

    Returns:
        ``True`` when libjpeg decodes it at a reduced size first.

    Example:
        >>> from flowerkit.images import dct_scaled
        >>> dct_scaled(4032, 3024, (180, 180))  # a 12-megapixel phone photo
        True
        >>> dct_scaled(640, 480, (180, 180)), dct_scaled(4032, 3024, None)
        (False, False)
    """
    if image_size is None:
        return False
    gap = 2 * DCT_REDUCING_GAP
    return width >= gap * image_size[1] and height >= gap * image_size[0]


def _draft(image: Image.Image, image_size: tuple[int, int] | None) -> None:
    """Let libjpeg decode ``image`` DCT-scaled when it is large for ``image_size``."""
    if image.format not in ("JPEG", "MPO") or image_size is None:
        return
    height, width = image_size
    if _orientation(image) in (5, 6, 7, 8):  # stored on its side: the target turns too
        height, width = width, height
    if dct_scaled(image.width, image.height, (height, width)):
        image.draft("RGB", (width * DCT_REDUCING_GAP, height * DCT_REDUCING_GAP))


def _decode(
    reader: _Reader, size: int, path: Path | None, image_size: tuple[int, int] | None = None
) -> Image.Image:
    """Identify, size-check, decode (DCT-scaled for ``image_size`` when that applies) and
    convert the image in ``reader``."""
    if size == 0:
        raise _error(
            path,
            "empty_file",
            "is an empty file (0 bytes)",
            "delete it or replace it with the real image",
        )
    image = _identify(reader, size, path)
    _check_dimensions(image, path)
    _draft(image, image_size)
    reader.hit_eof = False
    try:
        image.load()
    except _BOMB as exc:
        raise _too_large(path, str(exc)) from exc
    except MemoryError as exc:
        raise _too_large(path, "out of memory while decoding") from exc
    except OSError as exc:
        if exc.errno is not None:  # a real I/O error, not bad data
            raise
        text = str(exc)
        if "not available" in text or "unsupported" in text.lower():
            raise _error(
                path,
                "unsupported_format",
                f"uses a {image.format} variant this Pillow cannot decode ({text})",
                "convert it to JPEG or PNG",
            ) from exc
        if reader.hit_eof or "truncated" in text:
            raise _error(
                path,
                "truncated",
                f"is cut short: the {image.format} data ends early ({text})",
                "the copy or download was probably interrupted: copy or download it again",
            ) from exc
        raise _damaged(reader, size, path, text) from exc
    except (*_DATA_ERRORS, Warning) as exc:
        raise _damaged(reader, size, path, f"{type(exc).__name__}: {exc}") from exc
    if reader.hit_eof:
        raise _error(
            path,
            "truncated",
            f"is cut short: the {image.format} data ends early",
            "the copy or download was probably interrupted: copy or download it again",
        )
    try:
        return _finish(image, _orientation(image))
    except (*_DATA_ERRORS, Warning, OSError) as exc:
        raise _error(
            path,
            "decode_error",
            f"has pixels in a form flowerkit cannot convert to RGB (mode {image.mode}: {exc})",
            "re-export it as an 8-bit RGB JPEG or PNG",
        ) from exc


def _decode_path(path: Path, image_size: tuple[int, int] | None = None) -> Image.Image:
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        if os.path.islink(path):
            target = os.readlink(path)
            raise _error(
                path,
                "missing",
                f"is a broken symbolic link to {target!r}",
                "fix or remove the link",
            ) from exc
        raise _error(path, "missing", "does not exist", "check the path") from exc
    except OSError as exc:
        raise _error(
            path, "unreadable", f"cannot be read ({exc.strerror or exc})", "check its permissions"
        ) from exc
    if stat.S_ISDIR(info.st_mode):
        raise _error(path, "unreadable", "is a folder, not an image file", "pass an image file")
    if not stat.S_ISREG(info.st_mode):
        raise _error(
            path, "unreadable", "is not a regular file (a device, pipe or socket)", "remove it"
        )
    try:
        raw = io.FileIO(path, "r")
    except OSError as exc:
        raise _error(
            path, "unreadable", f"cannot be read ({exc.strerror or exc})", "check its permissions"
        ) from exc
    with _TrackedFile(raw) as reader:
        try:
            return _decode(reader, info.st_size, path, image_size)
        except UnreadableImageError:
            raise
        except OSError as exc:  # an I/O error while reading, not bad data
            raise _error(
                path, "unreadable", f"could not be read ({exc.strerror or exc})", "check the disk"
            ) from exc


def _from_pil(image: Image.Image) -> Image.Image:
    filename = getattr(image, "filename", "")
    path = Path(filename) if isinstance(filename, str) and filename else None
    _check_dimensions(image, path)
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
        image.load()
        return _finish(image, _orientation(image))
    except (*_DATA_ERRORS, Warning, OSError) as exc:
        raise _error(
            path, "decode_error", f"(a PIL image) could not be decoded ({exc})", "reload it"
        ) from exc


def to_rgb_array(array: NDArray[Any], *, name: str = "image") -> NDArray[np.uint8]:
    """Check an ``(H, W)``, ``(H, W, 1|3|4)`` array of 0..255 values and return uint8 RGB.

    Four channels are RGBA: the alpha is composited on white, as for image files.

    Other numeric types are rounded to the nearest whole value; grayscale is repeated
    into the three channels.

    Args:
        array: the pixels.
        name: the argument's name, for error messages.

    Returns:
        A C-contiguous ``(H, W, 3)`` uint8 array.

    Raises:
        ~flowerkit.ConfigError: the array has the wrong shape, is not numeric,
            or holds values outside 0..255 (or NaN).

    Example:
        >>> import numpy as np
        >>> from flowerkit.images import to_rgb_array
        >>> to_rgb_array(np.zeros((2, 3), dtype=np.uint8)).shape
        (2, 3, 3)
        >>> transparent_and_opaque_red = np.array([[[255, 0, 0, 0], [255, 0, 0, 255]]])
        >>> to_rgb_array(transparent_and_opaque_red).tolist()
        [[[255, 255, 255], [255, 0, 0]]]
        >>> to_rgb_array(np.full((2, 2), 300.0), name="pixels")
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `pixels` values must lie in 0..255 (raw pixels; the model
        rescales inside). Received values from 300 to 300.
    """
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ConfigError(
            f"`{name}` must be an array of shape (height, width), (height, width, 1), "
            f"(height, width, 3) or (height, width, 4). Received shape {arr.shape}."
        )
    if arr.dtype != np.uint8:
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
            raise ConfigError(f"`{name}` must hold numbers 0..255. Received dtype {arr.dtype}.")
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"`{name}` contains NaN or infinite values.")
        low, high = float(arr.min()), float(arr.max())
        if low < 0 or high > 255:
            raise ConfigError(
                f"`{name}` values must lie in 0..255 (raw pixels; the model rescales inside). "
                f"Received values from {low:g} to {high:g}."
            )
        arr = np.round(arr).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = arr[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        arr = np.round(rgb).astype(np.uint8)
    return np.ascontiguousarray(arr)


def resize_image(array: NDArray[np.uint8], image_size: tuple[int, int]) -> NDArray[np.uint8]:
    """Squash a uint8 RGB array to ``image_size`` = ``(height, width)`` the flowerkit way.

    The resize of rule 7 (no crop, Pillow's anti-aliased bilinear filter), as
    :func:`load_image` does for an array.

    Args:
        array: an ``(H, W, 3)`` uint8 array, e.g. from :func:`to_rgb_array`.
        image_size: ``(height, width)``.

    Returns:
        The ``(height, width, 3)`` uint8 array; ``array`` itself when it is that size
        already.

    Example:
        >>> import numpy as np
        >>> from flowerkit.images import resize_image
        >>> pixels = np.zeros((48, 64, 3), dtype=np.uint8)
        >>> resize_image(pixels, (24, 24)).shape
        (24, 24, 3)
        >>> resize_image(pixels, (48, 64)) is pixels
        True
    """
    height, width = image_size
    if array.shape[0] == height and array.shape[1] == width:
        return array
    resized = Image.fromarray(array).resize((width, height), _RESAMPLE)
    return np.asarray(resized, dtype=np.uint8)


def decode_image(
    source: str | os.PathLike[str] | bytes | Image.Image,
    image_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode a file, encoded bytes or a PIL image into an RGB ``PIL.Image.Image``.

    The image :func:`load_image` turns into an array (orientation and mode rules
    applied, not resized).

    Use it when you need the image itself (to show or save it); pass it to
    :func:`resize_decoded` for the array the model gets.

    Args:
        source: a file path, encoded image bytes or a PIL image.
        image_size: the ``(height, width)`` the image is for: a large JPEG is then
            decoded DCT-scaled (rule 7); ``None`` decodes every pixel.

    Returns:
        An ``RGB`` image, upright, at its own size (or the DCT-scaled size).

    Raises:
        ~flowerkit.UnreadableImageError: as :func:`load_image`.
        ~flowerkit.ConfigError: ``source`` is of another type.

    Example:
        >>> from flowerkit.images import decode_image
        >>> image = decode_image("my_rose.jpg")
        >>> image.mode, image.size  # PIL sizes are (width, height)
        ('RGB', (64, 48))
        >>> decode_image(48)
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: An image must be a path, encoded bytes, a PIL image or a
        numpy array. Received an object of type int.
    """
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        with _TrackedBytes(data) as reader:
            return _decode(reader, len(data), None, image_size)
    if isinstance(source, str | os.PathLike):
        return _decode_path(Path(source), image_size)
    raise ConfigError(
        "An image must be a path, encoded bytes, a PIL image or a numpy array. "
        f"Received an object of type {type(source).__name__}."
    )


def resize_decoded(image: Image.Image, image_size: tuple[int, int]) -> NDArray[np.uint8]:
    """An image from :func:`decode_image` as a uint8 array at ``image_size`` =
    ``(height, width)``, resized the flowerkit way (what :func:`load_image` returns when
    the decode was not DCT-scaled).

    Args:
        image: an RGB image from :func:`decode_image`.
        image_size: ``(height, width)``.

    Returns:
        The ``(height, width, 3)`` uint8 array.

    Example:
        >>> import numpy as np
        >>> from flowerkit.images import decode_image, load_image, resize_decoded
        >>> pixels = resize_decoded(decode_image("my_rose.jpg", (32, 32)), (32, 32))
        >>> pixels.shape
        (32, 32, 3)
        >>> np.array_equal(pixels, load_image("my_rose.jpg", (32, 32)))
        True
    """
    height, width = image_size
    if image.size != (width, height):
        image = image.resize((width, height), _RESAMPLE)
    return np.array(image, dtype=np.uint8)


def load_image(source: ImageInput, image_size: tuple[int, int] | None = None) -> NDArray[np.uint8]:
    """Decode ``source`` into a ``uint8`` RGB array, resized to ``image_size`` if given.

    The rules are in the module documentation.

    Args:
        source: a file path, encoded image bytes, a ``PIL.Image.Image`` or an array of
            shape ``(H, W)``/``(H, W, C)`` with values 0..255.
        image_size: ``(height, width)``.

    Returns:
        An ``(height, width, 3)`` uint8 RGB array.

    Raises:
        ~flowerkit.UnreadableImageError: for a file that is not a usable
            image: its ``path`` is the file (``None`` for bytes) and its ``reason`` one of
            the codes in :data:`REASONS`; the message names the file and says what to do.
        ~flowerkit.ConfigError: for an array of the wrong shape or range, an object
            of another type, or a ``$FLOWERKIT_MAX_PIXELS`` that is not a positive whole
            number.

    Example:
        >>> from flowerkit.images import load_image
        >>> load_image("my_rose.jpg").shape  # a 64 x 48 photo: (height, width, 3)
        (48, 64, 3)
        >>> with open("my_rose.jpg", "rb") as f:
        ...     load_image(f.read(), image_size=(32, 32)).dtype
        dtype('uint8')
        >>> load_image(b"<html>Not found</html>")
        Traceback (most recent call last):
            ...
        flowerkit.UnreadableImageError: The given bytes is not an image: it looks like ...
        >>> from flowerkit import UnreadableImageError
        >>> try:
        ...     load_image("no_such_photo.jpg")
        ... except UnreadableImageError as error:
        ...     print(error.reason, error.path)
        missing no_such_photo.jpg
    """
    if isinstance(source, np.ndarray):
        rgb = to_rgb_array(source)
        return rgb if image_size is None else resize_image(rgb, image_size)
    image = decode_image(source, image_size)
    if image_size is None:
        return np.array(image, dtype=np.uint8)
    return resize_decoded(image, image_size)
