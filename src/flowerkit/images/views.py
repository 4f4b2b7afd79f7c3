"""The views test-time augmentation averages over: the image, its mirror, a centre crop
and the crop's mirror.

Every view has the image's size (the crop is resized back the flowerkit way, with
:func:`~flowerkit.images.resize_image`), so the model takes them as it takes the image.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from flowerkit.images.decode import resize_image

__all__ = ["TTA_CROP", "TTA_VIEWS", "tta_views"]

#: The side of the centre crop, as a fraction of the image's side (87.5%: the crop the
#: ImageNet evaluation protocol takes).
TTA_CROP = 0.875

#: How many views :func:`tta_views` makes.
TTA_VIEWS = 4


def _centre_crop(images: NDArray[np.uint8]) -> NDArray[np.uint8]:
    height, width = images.shape[1:3]
    h, w = max(1, round(height * TTA_CROP)), max(1, round(width * TTA_CROP))
    top, left = (height - h) // 2, (width - w) // 2
    crops = images[:, top : top + h, left : left + w]
    return np.stack([resize_image(np.ascontiguousarray(c), (height, width)) for c in crops])


def tta_views(images: NDArray[np.uint8]) -> list[NDArray[np.uint8]]:
    """``images`` ``(N, H, W, 3)``, mirrored, centre-cropped and both: four batches of
    the same shape, the first being ``images`` itself."""
    batch = np.asarray(images, dtype=np.uint8)
    crops = _centre_crop(batch) if len(batch) else batch
    return [batch, batch[:, :, ::-1], crops, crops[:, :, ::-1]]
