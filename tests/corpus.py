"""Generate the corpus of real-world image files, odd files and broken files for the tests.

Every generator returns the encoded bytes of one file; :func:`build_dataset` lays a mixed
data folder out on disk and returns what the checker must find in it. Nothing here is
downloaded: every file is made with Pillow, numpy and a few hand-written headers.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
YELLOW = (255, 255, 0)
WHITE = (255, 255, 255)

#: The upright test picture: 20 rows x 30 columns, four coloured quadrants.
UPRIGHT_SIZE = (20, 30)  # (height, width)
QUADRANTS = {"top_left": RED, "top_right": GREEN, "bottom_left": BLUE, "bottom_right": YELLOW}


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def solid(
    colour: tuple[int, ...], size: tuple[int, int] = (16, 24), mode: str = "RGB"
) -> Image.Image:
    """A one-colour image of ``size`` = (height, width)."""
    return Image.new(mode, (size[1], size[0]), colour)


def noise(size: tuple[int, int] = (24, 32), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8), "RGB")


def upright() -> Image.Image:
    """The asymmetric picture: red top-left, green top-right, blue bottom-left, yellow rest."""
    height, width = UPRIGHT_SIZE
    arr = np.zeros((height, width, 3), np.uint8)
    arr[: height // 2, : width // 2] = RED
    arr[: height // 2, width // 2 :] = GREEN
    arr[height // 2 :, : width // 2] = BLUE
    arr[height // 2 :, width // 2 :] = YELLOW
    return Image.fromarray(arr, "RGB")


# Applying EXIF orientation k means applying _APPLY[k]; the file stores the inverse.
_INVERSE: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # orientation 6 is undone by ROTATE_270
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,  # orientation 8 is undone by ROTATE_90
}


def oriented_jpeg(orientation: int) -> bytes:
    """A JPEG whose pixels are stored rotated/flipped, with the EXIF tag that undoes it."""
    method = _INVERSE[orientation]
    stored = upright() if method is None else upright().transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_raw(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand: IHDR, one IDAT of ``rows`` (filter bytes included), IEND."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def png_rgb16(colour8: tuple[int, int, int], size: tuple[int, int] = (6, 5)) -> bytes:
    """A 16-bit-per-channel RGB PNG whose samples are ``257 * colour8``."""
    height, width = size
    row = b"\x00" + np.array([[c * 257 for c in colour8]] * width, ">u2").tobytes()
    return png_raw(width, height, 16, 2, row * height)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 100-byte PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def gif_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A 40-byte GIF: a 10x10 screen with one frame that claims ``width`` x ``height``."""
    screen = struct.pack("<HHBBB", 10, 10, 0, 0, 0)
    frame = struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + b"," + frame + b"\x02\x02\x4c\x01\x00;"


def tiff_rgb16(colour8: tuple[int, int, int], size: tuple[int, int] = (3, 4)) -> bytes:
    """An uncompressed little-endian 16-bit RGB TIFF written by hand."""
    height, width = size
    data = np.full((height, width, 3), [c * 257 for c in colour8], "<u2").tobytes()
    bits_at = 8 + len(data)
    ifd_at = bits_at + 6
    short, long_ = 3, 4
    entries = [
        (256, short, 1, width), (257, short, 1, height), (258, short, 3, bits_at),
        (259, short, 1, 1), (262, short, 1, 2), (273, long_, 1, 8), (277, short, 1, 3),
        (278, short, 1, height), (279, long_, 1, len(data)), (284, short, 1, 1),
    ]  # fmt: skip
    out = b"II*\x00" + struct.pack("<I", ifd_at) + data + struct.pack("<3H", 16, 16, 16)
    out += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if kind == short and count == 1:
            out += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, count, value)
    return out + struct.pack("<I", 0)


def animated_gif(first: tuple[int, int, int] = RED, second: tuple[int, int, int] = BLUE) -> bytes:
    frames = [solid(first), solid(second)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def palette_png(transparent: bool) -> bytes:
    image = Image.new("P", (8, 6), 1)
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    image.paste(2, (0, 0, 4, 6))  # left half blue (index 2), right half red (index 1)
    return encode(image, "PNG", transparency=2) if transparent else encode(image, "PNG")


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG as Photoshop writes it: Adobe APP14 marker, inverted CMYK samples."""
    return encode(Image.new("CMYK", (16, 12), (0, 255, 255, 0)), "JPEG", quality=95)


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


def corrupt_exif_jpeg() -> bytes:
    """A good JPEG whose EXIF block is garbage."""
    good = encode(solid(GREEN), "JPEG", quality=95)
    payload = b"Exif\x00\x00" + b"MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x13" * 20
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return good[:2] + segment + good[2:]


def psd_file() -> bytes:
    """A minimal 4x4 RGB Photoshop file: an image format flowerkit does not decode."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 4, 4, 8, 3)
    return header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + bytes(3 * 4 * 4)


HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
    b"<body><h1>Not Found</h1><p>The requested URL was not found.</p></body></html>\n"
)
PDF_DOCUMENT = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200


def random_bytes(n: int = 4096, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


# --------------------------------------------------------------------------- the folder


@dataclass
class Expected:
    """What :func:`flowerkit.data.check_images` must report for a built folder."""

    #: class -> relative paths (from the root) that load.
    good: dict[str, set[str]] = field(default_factory=dict)
    #: relative path -> reason code.
    bad: dict[str, str] = field(default_factory=dict)
    #: relative path -> ignore reason.
    ignored: dict[str, str] = field(default_factory=dict)
    #: sets of relative paths that are duplicates of each other.
    duplicates: list[set[str]] = field(default_factory=list)
    #: duplicate sets that span classes.
    conflicts: list[set[str]] = field(default_factory=list)
    empty_classes: set[str] = field(default_factory=set)
    symlinks: bool = False


def _write(root: Path, rel: str, data: bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def can_symlink(tmp: Path) -> bool:
    try:
        os.symlink(tmp / "nowhere", tmp / ".probe-link")
    except (OSError, NotImplementedError):
        return False
    (tmp / ".probe-link").unlink()
    return True


def build_dataset(root: Path, *, with_empty_class: bool = True) -> Expected:
    """Write the mixed folder under ``root`` (classes ``cats`` and ``dogs``)."""
    exp = Expected(good={"cats": set(), "dogs": set()})

    def good(rel: str, data: bytes) -> None:
        _write(root, rel, data)
        exp.good[rel.split("/")[0]].add(rel)

    def bad(rel: str, data: bytes, reason: str) -> None:
        _write(root, rel, data)
        exp.bad[rel] = reason

    def ignored(rel: str, data: bytes, reason: str) -> None:
        _write(root, rel, data)
        exp.ignored[rel] = reason

    jpeg = encode(noise(seed=1), "JPEG", quality=90)
    png = encode(noise(seed=2), "PNG")
    goods: list[tuple[str, Callable[[], bytes]]] = [
        ("cats/baseline.jpg", lambda: jpeg),
        ("cats/progressive.jpeg", lambda: encode(noise(seed=3), "JPEG", progressive=True)),
        ("cats/cmyk.jpg", cmyk_jpeg),
        ("cats/UPPER.JPG", lambda: encode(noise(seed=4), "JPEG")),
        ("cats/rosé façade 🌸.jpg", lambda: encode(noise(seed=5), "JPEG")),
        ("cats/with space.png", lambda: encode(noise(seed=6), "PNG")),
        ("cats/nested/deeper/inner.png", lambda: encode(noise(seed=7), "PNG")),
        ("cats/png_named.jpg", lambda: png),
        ("cats/rotated.jpg", lambda: oriented_jpeg(6)),
        ("cats/one_pixel.png", lambda: encode(solid(RED, (1, 1)), "PNG")),
        ("dogs/wide.png", lambda: encode(solid(BLUE, (10, 10_000)), "PNG")),
        ("dogs/UPPER.PNG", lambda: encode(noise(seed=8), "PNG")),
        (
            "dogs/gray16.png",
            lambda: encode(Image.fromarray(np.full((8, 8), 30000, np.uint16)), "PNG"),
        ),
        ("dogs/rgb16.png", lambda: png_rgb16((10, 200, 30))),
        ("dogs/palette_alpha.png", lambda: palette_png(transparent=True)),
        ("dogs/rgba.png", lambda: encode(solid((255, 0, 0, 128), mode="RGBA"), "PNG")),
        ("dogs/animated.gif", animated_gif),
        ("dogs/picture.bmp", lambda: encode(noise(seed=9), "BMP")),
        ("dogs/picture.webp", lambda: encode(noise(seed=10), "WEBP", lossless=True)),
        ("dogs/picture.tiff", lambda: encode(noise(seed=11), "TIFF")),
        ("dogs/rgb16.tif", lambda: tiff_rgb16((1, 2, 3))),
    ]
    for rel, make in goods:
        good(rel, make())

    # Duplicates: same bytes within a class, same bytes across classes, same pixels.
    good("cats/copy_of_baseline.jpg", jpeg)
    good("dogs/also_a_cat.jpg", jpeg)
    exp.duplicates.append({"cats/baseline.jpg", "cats/copy_of_baseline.jpg", "dogs/also_a_cat.jpg"})
    exp.conflicts.append(set(exp.duplicates[-1]))
    good("dogs/same_pixels.bmp", encode(noise(seed=2), "BMP"))
    exp.duplicates.append({"cats/png_named.jpg", "dogs/same_pixels.bmp"})
    exp.conflicts.append(set(exp.duplicates[-1]))
    good("dogs/recompressed.png", encode(noise(seed=8), "PNG", compress_level=1))
    exp.duplicates.append({"dogs/UPPER.PNG", "dogs/recompressed.png"})

    bad("cats/zero.jpg", b"", "empty_file")
    bad("cats/truncated.jpg", truncated(encode(noise(seed=12), "JPEG")), "truncated")
    bad("dogs/truncated.png", truncated(encode(noise(seed=13), "PNG")), "truncated")
    bad("cats/error_page.jpg", HTML_PAGE, "not_an_image")
    bad("dogs/random.png", random_bytes(), "not_an_image")
    bad("dogs/document.jpg", PDF_DOCUMENT, "not_an_image")
    bad("cats/iphone.heic", HEIC_HEADER, "unsupported_format")
    bad("dogs/bomb.png", png_bomb(), "too_large")

    ignored("cats/.DS_Store", b"\x00\x00\x00\x01Bud1", "system_file")
    ignored("cats/._baseline.jpg", b"\x00\x05\x16\x07AppleDouble", "apple_double")
    ignored("dogs/Thumbs.db", b"\xd0\xcf\x11\xe0", "system_file")
    ignored("dogs/desktop.ini", b"[.ShellClassInfo]\n", "system_file")
    ignored("dogs/.hidden.jpg", jpeg, "hidden_file")
    ignored("dogs/notes.txt", b"some notes\n", "not_an_image_extension")
    ignored("README.txt", b"my photos\n", "outside_class_folder")
    ignored("stray.jpg", jpeg, "outside_class_folder")
    _write(root, "cats/.thumbnails/thumb.jpg", jpeg)
    exp.ignored["cats/.thumbnails"] = "hidden_folder"
    _write(root, "__MACOSX/cats/._baseline.jpg", b"\x00\x05\x16\x07")
    exp.ignored["__MACOSX"] = "system_folder"

    if with_empty_class:
        (root / "empty").mkdir()
        exp.good["empty"] = set()
        exp.empty_classes.add("empty")

    if can_symlink(root):
        exp.symlinks = True
        outside = root.parent / f"{root.name}-outside"
        _write(outside, "linked_folder/in_linked_folder.png", encode(noise(seed=20), "PNG"))
        _write(outside, "target.png", encode(noise(seed=21), "PNG"))
        os.symlink(outside / "target.png", root / "cats/linked_file.png")
        exp.good["cats"].add("cats/linked_file.png")
        os.symlink(outside / "linked_folder", root / "dogs/linked_folder")
        exp.ignored["dogs/linked_folder"] = "symlinked_folder"
        os.symlink(outside / "gone.jpg", root / "dogs/broken_link.jpg")
        exp.bad["dogs/broken_link.jpg"] = "missing"
    return exp
