"""The images an export is calibrated and verified on: ``representative_data`` as a
:class:`~flowerkit.data.Datasets`, a folder, a ``tf.data.Dataset`` or an array."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowerkit.data import Datasets
from flowerkit.exceptions import ConfigError
from flowerkit.images.decode import load_image
from flowerkit.images.files import image_files

__all__ = ["REPRESENTATIVE_IMAGES", "representative_images"]

#: Images drawn for int8 calibration and for the verification sample (spread evenly over
#: the files, so every class is seen).
REPRESENTATIVE_IMAGES = 200


def _spread(items: Sequence[Any] | NDArray[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return list(items)
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[int(i)] for i in picks]


def _from_files(
    files: Sequence[Path], image_size: tuple[int, int], limit: int
) -> NDArray[np.uint8]:
    return np.stack([load_image(f, image_size) for f in _spread(files, limit)])


def _from_dataset(dataset: Any, image_size: tuple[int, int], limit: int) -> NDArray[np.uint8]:
    batches: list[NDArray[Any]] = []
    count = 0
    for element in dataset:
        images = element[0] if isinstance(element, tuple | list) else element
        arr = np.asarray(images)
        batches.append(arr if arr.ndim == 4 else arr[np.newaxis])
        count += len(batches[-1])
        if count >= limit:
            break
    if not batches:
        raise ConfigError("`representative_data` is an empty tf.data.Dataset.")
    return _checked(np.concatenate(batches)[:limit], image_size)


def _checked(images: NDArray[Any], image_size: tuple[int, int]) -> NDArray[np.uint8]:
    if images.ndim != 4 or tuple(images.shape[1:]) != (*image_size, 3):
        raise ConfigError(
            f"`representative_data` images must have shape (N, {image_size[0]}, "
            f"{image_size[1]}, 3), the model's size. Received shape {images.shape}."
        )
    if len(images) == 0:
        raise ConfigError("`representative_data` holds no images.")
    if images.min() < 0 or images.max() > 255:
        raise ConfigError("`representative_data` must be 0..255 pixels, as predict takes.")
    return (
        np.round(images).astype(np.uint8) if images.dtype.kind == "f" else images.astype(np.uint8)
    )


def representative_images(
    data: object, image_size: tuple[int, int], limit: int = REPRESENTATIVE_IMAGES
) -> NDArray[np.uint8]:
    """Up to ``limit`` images at ``image_size`` from ``data``.

    Args:
        data: :class:`~flowerkit.data.Datasets` (its training files), a folder (its image
            files, recursively), a ``tf.data.Dataset`` of images or ``(images, labels)``
            batches, or an array ``(N, height, width, 3)`` of 0..255 pixels.
        image_size: ``(height, width)`` of the model.
        limit: at most this many images, spread evenly over the files.

    Raises:
        ~flowerkit.ConfigError: data of another kind, the wrong size, or none.
    """
    if isinstance(data, Datasets):
        return _from_files(data.train_files, image_size, limit)
    if isinstance(data, str | os.PathLike):
        folder = Path(data).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"`representative_data` {str(folder)!r} is not a folder.")
        files = image_files(folder)
        if not files:
            raise ConfigError(f"`representative_data` {str(folder)!r} holds no image files.")
        return _from_files(files, image_size, limit)
    if isinstance(data, np.ndarray):
        return _checked(np.asarray(_spread(data, limit)), image_size)
    if hasattr(data, "element_spec"):
        return _from_dataset(data, image_size, limit)
    raise ConfigError(
        "`representative_data` must be a Datasets, a folder, a tf.data.Dataset or an array "
        f"(N, H, W, 3). Received: {type(data).__name__}"
    )
