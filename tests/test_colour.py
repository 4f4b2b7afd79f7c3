"""Rule 8 of ``flowerkit.images.decode``: photos with an embedded ICC profile come out in sRGB.

The profiles are written here byte by byte (ICC v2 matrix/TRC for Display P3 and Adobe RGB,
a gray TRC profile, a lut16 CMYK profile), and the sRGB each colour should become is worked
out in numpy from the colour maths, not by littleCMS.
"""

from __future__ import annotations

import io
import itertools
import struct
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageCms

from flowerkit.images import decode
from flowerkit.images.decode import decode_image, load_image

Floats = NDArray[np.float64]
Chromaticity = tuple[float, float]

# --------------------------------------------------------------------- the colour maths

D50 = np.array([0.9642, 1.0, 0.8249])  # the ICC profile connection space's white
D65: Chromaticity = (0.3127, 0.3290)
BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_PRIMARIES = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
ADOBE_GAMMA = 563 / 256  # 2.19921875, as the u8Fixed8 curve stores it


def xyz(chromaticity: Chromaticity) -> Floats:
    """XYZ (Y = 1) of an xy chromaticity."""
    x, y = chromaticity
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries: Sequence[Chromaticity], white: Chromaticity = D65) -> Floats:
    """The matrix from linear RGB to XYZ for these primaries and white."""
    columns = np.stack([xyz(p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, xyz(white))


def bradford(source: Floats, target: Floats) -> Floats:
    """The Bradford chromatic adaptation from white ``source`` to white ``target``."""
    gain = (BRADFORD @ target) / (BRADFORD @ source)
    adapted: Floats = np.linalg.inv(BRADFORD) @ np.diag(gain) @ BRADFORD
    return adapted


def srgb_decode(v: Floats) -> Floats:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: Floats) -> Floats:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def adobe_decode(v: Floats) -> Floats:
    return np.asarray(v**ADOBE_GAMMA, dtype=np.float64)


def expected_srgb(
    pixels: NDArray[np.uint8], primaries: Sequence[Chromaticity], linearise: Callable[..., Floats]
) -> Floats:
    """The sRGB levels (unrounded) of RGB ``pixels`` in a D65 space with these primaries:
    linearise, to XYZ, to linear sRGB, clip, sRGB-encode."""
    linear = linearise(pixels.astype(np.float64) / 255.0)
    to_srgb = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(primaries)
    return srgb_encode(linear @ to_srgb.T) * 255.0


# --------------------------------------------------------------------- ICC v2 profiles


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(value: Floats) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in value)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    # textDescriptionType: ASCII, then empty Unicode (language, count) and ScriptCode parts.
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + bytes(8 + 3 + 67)


def _curv_gamma(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _curv_table(values: Floats) -> bytes:
    table = np.clip(np.rint(values * 65535), 0, 65535).astype(">u2").tobytes()
    return b"curv\0\0\0\0" + struct.pack(">I", len(values)) + table


def icc_profile(
    tags: Sequence[tuple[bytes, bytes]], space: bytes = b"RGB ", device_class: bytes = b"mntr"
) -> bytes:
    """An ICC v2.1 profile: the 128-byte header, the tag table and the tags (XYZ PCS)."""
    start = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", start + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", start + len(body))
        + b"\0" * 4  # preferred CMM
        + struct.pack(">I", 0x02100000)  # version 2.1
        + device_class
        + space
        + b"XYZ "  # profile connection space
        + b"\0" * 12  # date
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + b"\0" * 4  # rendering intent: perceptual
        + b"".join(_s15(v) for v in D50)  # PCS illuminant
        + b"\0" * 48  # creator, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def matrix_profile(name: str, primaries: Sequence[Chromaticity], trc: bytes) -> bytes:
    """A display profile: D50-adapted (Bradford) primaries and one curve for R, G and B."""
    matrix = bradford(xyz(D65), D50) @ rgb_to_xyz(primaries)
    return icc_profile(
        [
            (b"desc", _desc_tag(name)),
            (b"wtpt", _xyz_tag(xyz(D65))),
            (b"rXYZ", _xyz_tag(matrix[:, 0])),
            (b"gXYZ", _xyz_tag(matrix[:, 1])),
            (b"bXYZ", _xyz_tag(matrix[:, 2])),
            (b"rTRC", trc),
            (b"gTRC", trc),
            (b"bTRC", trc),
        ]
    )


SRGB_CURVE = _curv_table(srgb_decode(np.linspace(0.0, 1.0, 1024)))
DISPLAY_P3 = matrix_profile("Display P3 (test)", P3_PRIMARIES, SRGB_CURVE)
ADOBE_RGB = matrix_profile("Adobe RGB (1998) (test)", ADOBE_PRIMARIES, _curv_gamma(ADOBE_GAMMA))
SRGB_OWN = matrix_profile("sRGB (test)", SRGB_PRIMARIES, SRGB_CURVE)
#: sRGB primaries with a plain 2.2 gamma: close to sRGB, but not in the shadows.
GAMMA_22 = matrix_profile("sRGB primaries, gamma 2.2 (test)", SRGB_PRIMARIES, _curv_gamma(2.2))
SRGB_LCMS = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GRAY_GAMMA = 1.8
GRAY_18 = icc_profile(
    [
        (b"desc", _desc_tag("Gray gamma 1.8 (test)")),
        (b"wtpt", _xyz_tag(xyz(D65))),
        (b"kTRC", _curv_gamma(GRAY_GAMMA)),
    ],
    space=b"GRAY",
)

#: The linear-light sRGB transmittance of each ink of the test CMYK press, unlike the
#: ideal inks of Pillow's plain CMYK conversion (pure cyan would be 0, 255, 255).
INKS = {"c": (0.0, 0.35, 0.65), "m": (0.8, 0.0, 0.35), "y": (0.95, 0.85, 0.0), "k": (0.03,) * 3}


def ink_srgb(cmyk: Sequence[int]) -> Floats:
    """The sRGB levels of a CMYK colour whose inks are all 0 or 255."""
    linear = np.ones(3)
    for amount, ink in zip(cmyk, "cmyk", strict=True):
        if amount:
            linear = linear * np.array(INKS[ink])
    return srgb_encode(linear) * 255.0


def cmyk_profile() -> bytes:
    """A CMYK output profile: a lut16 (``mft2``) with a 2-point grid, each corner the
    colour of its inks (:data:`INKS`), as XYZ relative to D50."""
    to_pcs = bradford(xyz(D65), D50) @ rgb_to_xyz(SRGB_PRIMARIES)
    clut: list[float] = []
    for corner in itertools.product((0, 1), repeat=4):  # the last input varies fastest
        linear = srgb_decode(ink_srgb(corner) / 255.0)
        clut.extend(to_pcs @ linear)
    grid = np.clip(np.rint(np.array(clut) * 32768), 0, 65535).astype(">u2").tobytes()
    identity = np.array([0, 65535], ">u2").tobytes()
    lut = (
        b"mft2\0\0\0\0"
        + bytes([4, 3, 2, 0])  # inputs, outputs, grid points, padding
        + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
        + struct.pack(">HH", 2, 2)  # entries of the input and output curves
        + identity * 4
        + grid
        + identity * 3
    )
    return icc_profile(
        [
            (b"desc", _desc_tag("CMYK press (test)")),
            (b"wtpt", _xyz_tag(D50)),
            (b"A2B0", lut),
            (b"A2B1", lut),
        ],
        space=b"CMYK",
        device_class=b"prtr",
    )


CMYK_PRESS = cmyk_profile()

# --------------------------------------------------------------------- images

#: Colours that sRGB holds and colours that it does not (pure P3/Adobe red and green).
COLOURS = np.array(
    [
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (200, 100, 50),
        (50, 120, 200),
        (30, 200, 90),
        (128, 128, 128),
        (240, 230, 20),
        (10, 10, 10),
        (0, 0, 0),
        (255, 255, 255),
        (90, 40, 160),
    ],
    dtype=np.uint8,
)
BLOCK = 8  # each colour fills 8x8 blocks, so JPEG keeps it nearly exact


def swatches(colours: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """An 8-pixel-high strip of 8x8 squares, one per colour."""
    return np.repeat(np.repeat(colours[None, :, :], BLOCK, axis=0), BLOCK, axis=1)


def centres(array: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The centre pixel of each 8x8 square of a strip from :func:`swatches`."""
    return array[BLOCK // 2, BLOCK // 2 :: BLOCK]


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def plain_rgb(data: bytes) -> NDArray[np.uint8]:
    """What Pillow decodes, converted to RGB without colour management."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


LOSSLESS = {
    "PNG": {},
    "TIFF": {},
    "WEBP": {"lossless": True},
}


def assert_close(got: NDArray[np.uint8], want: Floats, tolerance: float) -> None:
    want = np.broadcast_to(want, got.shape)
    diff = np.abs(got.astype(np.float64) - want)
    assert diff.max() <= tolerance, f"off by {diff.max():.2f}:\n{np.c_[got, np.rint(want)]}"


# --------------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("profile", "space"),
    [
        (DISPLAY_P3, "RGB"),
        (ADOBE_RGB, "RGB"),
        (SRGB_OWN, "RGB"),
        (GAMMA_22, "RGB"),
        (GRAY_18, "GRAY"),
        (CMYK_PRESS, "CMYK"),
    ],
)
def test_littlecms_reads_the_test_profiles(profile: bytes, space: str) -> None:
    parsed = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    assert parsed.profile.xcolor_space.strip() == space
    assert str(parsed.profile.profile_description).endswith("(test)")
    assert parsed.profile.version == pytest.approx(2.1)


@pytest.mark.parametrize("fmt", sorted(LOSSLESS))
@pytest.mark.parametrize(
    ("profile", "primaries", "linearise"),
    [(DISPLAY_P3, P3_PRIMARIES, srgb_decode), (ADOBE_RGB, ADOBE_PRIMARIES, adobe_decode)],
    ids=["display_p3", "adobe_rgb"],
)
def test_wide_gamut_lossless_files_become_srgb(
    fmt: str,
    profile: bytes,
    primaries: Sequence[Chromaticity],
    linearise: Callable[..., Floats],
) -> None:
    data = encode(Image.fromarray(swatches(COLOURS)), fmt, icc_profile=profile, **LOSSLESS[fmt])
    got = centres(load_image(data))
    want = expected_srgb(COLOURS, primaries, linearise)
    assert_close(got, want, 2)
    # The conversion is no rounding error: several colours move by many levels.
    assert (np.abs(got.astype(int) - COLOURS).max(axis=1) > 8).sum() >= 4


def test_display_p3_jpeg_from_a_phone() -> None:
    """A JPEG: the colours are compared with the maths applied to its decoded levels."""
    data = encode(
        Image.fromarray(swatches(COLOURS)),
        "JPEG",
        quality=100,
        subsampling=0,
        icc_profile=DISPLAY_P3,
    )
    raw = centres(plain_rgb(data))
    assert_close(centres(load_image(data)), expected_srgb(raw, P3_PRIMARIES, srgb_decode), 2)


def test_a_dct_scaled_jpeg_is_converted_too() -> None:
    """Training decodes large JPEGs DCT-scaled for the image size (rule 7): still sRGB."""
    colour = np.array([[200, 100, 50]], dtype=np.uint8)
    big = np.broadcast_to(colour, (96, 128, 3))
    data = encode(Image.fromarray(big), "JPEG", quality=100, subsampling=0, icc_profile=ADOBE_RGB)
    assert decode.dct_scaled(128, 96, (12, 16))
    assert decode_image(data, (12, 16)).size == (32, 24)  # decoded at 1/4
    small = load_image(data, (12, 16))
    raw = plain_rgb(data)[48:49, 64]
    assert_close(small.reshape(-1, 3), expected_srgb(raw, ADOBE_PRIMARIES, adobe_decode), 2)


def test_a_pil_image_and_its_file_give_the_same_pixels() -> None:
    data = encode(Image.fromarray(swatches(COLOURS)), "PNG", icc_profile=DISPLAY_P3)
    with Image.open(io.BytesIO(data)) as image:
        np.testing.assert_array_equal(load_image(image), load_image(data))


def test_alpha_is_kept_then_composited_on_white() -> None:
    colours = np.array([(200, 100, 50), (50, 120, 200), (30, 200, 90)], dtype=np.uint8)
    alphas = np.array([255, 128, 0], dtype=np.uint8)
    rgba = np.concatenate([swatches(colours), swatches(alphas[:, None])], axis=-1)
    data = encode(Image.fromarray(rgba, "RGBA"), "PNG", icc_profile=DISPLAY_P3)
    opacity = alphas[:, None] / 255.0
    want = expected_srgb(colours, P3_PRIMARIES, srgb_decode) * opacity + 255.0 * (1 - opacity)
    assert_close(centres(load_image(data)), want, 2)


def test_palette_image_with_a_profile() -> None:
    image = Image.fromarray(swatches(COLOURS[:6])).quantize(colors=8)
    assert image.mode == "P"
    data = encode(image, "PNG", icc_profile=ADOBE_RGB)
    raw = centres(plain_rgb(data))
    assert_close(centres(load_image(data)), expected_srgb(raw, ADOBE_PRIMARIES, adobe_decode), 2)


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_grayscale_with_a_gray_profile(mode: str) -> None:
    levels = np.array([0, 30, 100, 128, 200, 255], dtype=np.uint8)
    gray = swatches(levels[:, None])[:, :, 0]
    if mode == "LA":
        image = Image.fromarray(np.stack([gray, np.full_like(gray, 255)], -1), "LA")
    else:
        image = Image.fromarray(gray)
    data = encode(image, "PNG", icc_profile=GRAY_18)
    want = srgb_encode((levels / 255.0) ** GRAY_GAMMA) * 255.0
    assert_close(centres(load_image(data)), np.repeat(want[:, None], 3, axis=1), 2)


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_with_a_cmyk_profile(fmt: str) -> None:
    corners = np.array(list(itertools.product((0, 255), repeat=4)), dtype=np.uint8)
    image = Image.fromarray(swatches(corners), "CMYK")
    options: dict[str, object] = {"quality": 100} if fmt == "JPEG" else {}
    data = encode(image, fmt, icc_profile=CMYK_PRESS, **options)
    want = np.array([ink_srgb(corner) for corner in corners])
    assert_close(centres(load_image(data)), want, 2)
    # Pillow's plain conversion of pure cyan ink, for contrast: the profile is what counts.
    assert tuple(centres(plain_rgb(data))[8]) != tuple(np.rint(want[8]).astype(int))


def test_no_profile_is_byte_identical_to_plain_decoding() -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    for fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        data = encode(Image.fromarray(pixels), fmt)
        with Image.open(io.BytesIO(data)) as image:
            assert "icc_profile" not in image.info
        got = load_image(data)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, plain_rgb(data), err_msg=fmt)
    gray = encode(Image.fromarray(pixels[:, :, 0]), "PNG")
    np.testing.assert_array_equal(load_image(gray), plain_rgb(gray))


@pytest.mark.parametrize("profile", [SRGB_LCMS, SRGB_OWN], ids=["lcms_srgb", "own_srgb"])
def test_srgb_profiles_leave_pixels_unchanged(profile: bytes) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    for data in (
        encode(Image.fromarray(pixels), "PNG", icc_profile=profile),
        encode(Image.fromarray(pixels), "JPEG", quality=90, icc_profile=profile),
    ):
        diff = np.abs(load_image(data).astype(int) - plain_rgb(data)).max()
        assert diff <= 1


def test_only_profiles_that_change_nothing_are_skipped() -> None:
    """Rule 8 skips a profile whose conversion would leave every probe colour within a
    level (tested once per profile): lcms's sRGB and one written here, not the others."""
    assert decode._srgb_transform(SRGB_LCMS, "RGB") is None
    assert decode._srgb_transform(SRGB_OWN, "RGBA") is None
    for profile in (DISPLAY_P3, ADOBE_RGB, GAMMA_22):
        assert decode._srgb_transform(profile, "RGB") is not None
        assert decode._srgb_transform(profile, "RGBA") is not None
    assert decode._srgb_transform(GRAY_18, "L") is not None
    assert decode._srgb_transform(CMYK_PRESS, "CMYK") is not None
    assert decode._srgb_transform(GRAY_18, "RGB") is None  # another colour space


def test_a_profile_close_to_srgb_is_still_converted() -> None:
    """sRGB primaries with a plain 2.2 gamma differ from sRGB in the shadows: not skipped."""
    levels = np.array([(5, 5, 5), (12, 12, 12), (20, 20, 20), (128, 128, 128)], np.uint8)
    data = encode(Image.fromarray(swatches(levels)), "PNG", icc_profile=GAMMA_22)
    got = centres(load_image(data))
    want = expected_srgb(levels, SRGB_PRIMARIES, lambda v: v**2.2)
    assert_close(got, want, 2)
    assert np.abs(got.astype(int) - levels).max() >= 3


@pytest.mark.parametrize(
    "profile",
    [
        b"garbage " * 40,
        DISPLAY_P3[:200],  # cut short: the tags are missing
        DISPLAY_P3[:128] + b"\xff" * 64,  # a header and a nonsense tag table
        GRAY_18,  # a gray profile on RGB pixels
        CMYK_PRESS,  # a CMYK profile on RGB pixels
    ],
    ids=["garbage", "truncated", "bad_tag_table", "gray_on_rgb", "cmyk_on_rgb"],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_unusable_profile_is_ignored(profile: bytes, fmt: str) -> None:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    data = encode(Image.fromarray(pixels), fmt, icc_profile=profile)
    with Image.open(io.BytesIO(data)) as image:
        assert image.info["icc_profile"] == profile
    np.testing.assert_array_equal(load_image(data), plain_rgb(data))


def test_an_rgb_profile_on_a_grayscale_image_is_ignored() -> None:
    gray = np.arange(0, 256, 4, dtype=np.uint8).reshape(8, 8)
    data = encode(Image.fromarray(gray), "PNG", icc_profile=DISPLAY_P3)
    np.testing.assert_array_equal(load_image(data), plain_rgb(data))


def test_a_transparent_colour_key_is_matched_before_converting() -> None:
    """PNG ``tRNS`` names a colour of the file's own space: it is applied first."""
    rgb = np.array([[(10, 20, 30), (200, 100, 50)]], dtype=np.uint8)
    data = encode(Image.fromarray(rgb), "PNG", transparency=(10, 20, 30), icc_profile=DISPLAY_P3)
    got = load_image(data)[0]
    assert tuple(got[0]) == (255, 255, 255)
    assert_close(got[1:], expected_srgb(rgb[0, 1:], P3_PRIMARIES, srgb_decode), 2)
    gray = np.array([[10, 100]], dtype=np.uint8)
    data = encode(Image.fromarray(gray), "PNG", transparency=10, icc_profile=GRAY_18)
    got = load_image(data)[0]
    assert tuple(got[0]) == (255, 255, 255)
    assert_close(got[1:], srgb_encode(np.array([100 / 255.0]) ** GRAY_GAMMA) * 255.0, 2)
