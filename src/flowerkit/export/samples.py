"""The images an export is calibrated and verified on: ``representative_data`` as a
:class:`~flowerkit.data.Datasets`, a folder, a ``tf.data.Dataset`` or an array.

Which kinds are accepted, and how each is read, is decided in the data layer's adapter
(:func:`flowerkit.data.adapt.representative_sample`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowerkit.data.adapt import representative_sample

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["REPRESENTATIVE_IMAGES", "representative_images"]

#: Images drawn for int8 calibration and for the verification sample (spread evenly over
#: the files, so every class is seen).
REPRESENTATIVE_IMAGES = 200


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
    return representative_sample(data, image_size, limit=limit, argument="representative_data")
