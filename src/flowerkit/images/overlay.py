"""Heat maps over photos: a coarse map (a Grad-CAM, :mod:`flowerkit.models.explain`)
upsampled to the photo and blended with it in a perceptual colour map.

Only numpy and Pillow: matplotlib is an optional extra (``flowerkit[plot]``), and a
prediction, a report or the command line must draw their overlays without it, so the
colour map (Google's *Turbo*, perceptually ordered from dark blue to dark red) is written
here, as a few of its colours interpolated, instead of being taken from matplotlib.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from flowerkit.core import validation as v
from flowerkit.exceptions import ConfigError

__all__ = ["overlay", "resize_heatmap", "turbo"]

# Turbo (Anton Mikhailov, Google, 2019; published under the Apache 2.0 licence) at 17
# evenly spaced values, 0, 1/16, ..., 1, as 0..255 RGB; the colours between are
# interpolated linearly. That stays within 0.03 (7/255) of the 256-entry table
# matplotlib ships (a test checks it when matplotlib is installed).
_TURBO = np.array(
    [
        [48, 18, 59], [64, 64, 162], [70, 107, 227], [66, 148, 255], [40, 188, 235],
        [24, 221, 194], [50, 242, 152], [109, 254, 98], [164, 252, 60], [205, 236, 52],
        [238, 207, 58], [253, 172, 52], [251, 126, 33], [235, 80, 14], [208, 47, 5],
        [169, 22, 1], [122, 4, 3],
    ],
    dtype=np.float64,
)  # fmt: skip
_TURBO_AT = np.linspace(0.0, 1.0, len(_TURBO))


def turbo(values: ArrayLike) -> NDArray[np.uint8]:
    """The *Turbo* colour of each value: dark blue at 0, through green and yellow, to dark
    red at 1.

    Args:
        values: numbers in [0, 1], any shape (values outside are clipped; NaN is 0).

    Returns:
        ``uint8`` RGB colours, shape ``values.shape + (3,)``.

    Example:
        >>> from flowerkit.images.overlay import turbo
        >>> turbo([0.0, 0.5, 1.0]).tolist()  # dark blue, yellow-green, dark red
        [[48, 18, 59], [164, 252, 60], [122, 4, 3]]
    """
    x = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    rgb = np.stack([np.interp(x, _TURBO_AT, _TURBO[:, c]) for c in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def _heatmap(heatmap: ArrayLike) -> NDArray[np.float32]:
    """``heatmap`` as a finite 2-D float32 array in [0, 1], or a :class:`ConfigError`."""
    try:
        arr = np.asarray(heatmap, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"`heatmap` must be a 2-D array of numbers ({exc}).") from exc
    if arr.ndim != 2 or 0 in arr.shape:
        raise ConfigError(f"`heatmap` must be a 2-D array (h, w). Received shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ConfigError("`heatmap` contains NaN or infinite values.")
    return np.clip(arr, 0.0, 1.0)


def resize_heatmap(heatmap: ArrayLike, size: tuple[int, int]) -> NDArray[np.float32]:
    """``heatmap`` resized to ``size`` with a bilinear filter (pixel centres aligned).

    A Grad-CAM map has the size of the model's feature map (e.g. 5 x 5 for
    ``mobilenet_v2`` at 160 x 160); resized to the image the model saw, each of its cells
    covers the part of the image it was computed from.

    Args:
        heatmap: a 2-D array ``(h, w)`` of values in [0, 1] (clipped).
        size: ``(height, width)`` to resize to.

    Returns:
        A float32 ``(height, width)`` array in [0, 1].

    Raises:
        ~flowerkit.ConfigError: ``heatmap`` is not a finite 2-D array, or a bad ``size``.

    Example:
        >>> import numpy as np
        >>> from flowerkit.images.overlay import resize_heatmap
        >>> big = resize_heatmap(np.array([[0.0, 1.0], [0.0, 1.0]]), (4, 8))
        >>> big.shape, big.dtype, float(big.min()), float(big.max())
        ((4, 8), dtype('float32'), 0.0, 1.0)
        >>> big[0].round(3).tolist()  # a bilinear ramp from the left cell to the right one
        [0.0, 0.0, 0.125, 0.375, 0.625, 0.875, 1.0, 1.0]
    """
    arr = _heatmap(heatmap)
    height, width = _size(size)
    resized = Image.fromarray(arr, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _size(size: object) -> tuple[int, int]:
    """``size`` as ``(height, width)`` of positive integers, or a :class:`ConfigError`."""
    if isinstance(size, tuple | list) and len(size) == 2:
        try:
            return v.check_positive_int(size[0], "size"), v.check_positive_int(size[1], "size")
        except ConfigError:
            pass
    raise ConfigError(f"`size` must be a (height, width) pair of positive integers. Got {size!r}.")


def overlay(image: ArrayLike, heatmap: ArrayLike, alpha: float = 0.45) -> NDArray[np.uint8]:
    """``image`` with ``heatmap`` laid over it in the *Turbo* colour map.

    The heat map is resized to the image (bilinear, :func:`resize_heatmap`), coloured
    (:func:`turbo`: blue where it is 0, red where it is 1) and blended:
    ``(1 - alpha) * image + alpha * colour``.

    Args:
        image: ``(H, W, 3)`` RGB pixels, 0..255 (uint8, or numbers that are rounded).
        heatmap: ``(h, w)`` values in [0, 1], e.g. one map of
            :func:`~flowerkit.models.explain.grad_cam`. Any size: a map computed on the
            model's squashed view of a photo lies over the whole photo.
        alpha: the weight of the colour map, in [0, 1].

    Returns:
        The blended ``(H, W, 3)`` uint8 image.

    Raises:
        ~flowerkit.ConfigError: ``image`` is not ``(H, W, 3)`` with values in 0..255,
            ``heatmap`` not a finite 2-D array, or ``alpha`` outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from flowerkit.images.overlay import overlay
        >>> photo = np.full((48, 64, 3), 200, dtype=np.uint8)
        >>> heat = np.zeros((3, 4))
        >>> heat[1, 2] = 1.0  # the model looked right of the centre
        >>> shown = overlay(photo, heat)
        >>> shown.shape, shown.dtype
        ((48, 64, 3), dtype('uint8'))
        >>> shown[24, 40].tolist(), shown[0, 0].tolist()  # red where it looked, blue elsewhere
        ([186, 120, 110], [132, 118, 137])
    """
    pixels = _image(image)
    weight = v.check_fraction(alpha, "alpha", allow_zero=True, allow_one=True)
    heat = resize_heatmap(heatmap, pixels.shape[:2])
    blended = (1.0 - weight) * pixels + weight * turbo(heat).astype(np.float64)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def _image(image: ArrayLike) -> NDArray[np.float64]:
    """``image`` as float64 ``(H, W, 3)`` pixels in 0..255, or a :class:`ConfigError`."""
    try:
        arr = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"`image` must be an (H, W, 3) array of pixels ({exc}).") from exc
    if arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise ConfigError(f"`image` must have shape (H, W, 3). Received shape {arr.shape}.")
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
        raise ConfigError("`image` must hold finite pixel values in 0..255.")
    return arr
