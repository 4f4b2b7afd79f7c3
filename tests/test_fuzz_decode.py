"""Property-based tests of ``load_image`` on hostile bytes, and its pixel limit (rule 2).

Whatever the bytes, ``load_image`` returns a ``uint8`` ``(H, W, 3)`` array or raises
``UnreadableImageError`` with a ``reason`` from ``REASONS``: never another exception, never
a hang (each example has a deadline), never more pixels than the limit, and the same
outcome for the bytes and for a file holding them. A file cut short that still decodes
gives the pixels of the whole file. An image whose only damage is its ICC profile always
decodes (rule 8). The cases are random bytes, small valid files of every decoded format
with damaged headers, files cut short anywhere, and headers that declare absurd sizes.
The default run tries 200 examples a property; the ``slow`` tests 5,000. Each failure
found is kept as an ``@example`` here or a file under ``tests/fixtures/fuzz_decode/``.
"""

from __future__ import annotations

import io
import resource
import struct
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageFile

import test_colour as colour
from flowerkit.exceptions import ConfigError, UnreadableImageError
from flowerkit.images.decode import MAX_PIXELS, MAX_PIXELS_ENV, REASONS, load_image, max_pixels

FIXTURES = Path(__file__).parent / "fixtures" / "fuzz_decode"

#: The pixel limit the fuzz cases run under (rule 2), set through ``$FLOWERKIT_MAX_PIXELS``
#: so that a header declaring a large size cannot make a single example slow.
LIMIT = 1_000_000
#: How much the peak resident memory of the process may grow in one example.
MAX_RSS_GROWTH = 256 * 2**20

FAST = settings(
    max_examples=200,
    deadline=2000,  # ms per example, on a slow shared machine
    database=None,  # no saved examples: the failures found are kept as @example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=5000)


@pytest.fixture(scope="module", autouse=True)
def _small_limit() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MAX_PIXELS_ENV, str(LIMIT))
        yield


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A folder for the examples that are decoded from a file."""
    with tempfile.TemporaryDirectory(prefix="fuzz_decode") as folder:
        yield Path(folder)


# --------------------------------------------------------------------- the property


class Case(NamedTuple):
    """One input: the bytes, and how ``load_image`` is called on them."""

    data: bytes
    image_size: tuple[int, int] | None = None
    strict_warnings: bool = True  # Pillow's warnings are errors (as under pytest)
    #: For a file cut short: the whole file, whose pixels it must give if it decodes at
    #: all (its first frame was complete), never a grey-filled part (rule 3).
    whole: bytes | None = None


Outcome: TypeAlias = "NDArray[np.uint8] | UnreadableImageError"


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _decode(source: bytes | Path, case: Case) -> Outcome:
    """``load_image(source)``: its array, or its ``UnreadableImageError``."""
    before = _peak_rss()
    with warnings.catch_warnings():
        warnings.simplefilter("error" if case.strict_warnings else "ignore")
        try:
            outcome: Outcome = load_image(source, case.image_size)
        except UnreadableImageError as exc:
            outcome = exc
    assert _peak_rss() - before < MAX_RSS_GROWTH
    if isinstance(outcome, UnreadableImageError):
        assert outcome.reason in REASONS, outcome.reason
        assert outcome.path == (source if isinstance(source, Path) else None)
        return outcome
    assert isinstance(outcome, np.ndarray)
    assert outcome.dtype == np.uint8
    assert outcome.ndim == 3 and outcome.shape[2] == 3
    assert 1 <= outcome.shape[0] * outcome.shape[1] <= LIMIT
    if case.image_size is not None:
        assert outcome.shape[:2] == case.image_size
    return outcome


def check(case: Case, folder: Path) -> None:
    """The property every input must satisfy, decoded from bytes and from a file alike."""
    path = folder / "case.img"
    path.write_bytes(case.data)
    from_bytes, from_file = _decode(case.data, case), _decode(path, case)
    if currently_in_test_context():  # what the examples came to: --hypothesis-show-statistics
        event(getattr(from_bytes, "reason", "decoded"))
    if isinstance(from_bytes, UnreadableImageError):
        assert isinstance(from_file, UnreadableImageError), "the file decodes, the bytes not"
        assert from_file.reason == from_bytes.reason, (from_file, from_bytes)
        return
    assert isinstance(from_file, np.ndarray), f"the bytes decode, the file not: {from_file}"
    np.testing.assert_array_equal(from_file, from_bytes)
    if case.whole is not None:
        np.testing.assert_array_equal(from_bytes, load_image(case.whole, case.image_size))


def cases(
    data: st.SearchStrategy[bytes], whole: st.SearchStrategy[bytes] | None = None
) -> st.SearchStrategy[Case]:
    """Cases of ``data``, resized or not, with Pillow's warnings as errors or not."""
    return st.builds(
        Case,
        data=data,
        image_size=st.none() | st.sampled_from([(8, 8), (3, 5)]),
        strict_warnings=st.booleans(),
        whole=st.none() if whole is None else whole,
    )


def fuzz_test(
    strategy: st.SearchStrategy[Case], regressions: tuple[Case, ...] = (), *, slow: bool = False
) -> Callable[..., None]:
    """A test of :func:`check` on ``strategy``: 200 examples, or 5,000 marked slow."""

    @given(case=strategy)
    def test(scratch: Path, case: Case) -> None:
        check(case, scratch)

    for regression in regressions:
        test = example(case=regression)(test)
    test = (SLOW if slow else FAST)(test)
    return pytest.mark.slow(test) if slow else test


# --------------------------------------------------------------------- valid small files


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _picture(mode: str = "RGB", size: tuple[int, int] = (12, 10)) -> Image.Image:
    rng = np.random.default_rng(len(mode))
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return rgb if mode == "RGB" else rgb.convert(mode)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def valid_files() -> dict[str, bytes]:
    """Small files of every format flowerkit decodes, in several variants each."""
    rgb, rgba, pal = _picture(), _picture("RGBA"), _picture("P")
    frames = [_picture(), _picture("L").convert("RGB")]
    return {
        "baseline.jpg": _encode(rgb, "JPEG", quality=90),
        "progressive.jpg": _encode(rgb, "JPEG", progressive=True, exif=_exif(6)),
        "icc.jpg": _encode(rgb, "JPEG", icc_profile=SRGB_ICC),
        "gray.jpg": _encode(_picture("L"), "JPEG"),
        "cmyk.jpg": _encode(_picture("CMYK"), "JPEG"),
        "big.jpg": _encode(_picture(size=(64, 48)), "JPEG"),  # DCT-scaled for (8, 8)
        "rgb.png": _encode(rgb, "PNG"),
        "rgba_icc.png": _encode(rgba, "PNG", icc_profile=SRGB_ICC),
        "palette.png": _encode(pal, "PNG", transparency=3),
        "gray16.png": _encode(
            Image.fromarray(np.arange(120, dtype=np.uint16).reshape(10, 12)), "PNG"
        ),
        "interlaced.png": _encode(rgb, "PNG", interlace=1),
        "animated.png": _encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "still.gif": _encode(pal, "GIF", transparency=0),
        "animated.gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "lossy.webp": _encode(rgb, "WEBP", quality=80),
        "lossless.webp": _encode(rgba, "WEBP", lossless=True),
        "icc.webp": _encode(rgb, "WEBP", icc_profile=SRGB_ICC),
        "animated.webp": _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "raw.tif": _encode(rgb, "TIFF"),
        "lzw.tif": _encode(rgba, "TIFF", compression="tiff_lzw"),
        "deflate.tif": _encode(_picture("L"), "TIFF", compression="tiff_adobe_deflate"),
        "packbits.tif": _encode(_picture("CMYK"), "TIFF", compression="packbits"),
        "jpeg.tif": _encode(rgb, "TIFF", compression="jpeg"),
        "pages.tif": _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "float.tif": _encode(
            Image.fromarray(np.linspace(0, 1, 120, dtype=np.float32).reshape(10, 12)), "TIFF"
        ),
        "gray16.tif": _encode(
            Image.fromarray(np.arange(120, dtype=np.uint16).reshape(10, 12) * 500), "TIFF"
        ),
        "group4.tif": _encode(_picture("1"), "TIFF", compression="group4"),
        "big.tif": _encode(rgb, "TIFF", big_tiff=True),
        "mpo.jpg": _encode(frames[0], "MPO", save_all=True, append_images=frames[1:]),
        "rgb.bmp": _encode(rgb, "BMP"),
        "palette.bmp": _encode(pal, "BMP"),
        "bilevel.bmp": _encode(_picture("1"), "BMP"),
        "rgba.bmp": _encode(rgba, "BMP"),
    }


VALID = valid_files()
NAMES = sorted(VALID)
valid = st.sampled_from(NAMES).map(VALID.__getitem__)


def test_the_valid_files_decode() -> None:
    """The starting points of the mutations are good images."""
    for name, data in VALID.items():
        expected = {"big.jpg": (48, 64, 3), "progressive.jpg": (12, 10, 3)}  # 6: turned
        assert load_image(data).shape == expected.get(name, (10, 12, 3)), name


# --------------------------------------------------------------------- hostile bytes

MAGIC = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"BM",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x18ftypheic",
    b"\x00\x00\x00\x1cftypavif",
]


@st.composite
def random_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, often after the magic number of an image format."""
    magic = draw(st.sampled_from([b"", *MAGIC]))
    return magic + draw(st.binary(max_size=1024))


@st.composite
def mutated_headers(draw: st.DrawFn) -> bytes:
    """A valid file with bytes flipped or replaced, mostly in its first 64 bytes."""
    data = bytearray(draw(valid))
    offsets = st.integers(0, 63) | st.integers(0, len(data) - 1)
    for offset, value, flip in draw(
        st.lists(st.tuples(offsets, st.integers(0, 255), st.booleans()), min_size=1, max_size=8)
    ):
        offset %= len(data)
        data[offset] = data[offset] ^ (1 << (value % 8)) if flip else value
    return bytes(data)


@st.composite
def truncated_files(draw: st.DrawFn) -> Case:
    """A valid file cut short at any offset."""
    data = draw(valid)
    cut = data[: draw(st.integers(0, len(data) - 1))]
    return draw(cases(st.just(cut), whole=st.just(data)))


#: Sizes to declare: edge values of the header fields, and anything else.
SIZES = (
    st.sampled_from([0, 1, 2, 255, 256, 1000, 1001, 16383, 16384, 65535, 65536])
    | st.sampled_from([2**24 - 1, 2**24, 2**31 - 1, 2**31, 2**32 - 1])
    | st.integers(0, 2**32 - 1)
)


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    size = struct.calcsize(fmt)
    bits = 8 * size
    value %= 2**bits
    if fmt[-1].islower():  # signed
        value = value - 2**bits if value >= 2 ** (bits - 1) else value
    return data[:offset] + struct.pack(fmt, value) + data[offset + size :]


def png_sized(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height``, with its CRC fixed."""
    ihdr = bytearray(data[8 : 8 + 25])
    ihdr[8:16] = struct.pack(">II", width % 2**32, height % 2**32)
    ihdr[21:25] = struct.pack(">I", zlib.crc32(ihdr[4:21]))
    return data[:8] + bytes(ihdr) + data[8 + 25 :]


def bmp_sized(data: bytes, width: int, height: int) -> bytes:
    """A BMP whose BITMAPINFOHEADER declares ``width`` x ``height`` (signed, bottom-up
    when positive)."""
    return _patch(_patch(data, 18, "<i", width), 22, "<i", height)


def _gif_descriptor(data: bytes) -> int:
    """The offset of the first image descriptor of a GIF."""
    flags = data[10]
    offset = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while data[offset] == 0x21:  # extension: label, then sub-blocks
        offset += 2
        while data[offset]:
            offset += data[offset] + 1
        offset += 1
    assert data[offset] == 0x2C
    return offset


def gif_sized(data: bytes, width: int, height: int, screen: bool) -> bytes:
    """A GIF whose logical screen (or first frame) declares ``width`` x ``height``."""
    offset = 6 if screen else _gif_descriptor(data) + 5
    return _patch(_patch(data, offset, "<H", width), offset + 2, "<H", height)


def jpeg_sized(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose start-of-frame marker declares ``width`` x ``height``."""
    offset = next(data.find(m) for m in (b"\xff\xc0", b"\xff\xc2") if data.find(m) > 0)
    return _patch(_patch(data, offset + 5, ">H", height), offset + 7, ">H", width)


def webp_sized(data: bytes, width: int, height: int) -> bytes:
    """A WebP whose VP8X canvas (24 bits, minus one) or VP8 frame (14 bits) is resized."""
    kind = data[12:16]
    if kind == b"VP8X":
        canvas = ((width - 1) % 2**24).to_bytes(3, "little")
        return data[:24] + canvas + ((height - 1) % 2**24).to_bytes(3, "little") + data[30:]
    if kind == b"VP8 ":
        return _patch(_patch(data, 26, "<H", width), 28, "<H", height)
    assert kind == b"VP8L"
    packed = ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
    bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)
    return data[:21] + (bits | packed).to_bytes(4, "little") + data[25:]


def tiff_sized(data: bytes, width: int, height: int) -> bytes:
    """A TIFF (or BigTIFF) whose first directory declares ``width`` x ``height``."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    offset_fmt, count_fmt, entry_size = ("Q", "Q", 20) if big else ("I", "H", 12)
    (ifd,) = struct.unpack_from(order + offset_fmt, data, 8 if big else 4)
    (count,) = struct.unpack_from(order + count_fmt, data, ifd)
    first = ifd + struct.calcsize(count_fmt)
    for i in range(count):
        entry = first + entry_size * i
        tag, kind = struct.unpack_from(order + "HH", data, entry)
        if tag in (256, 257):
            value = width if tag == 256 else height
            field = {3: "H", 4: "I", 16: "Q"}[kind]
            data = _patch(data, entry + (12 if big else 8), order + field, value)
    return data


@st.composite
def absurd_sizes(draw: st.DrawFn) -> bytes:
    """A valid file whose header declares another size, often a huge one."""
    width, height = draw(SIZES), draw(SIZES)
    name = draw(st.sampled_from(NAMES))
    data = VALID[name]
    if name.endswith(".png"):
        return png_sized(data, width, height)
    if name.endswith(".bmp"):
        return bmp_sized(data, width, height)
    if name.endswith(".gif"):
        return gif_sized(data, width, height, screen=draw(st.booleans()))
    if name.endswith(".jpg"):
        return jpeg_sized(data, width, height)
    if name.endswith(".webp"):
        return webp_sized(data, width, height)
    return tiff_sized(data, width, height)


# --------------------------------------------------------------------- the tests

RANDOM_REGRESSIONS: tuple[Case, ...] = (
    # The DIB plugin's check of the first bytes raised struct.error on a 3-byte file.
    Case(b"\xff\xd8\xff"),
    Case(b"BM", strict_warnings=False),
    Case(b"\x28\x00"),
)


def _replaced(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


HEADER_REGRESSIONS: tuple[Case, ...] = (
    # A BigTIFF whose first directory is at 2**48 + 16: the file system refuses to seek
    # there (EINVAL), which made the file "unreadable" where its bytes were "decode_error".
    Case(_replaced(VALID["big.tif"], 14, 0x01), strict_warnings=False),
    Case(_replaced(VALID["big.tif"], 14, 0x01), image_size=(8, 8)),
    Case(_replaced(VALID["big.tif"], 15, 0x80)),  # at 2**63 + 16: past any offset at all
)
TRUNCATED_REGRESSIONS: tuple[Case, ...] = ()
SIZE_REGRESSIONS: tuple[Case, ...] = ()

test_random_bytes = fuzz_test(cases(random_bytes()), RANDOM_REGRESSIONS)
test_mutated_headers = fuzz_test(cases(mutated_headers()), HEADER_REGRESSIONS)
test_truncated_files = fuzz_test(truncated_files(), TRUNCATED_REGRESSIONS)
test_absurd_sizes = fuzz_test(cases(absurd_sizes()), SIZE_REGRESSIONS)

test_random_bytes_long = fuzz_test(cases(random_bytes()), RANDOM_REGRESSIONS, slow=True)
test_mutated_headers_long = fuzz_test(cases(mutated_headers()), HEADER_REGRESSIONS, slow=True)
test_truncated_files_long = fuzz_test(truncated_files(), TRUNCATED_REGRESSIONS, slow=True)
test_absurd_sizes_long = fuzz_test(cases(absurd_sizes()), SIZE_REGRESSIONS, slow=True)


# --------------------------------------------------------------------- damaged profiles

PROFILES = {
    "display_p3": ("RGB", colour.DISPLAY_P3),
    "adobe_rgb": ("RGB", colour.ADOBE_RGB),
    "srgb": ("RGB", SRGB_ICC),
    "gray": ("L", colour.GRAY_18),
    "cmyk": ("CMYK", colour.CMYK_PRESS),
}


@st.composite
def damaged_profiles(draw: st.DrawFn) -> tuple[str, bytes]:
    """A pixel mode, and a profile with bytes flipped or replaced, cut short, or both."""
    mode, profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
    data = bytearray(profile)
    for offset, value in draw(
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=16)
    ):
        data[offset] = value
    cut = draw(st.none() | st.integers(0, len(data)))
    return mode, bytes(data[:cut])


def _profile_fuzz_test(*, slow: bool) -> Callable[..., None]:
    @given(
        case=damaged_profiles(),
        fmt=st.sampled_from(["PNG", "JPEG", "TIFF", "WEBP"]),
        image_size=st.none() | st.just((8, 8)),
    )
    def test(case: tuple[str, bytes], fmt: str, image_size: tuple[int, int] | None) -> None:
        """Rule 8: an image whose only damage is its ICC profile always decodes."""
        mode, profile = case
        if fmt == "WEBP" and mode != "RGB":
            fmt = "PNG" if mode == "L" else "TIFF"
        if fmt == "PNG" and mode == "CMYK":
            fmt = "JPEG"
        data = _encode(_picture(mode), fmt, icc_profile=profile)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            array = load_image(data, image_size)
        assert array.dtype == np.uint8
        assert array.shape == (*(image_size or (10, 12)), 3)

    test = (SLOW if slow else FAST)(test)
    return pytest.mark.slow(test) if slow else test


test_damaged_profiles_are_ignored = _profile_fuzz_test(slow=False)
test_damaged_profiles_are_ignored_long = _profile_fuzz_test(slow=True)


#: The files under tests/fixtures/fuzz_decode/ and the gray levels each must decode to,
#: with Pillow's warnings as errors or not (see the README there).
FIXTURE_PIXELS = {
    "float_nan.tif": [[0, 128, 255], [0, 0, 255]],
}


def test_every_fixture_is_listed() -> None:
    assert {p.name for p in FIXTURES.iterdir()} == {*FIXTURE_PIXELS, "README.md"}


@pytest.mark.parametrize("name", sorted(FIXTURE_PIXELS))
@pytest.mark.parametrize("strict", [True, False])
def test_fixture_regressions(name: str, strict: bool, scratch: Path) -> None:
    """Files that once decoded wrongly, or failed in a way they must not."""
    path = FIXTURES / name
    with warnings.catch_warnings():
        warnings.simplefilter("error" if strict else "ignore")
        gray = np.array(FIXTURE_PIXELS[name], dtype=np.uint8)
        np.testing.assert_array_equal(load_image(path), np.repeat(gray[:, :, None], 3, -1))
    check(Case(path.read_bytes(), image_size=(8, 8), strict_warnings=strict), scratch)


@pytest.mark.parametrize(
    ("sized", "name"),
    [
        (lambda d: png_sized(d, 2000, 2000), "rgb.png"),
        (lambda d: bmp_sized(d, 2000, -2000), "rgb.bmp"),
        (lambda d: gif_sized(d, 2000, 2000, screen=True), "still.gif"),
        (lambda d: jpeg_sized(d, 2000, 2000), "baseline.jpg"),
        (lambda d: webp_sized(d, 2000, 2000), "lossy.webp"),
        (lambda d: webp_sized(d, 2000, 2000), "lossless.webp"),
        (lambda d: tiff_sized(d, 2000, 2000), "raw.tif"),
        (lambda d: tiff_sized(d, 2000, 2000), "big.tif"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_size_patches_reach_the_limit(sized: Callable[[bytes], bytes], name: str) -> None:
    """Each patcher really changes the declared size: 4 megapixels are over ``LIMIT``."""
    with pytest.raises(UnreadableImageError) as info:
        load_image(sized(VALID[name]))
    assert info.value.reason == "too_large"
    assert "2,000x2,000" in str(info.value) and MAX_PIXELS_ENV in str(info.value)


# --------------------------------------------------------------------- $FLOWERKIT_MAX_PIXELS


def test_max_pixels_defaults_to_the_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert max_pixels() == MAX_PIXELS == 89_478_485
    monkeypatch.setenv(MAX_PIXELS_ENV, "")  # empty counts as unset
    assert max_pixels() == MAX_PIXELS


def test_an_image_over_the_limit_is_refused_from_its_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = VALID["rgb.png"]  # 12 x 10 = 120 pixels
    monkeypatch.setenv(MAX_PIXELS_ENV, "120")
    assert load_image(data).shape == (10, 12, 3)  # the limit is inclusive
    monkeypatch.setenv(MAX_PIXELS_ENV, " 119 ")  # read at every decode
    _forbid_load(monkeypatch)
    start = time.perf_counter()
    for source in (data, VALID["baseline.jpg"], VALID["rgb.bmp"]):
        with pytest.raises(UnreadableImageError) as info:
            load_image(source)
        assert info.value.reason == "too_large"
        assert "more than the 119" in str(info.value) and MAX_PIXELS_ENV in str(info.value)
    assert time.perf_counter() - start < 1.0


def _forbid_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_load)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_load)


def test_the_limit_can_be_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the default, a header of 10,000 x 10,000 pixels goes on to be decoded."""
    monkeypatch.setenv(MAX_PIXELS_ENV, "1_000_000_000")
    assert max_pixels() == 1_000_000_000
    assert load_image(VALID["rgb.png"]).shape == (10, 12, 3)
    _forbid_load(monkeypatch)
    with pytest.raises(AssertionError, match="pixels were decoded"):
        load_image(png_sized(VALID["rgb.png"], 10_000, 10_000))
    monkeypatch.delenv(MAX_PIXELS_ENV)
    with pytest.raises(UnreadableImageError, match="more than the 89,478,485 flowerkit"):
        load_image(png_sized(VALID["rgb.png"], 10_000, 10_000))


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1e6", "12.5", "1,000", "0x10", "²"])
def test_a_bad_limit_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(MAX_PIXELS_ENV, value)
    with pytest.raises(ConfigError, match=MAX_PIXELS_ENV) as info:
        load_image(VALID["rgb.png"])
    assert repr(value) in str(info.value)
    with pytest.raises(ConfigError):
        max_pixels()


def test_the_reason_text_names_the_default_and_the_variable() -> None:
    assert f"{MAX_PIXELS:,}" in REASONS["too_large"] and MAX_PIXELS_ENV in REASONS["too_large"]
