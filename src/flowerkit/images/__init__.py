"""Images: the one decode path every part of flowerkit uses, type sniffing, and turning
what a user hands over (paths, folders, PIL images, arrays, bytes) into images.

:func:`load_image` is the single decoder: the checker, the training pipeline, prediction and
the reports all call it, so an image means the same pixels everywhere.
"""

from __future__ import annotations

from flowerkit.images.decode import (
    DCT_REDUCING_GAP,
    DECODE_RULES,
    DECODED_FORMATS,
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    REASONS,
    ImageInput,
    dct_scaled,
    decode_image,
    load_image,
    resize_decoded,
    resize_image,
    to_rgb_array,
)
from flowerkit.images.thumbnails import jpeg_data_uri, thumbnail

__all__ = [
    "DCT_REDUCING_GAP",
    "DECODED_FORMATS",
    "DECODE_RULES",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "REASONS",
    "ImageInput",
    "dct_scaled",
    "decode_image",
    "jpeg_data_uri",
    "load_image",
    "resize_decoded",
    "resize_image",
    "thumbnail",
    "to_rgb_array",
]
