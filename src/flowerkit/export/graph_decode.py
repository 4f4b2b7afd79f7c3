"""Decoding encoded images inside a TensorFlow graph, as close to flowerkit's decode as
TensorFlow's ops allow (the SavedModel's ``encoded`` signature).

What matches :func:`flowerkit.images.load_image`:

* JPEG: libjpeg's accurate integer DCT (Pillow's default; TensorFlow's own default is the
  fast one, 1 level of 255 off on average), and the same DCT scaling for a JPEG 4x the
  target size or more (1/2, 1/4 or 1/8, keeping at least twice the target);
* PNG: transparency composited on white; grayscale repeated to RGB;
* resizing: anti-aliased bilinear squash to the model's size, rounded to uint8.

What differs (documented in ``docs/export.rst``):

* EXIF orientation is not applied (TensorFlow has no op for it): a phone photo stored on
  its side is classified on its side;
* embedded ICC colour profiles (Display P3, Adobe RGB) are not converted to sRGB (no
  TensorFlow op does colour management): such photos come out slightly less saturated
  than ``load_image`` gives them;
* CMYK JPEGs, 16-bit PNGs (truncated to 8 bits, not rounded), and transparency in GIF,
  BMP and WebP (dropped, not composited) follow TensorFlow's decoders;
* TIFF, AVIF and HEIF are not decoded: the call fails, as it does for any bytes that are
  not an image (TensorFlow raises ``InvalidArgumentError`` for the whole batch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowerkit.images.decode import DCT_REDUCING_GAP

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["decode_batch"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RATIOS = (1, 2, 4, 8)


def _jpeg(encoded: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    import tensorflow as tf

    shape = tf.image.extract_jpeg_shape(encoded)
    height, width = shape[0], shape[1]
    target_h, target_w = image_size
    scaled = (width >= 2 * DCT_REDUCING_GAP * target_w) & (
        height >= 2 * DCT_REDUCING_GAP * target_h
    )
    # Pillow's draft: the largest of 8, 4, 2 that keeps DCT_REDUCING_GAP x the target.
    scale = tf.minimum(
        width // (DCT_REDUCING_GAP * target_w), height // (DCT_REDUCING_GAP * target_h)
    )
    index = tf.where(scaled, tf.where(scale >= 8, 3, tf.where(scale >= 4, 2, 1)), 0)

    def decoder(ratio: int) -> tf.Tensor:
        return lambda: tf.io.decode_jpeg(
            encoded, channels=3, ratio=ratio, dct_method="INTEGER_ACCURATE"
        )

    return tf.switch_case(index, [decoder(r) for r in _RATIOS])


def _png(encoded: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    rgba = tf.cast(tf.io.decode_png(encoded, channels=4), tf.float32)
    alpha = rgba[..., 3:] / 255.0
    on_white = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return tf.cast(tf.round(on_white), tf.uint8)


def _other(encoded: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def _one(encoded: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    import tensorflow as tf

    image = tf.case(
        [
            (tf.io.is_jpeg(encoded), lambda: _jpeg(encoded, image_size)),
            (tf.strings.substr(encoded, 0, 8) == _PNG_SIGNATURE, lambda: _png(encoded)),
        ],
        default=lambda: _other(encoded),
    )
    image.set_shape((None, None, 3))
    resized = tf.image.resize(image, image_size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def decode_batch(encoded: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    """``(N,)`` encoded images (JPEG, PNG, GIF, BMP, WebP) to ``(N, H, W, 3)`` uint8
    pixels at ``image_size`` = ``(height, width)``, in-graph."""
    import tensorflow as tf

    return tf.map_fn(
        lambda one: _one(one, image_size),
        encoded,
        fn_output_signature=tf.TensorSpec((*image_size, 3), tf.uint8),
    )
