"""``load_image``: every real-world format decodes to upright RGB; every broken file fails
with the right reason code, before allocating pixels for a decompression bomb."""

from __future__ import annotations

import io
import os
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from corpus import (
    BLUE,
    GREEN,
    HEIC_HEADER,
    HTML_PAGE,
    PDF_DOCUMENT,
    QUADRANTS,
    RED,
    UPRIGHT_SIZE,
    WHITE,
    animated_gif,
    cmyk_jpeg,
    corrupt_exif_jpeg,
    encode,
    gif_bomb,
    noise,
    oriented_jpeg,
    palette_png,
    png_bomb,
    png_rgb16,
    psd_file,
    random_bytes,
    solid,
    tiff_rgb16,
    truncated,
    upright,
)
from flowerkit.exceptions import ConfigError, DatasetError, UnreadableImageError
from flowerkit.images import decode as images
from flowerkit.images.decode import (
    MAX_PIXELS,
    REASONS,
    dct_scaled,
    decode_image,
    load_image,
    resize_decoded,
    resize_image,
)

Check = Callable[[np.ndarray], None]


def _colour(expected: tuple[int, int, int], tol: int = 0) -> Check:
    def check(arr: np.ndarray) -> None:
        diff = np.abs(arr.astype(int) - np.array(expected)).max()
        assert diff <= tol, f"max difference {diff} from {expected}"

    return check


def _pixels(expected: np.ndarray) -> Check:
    def check(arr: np.ndarray) -> None:
        np.testing.assert_array_equal(arr, expected)

    return check


def _halves(left: tuple[int, int, int], right: tuple[int, int, int]) -> Check:
    def check(arr: np.ndarray) -> None:
        half = arr.shape[1] // 2
        _colour(left)(arr[:, :half])
        _colour(right)(arr[:, half:])

    return check


NOISE = np.asarray(noise(seed=3))
GOOD: list[tuple[str, Callable[[], bytes], tuple[int, int], Check]] = [
    ("baseline.jpg", lambda: encode(solid(GREEN), "JPEG", quality=95), (16, 24), _colour(GREEN, 2)),
    (
        "progressive.jpg",
        lambda: encode(solid(BLUE), "JPEG", progressive=True, quality=95),
        (16, 24),
        _colour(BLUE, 2),
    ),
    ("cmyk.jpg", cmyk_jpeg, (12, 16), _colour(RED, 2)),
    ("rgb8.png", lambda: encode(noise(seed=3), "PNG"), (24, 32), _pixels(NOISE)),
    ("gray8.png", lambda: encode(solid((77,), mode="L"), "PNG"), (16, 24), _colour((77, 77, 77))),
    (
        "gray16.png",
        lambda: encode(Image.fromarray(np.full((5, 7), 30000, np.uint16)), "PNG"),
        (5, 7),
        _colour((117, 117, 117)),  # round(30000 / 257)
    ),
    ("rgb16.png", lambda: png_rgb16((10, 200, 30)), (6, 5), _colour((10, 200, 30))),
    ("bilevel.png", lambda: encode(solid((1,), mode="1"), "PNG"), (16, 24), _colour(WHITE)),
    ("palette.png", lambda: palette_png(transparent=False), (6, 8), _halves(BLUE, RED)),
    ("palette_alpha.png", lambda: palette_png(transparent=True), (6, 8), _halves(WHITE, RED)),
    (
        "gray_trns.png",
        lambda: encode(solid((10,), mode="L"), "PNG", transparency=10),
        (16, 24),
        _colour(WHITE),
    ),
    (
        "la.png",
        lambda: encode(solid((100, 128), mode="LA"), "PNG"),
        (16, 24),
        _colour((178, 178, 178), 1),  # 100 * 128/255 + 255 * 127/255
    ),
    (
        "rgba.png",
        lambda: encode(solid((255, 0, 0, 128), mode="RGBA"), "PNG"),
        (16, 24),
        _colour((255, 127, 127), 1),
    ),
    (
        "opaque_rgba.png",
        lambda: encode(solid((*BLUE, 255), mode="RGBA"), "PNG"),
        (16, 24),
        _colour(BLUE),
    ),
    ("animated.gif", animated_gif, (16, 24), _colour(RED)),
    ("still.gif", lambda: encode(solid(GREEN), "GIF"), (16, 24), _colour(GREEN)),
    ("picture.bmp", lambda: encode(noise(seed=3), "BMP"), (24, 32), _pixels(NOISE)),
    (
        "picture.webp",
        lambda: encode(noise(seed=3), "WEBP", lossless=True),
        (24, 32),
        _pixels(NOISE),
    ),
    (
        "animated.webp",
        lambda: encode(
            solid(RED), "WEBP", lossless=True, save_all=True, append_images=[solid(BLUE)]
        ),
        (16, 24),
        _colour(RED),
    ),
    ("picture.tiff", lambda: encode(noise(seed=3), "TIFF"), (24, 32), _pixels(NOISE)),
    (
        "lzw.tif",
        lambda: encode(noise(seed=3), "TIFF", compression="tiff_lzw"),
        (24, 32),
        _pixels(NOISE),
    ),
    (
        "gray16.tif",
        lambda: encode(Image.fromarray(np.full((4, 6), 65535, np.uint16)), "TIFF"),
        (4, 6),
        _colour(WHITE),
    ),
    ("rgb16.tif", lambda: tiff_rgb16((1, 2, 250)), (3, 4), _colour((1, 2, 250))),
    (
        "cmyk.tif",
        lambda: encode(solid((0, 255, 255, 0), mode="CMYK"), "TIFF"),
        (16, 24),
        _colour(RED),
    ),
    ("png_named.jpg", lambda: encode(noise(seed=3), "PNG"), (24, 32), _pixels(NOISE)),
    ("jpeg_named.png", lambda: encode(solid(RED), "JPEG", quality=95), (16, 24), _colour(RED, 2)),
    ("one_pixel.png", lambda: encode(solid(GREEN, (1, 1)), "PNG"), (1, 1), _colour(GREEN)),
    ("one_pixel.jpg", lambda: encode(solid(GREEN, (1, 1)), "JPEG"), (1, 1), _colour(GREEN, 3)),
    ("wide.png", lambda: encode(solid(BLUE, (10, 10_000)), "PNG"), (10, 10_000), _colour(BLUE)),
    (
        "tall.jpg",
        lambda: encode(solid(RED, (3_000, 4)), "JPEG", quality=95),
        (3_000, 4),
        _colour(RED, 3),
    ),
    ("UPPER.JPG", lambda: encode(solid(GREEN), "JPEG", quality=95), (16, 24), _colour(GREEN, 2)),
]


@pytest.mark.parametrize(("name", "make", "shape", "check"), GOOD, ids=[case[0] for case in GOOD])
def test_real_world_formats_decode_to_rgb(
    tmp_path: Path, name: str, make: Callable[[], bytes], shape: tuple[int, int], check: Check
) -> None:
    path = tmp_path / name
    path.write_bytes(make())
    arr = load_image(path)
    assert arr.dtype == np.uint8
    assert arr.shape == (*shape, 3)
    check(arr)
    np.testing.assert_array_equal(load_image(path.read_bytes()), arr)  # bytes: same path


def test_cmyk_jpeg_is_adobe_inverted_and_looks_right() -> None:
    data = cmyk_jpeg()
    assert b"Adobe" in data[:200]  # the APP14 marker Photoshop writes with inverted CMYK
    _colour(RED, 2)(load_image(data))


def _quadrants(arr: np.ndarray) -> dict[str, tuple[int, ...]]:
    h, w = arr.shape[:2]
    points = {
        "top_left": (h // 4, w // 4),
        "top_right": (h // 4, 3 * w // 4),
        "bottom_left": (3 * h // 4, w // 4),
        "bottom_right": (3 * h // 4, 3 * w // 4),
    }
    return {k: tuple(int(v) for v in arr[y, x]) for k, (y, x) in points.items()}


def _assert_upright(arr: np.ndarray) -> None:
    assert arr.shape == (*UPRIGHT_SIZE, 3)
    for corner, colour in _quadrants(arr).items():
        assert max(abs(a - b) for a, b in zip(colour, QUADRANTS[corner], strict=True)) < 40, (
            corner,
            colour,
        )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    data = oriented_jpeg(orientation)
    if orientation in (5, 6, 7, 8):  # stored sideways: (width, height) on disk = upright (h, w)
        with Image.open(io.BytesIO(data)) as stored:
            assert stored.size == UPRIGHT_SIZE
    _assert_upright(load_image(data))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_exif_orientation_in_other_containers(fmt: str) -> None:
    stored = upright().transpose(Image.Transpose.ROTATE_90)  # undone by orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    options: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "WEBP":
        options["lossless"] = True
    if fmt == "TIFF":
        options = {"tiffinfo": {0x0112: 6}}
    _assert_upright(load_image(encode(stored, fmt, **options)))


@pytest.mark.parametrize(
    ("exif", "expected"),
    [
        (
            b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00",
            6,
        ),
        (b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x08\x00\x00\x00", 8),
        (b"II*\x00\xff\xff\x00\x00", 1),  # directory offset past the end
        (b"garbage", 1),
    ],
)
def test_orientation_is_read_from_raw_exif(exif: bytes, expected: int) -> None:
    assert images._exif_orientation(exif) == expected


def test_damaged_exif_does_not_fail_a_good_photo() -> None:
    # Pillow itself warns while opening; flowerkit ignores the bad orientation data.
    with pytest.warns(UserWarning, match="EXIF"):
        arr = load_image(corrupt_exif_jpeg())
    _colour(GREEN, 3)(arr)


JPEG = encode(noise(seed=5), "JPEG")
PNG = encode(noise(seed=6), "PNG")
BAD: list[tuple[str, bytes, str]] = [
    ("zero.jpg", b"", "empty_file"),
    ("truncated.jpg", truncated(JPEG), "truncated"),
    ("truncated_end.jpg", JPEG[:-20], "truncated"),
    ("truncated_header.jpg", JPEG[:100], "truncated"),
    ("truncated.png", truncated(PNG), "truncated"),
    ("truncated_end.png", PNG[:-30], "truncated"),
    ("truncated.gif", truncated(encode(noise(seed=7), "GIF")), "truncated"),
    ("truncated.bmp", truncated(encode(noise(seed=7), "BMP")), "truncated"),
    ("truncated.webp", truncated(encode(noise(seed=7), "WEBP")), "truncated"),
    ("truncated.tif", truncated(encode(noise(seed=7), "TIFF")), "truncated"),
    ("error_page.jpg", HTML_PAGE, "not_an_image"),
    ("random.png", random_bytes(), "not_an_image"),
    ("document.jpg", PDF_DOCUMENT, "not_an_image"),
    ("text.png", b"hello world\n" * 20, "not_an_image"),
    ("iphone.heic", HEIC_HEADER, "unsupported_format"),
    (
        "vector.jpg",
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        "unsupported_format",
    ),
    ("jxl.jpg", b"\xff\x0a" + bytes(100), "unsupported_format"),
    ("photoshop.jpg", psd_file(), "unsupported_format"),
    ("icon.png", encode(solid(RED, (16, 16)), "ICO"), "unsupported_format"),
    ("bomb.png", png_bomb(), "too_large"),
    ("garbled.jpg", JPEG[:400] + bytes(200) + JPEG[600:700] + b"\xff\xd9", "decode_error"),
]


@pytest.mark.parametrize(("name", "data", "reason"), BAD, ids=[case[0] for case in BAD])
def test_broken_files_fail_with_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableImageError) as info:
        load_image(path)
    err = info.value
    assert (err.reason, err.path) == (reason, path)
    assert reason in REASONS
    assert str(path) in str(err)
    assert isinstance(err, DatasetError) and isinstance(err, ValueError)
    with pytest.raises(UnreadableImageError) as from_bytes:
        load_image(data)
    assert from_bytes.value.reason == reason
    assert from_bytes.value.path is None
    assert str(from_bytes.value).startswith("The given bytes")


def test_messages_say_what_to_do(tmp_path: Path) -> None:
    advice = {
        "empty_file": "replace it",
        "truncated": "download it again",
        "not_an_image": "web page",
        "too_large": "resize",
        "unsupported_format": "convert it to JPEG or PNG",
    }
    cases = {r: d for _, d, r in BAD}
    for reason, words in advice.items():
        path = tmp_path / f"{reason}.jpg"
        path.write_bytes(cases[reason] if reason != "not_an_image" else HTML_PAGE)
        with pytest.raises(UnreadableImageError, match=re.escape(words)):
            load_image(path)


@pytest.mark.parametrize("name", ["truncated.jpg", "truncated.png", "truncated_end.jpg"])
def test_truncation_found_even_with_load_truncated_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = tmp_path / name
    path.write_bytes(dict((n, d) for n, d, _ in BAD)[name])
    with pytest.raises(UnreadableImageError) as info:
        load_image(path)
    assert info.value.reason == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # flowerkit did not touch the setting


def test_pillow_settings_are_never_changed(tmp_path: Path) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    for name, data, _ in BAD:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UnreadableImageError):
            load_image(tmp_path / name)
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


def _forbid_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load(self: Image.Image) -> None:
        raise AssertionError("pixels were allocated for a decompression bomb")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_load)
    monkeypatch.setattr(Image.Image, "load", no_load)


@pytest.mark.parametrize("pillow_limit", [None, 1_000, Image.MAX_IMAGE_PIXELS])
def test_decompression_bomb_rejected_before_allocation(
    monkeypatch: pytest.MonkeyPatch, pillow_limit: int | None
) -> None:
    """flowerkit's limit holds whatever ``Image.MAX_IMAGE_PIXELS`` says, without warnings."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    _forbid_load(monkeypatch)
    for width, height in [(100_000, 100_000), (9_500, 9_500), (MAX_PIXELS + 1, 1)]:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(UnreadableImageError) as info:
                load_image(png_bomb(width, height))
        assert info.value.reason == "too_large"
        assert f"{width:,}x{height:,}" in str(info.value)
        assert time.perf_counter() - start < 1.0
    # A GIF frame larger than its screen grows the image while the header is read; Pillow
    # may run its own check there (with its own limit): still too_large, still no pixels.
    with pytest.raises(UnreadableImageError) as info:
        load_image(gif_bomb())
    assert info.value.reason == "too_large"


def test_limit_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    """A header claiming exactly MAX_PIXELS passes the size check and goes on to decode."""
    _forbid_load(monkeypatch)
    with pytest.raises(AssertionError, match="allocated"):
        load_image(png_bomb(MAX_PIXELS, 1))
    with pytest.raises(UnreadableImageError, match="decompression bombs"):
        load_image(png_bomb(MAX_PIXELS + 1, 1))


def test_missing_and_broken_link(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImageError) as info:
        load_image(tmp_path / "nope.jpg")
    assert info.value.reason == "missing" and "does not exist" in str(info.value)
    link = tmp_path / "link.jpg"
    try:
        os.symlink(tmp_path / "gone.jpg", link)
    except OSError:
        pytest.skip("symlinks not available")
    with pytest.raises(UnreadableImageError) as info:
        load_image(link)
    assert info.value.reason == "missing" and "broken symbolic link" in str(info.value)


def test_folder_and_pipe_are_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImageError) as info:
        load_image(tmp_path)
    assert info.value.reason == "unreadable" and "folder" in str(info.value)
    if not hasattr(os, "mkfifo"):
        return
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableImageError) as info:  # must not block reading the pipe
        load_image(fifo)
    assert info.value.reason == "unreadable"


def test_in_memory_inputs() -> None:
    rgba = solid((0, 0, 255, 0), mode="RGBA")
    _colour(WHITE)(load_image(rgba))  # fully transparent: white
    arr = np.asarray(noise(seed=3))
    np.testing.assert_array_equal(load_image(arr), arr)
    np.testing.assert_array_equal(load_image(arr[:, :, 0]), np.repeat(arr[:, :, :1], 3, axis=2))
    np.testing.assert_array_equal(load_image(bytearray(encode(noise(seed=3), "PNG"))), arr)
    with pytest.raises(ConfigError):
        load_image(12)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        load_image(np.zeros((4, 4, 2)))


def test_pil_image_from_file_gets_the_same_rules(tmp_path: Path) -> None:
    path = tmp_path / "r.jpg"
    path.write_bytes(oriented_jpeg(6))
    with Image.open(path) as opened:
        _assert_upright(load_image(opened))


def test_result_is_a_writable_copy(tmp_path: Path) -> None:
    arr = load_image(encode(noise(), "PNG"))
    arr[0, 0] = 0  # no "read-only" error
    assert arr.flags.c_contiguous


def test_image_size_squashes_like_resize_image() -> None:
    data = encode(noise(seed=4, size=(40, 64)), "PNG")
    resized = load_image(data, (16, 20))
    assert resized.shape == (16, 20, 3)
    np.testing.assert_array_equal(resized, resize_image(load_image(data), (16, 20)))
    np.testing.assert_array_equal(load_image(data, (40, 64)), load_image(data))


def test_reason_codes_are_documented() -> None:
    codes = {
        "empty_file",
        "truncated",
        "not_an_image",
        "unsupported_format",
        "too_large",
        "decode_error",
        "missing",
        "unreadable",
    }
    assert set(REASONS) == codes
    docs = (Path(__file__).parents[1] / "docs" / "checking.rst").read_text("utf-8")
    for code in codes:
        assert f"``{code}``" in (images.__doc__ or "")
        assert f"``{code}``" in docs


def _large_photo(orientation: int, scale: int = 32) -> bytes:
    """The upright quadrant picture at ``scale`` times its size, with texture, stored
    under ``orientation`` like ``oriented_jpeg``."""
    height, width = UPRIGHT_SIZE
    base = np.asarray(upright().resize((width * scale, height * scale)), np.int16)
    yy, xx = np.mgrid[0 : height * scale, 0 : width * scale]
    texture = (12 * np.sin(xx / 7.0) * np.cos(yy / 5.0)).astype(np.int16)[..., None]
    picture = Image.fromarray(np.clip(base + texture, 0, 255).astype(np.uint8))
    method = {1: None, 6: Image.Transpose.ROTATE_90}[orientation]
    stored = picture if method is None else picture.transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", [1, 6])
def test_large_jpegs_are_dct_scaled_within_tolerance(orientation: int) -> None:
    data = _large_photo(orientation)
    # 960x640 upright for 30x20: libjpeg decodes at 1/8 (120x80, still 4x the target).
    assert decode_image(data, UPRIGHT_SIZE).size == (120, 80)
    fast = load_image(data, UPRIGHT_SIZE)
    _assert_upright(fast)
    full = resize_decoded(decode_image(data), UPRIGHT_SIZE)
    difference = np.abs(fast.astype(np.int16) - full.astype(np.int16))
    assert difference.mean() < 1.0 and difference.max() <= 16


def test_jpegs_under_the_gap_are_decoded_in_full() -> None:
    data = _large_photo(1, scale=4)  # 120x80: less than 4x of 40x60
    assert not dct_scaled(120, 80, (40, 60)) and dct_scaled(240, 160, (40, 60))
    assert decode_image(data, (40, 60)).size == (120, 80)
    np.testing.assert_array_equal(
        load_image(data, (40, 60)), resize_decoded(decode_image(data), (40, 60))
    )
