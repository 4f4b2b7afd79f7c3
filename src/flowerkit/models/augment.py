"""``augmentation_block``: random image transforms that are active only in training.

The block is a plain ``keras.Sequential`` of Keras preprocessing layers (plus flowerkit's
registered :class:`~flowerkit.models.layers.RandomResizedCrop` when ``crop`` is set). All
of them are the identity at inference (``training=False``), so the same model can be used
for training, evaluation and prediction without removing anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from flowerkit.core import validation as v
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import keras

__all__ = ["augmentation_block"]

FlipMode = Literal["horizontal", "vertical", "horizontal_and_vertical"]

#: The block's default layer name; batch-norm recalibration skips the layer of this name.
AUGMENTATION_LAYER = "augmentation"


# What _check_factors returns: crop, rotation, zoom, translation, contrast, brightness,
# crop_size and seed, checked.
_Factors = tuple[float, float, float, float, float, float, tuple[int, int] | None, int | None]


def augmentation_block(
    *,
    flip: FlipMode | None = "horizontal",
    crop: float = 0.0,
    rotation: float = 0.1,
    zoom: float = 0.1,
    translation: float = 0.0,
    contrast: float = 0.0,
    brightness: float = 0.0,
    crop_size: tuple[int, int] | int | None = None,
    seed: int | None = None,
    name: str = AUGMENTATION_LAYER,
) -> keras.Sequential:
    """Return the tutorial's augmentation (flip, rotation, zoom), optionally stronger.

    Defaults reproduce the TensorFlow tutorial exactly: ``RandomFlip("horizontal")``,
    ``RandomRotation(0.1)`` (up to 10% of a full turn) and ``RandomZoom(0.1)``.
    A factor of 0 (or ``flip=None``) leaves that transform out.

    The layers work on raw 0..255 pixels, so place the block before any rescaling; every
    flowerkit preset does.

    Args:
        flip: the ``RandomFlip`` mode, or ``None`` for no flip.
        crop: adds a :class:`~flowerkit.models.layers.RandomResizedCrop` (first in the
            block) whose crops cover between ``crop`` and all of the image's area: the
            random crop and zoom of ImageNet training, in one resampling (``crop=0.3``
            with ``rotation=0`` and ``zoom=0`` is much cheaper than rotation + zoom +
            translation).
        rotation: the ``RandomRotation`` factor, a fraction of a full turn.
        zoom: the ``RandomZoom`` factor.
        translation: adds ``RandomTranslation`` when non-zero.
        contrast: adds ``RandomContrast`` when non-zero.
        brightness: adds ``RandomBrightness`` (on the 0..255 pixel scale) when non-zero.
        crop_size: resizes the crops to that (height, width) instead of the input's size,
            and the whole image to it at inference: load images larger than the network's
            input so that the crops are cut from more pixels (the ``compact`` preset loads
            160x160 and crops to 112x112). Every later layer of the block then works at
            ``crop_size``.
        seed: makes the random draws repeatable.
        name: the block's layer name.

    Returns:
        A ``keras.Sequential`` of the transforms.

    Raises:
        ~flowerkit.ConfigError: an argument is invalid: a factor is negative
            or (``rotation`` aside) not below 1, ``crop_size`` is given without ``crop``,
            or every transform is turned off.

    Example:
        >>> import numpy as np
        >>> from flowerkit.models import augmentation_block
        >>> block = augmentation_block(seed=1)
        >>> [layer.__class__.__name__ for layer in block.layers]
        ['RandomFlip', 'RandomRotation', 'RandomZoom']
        >>> images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
        >>> bool(np.all(np.asarray(block(images, training=False)) == images))  # inference
        True
        >>> stronger = augmentation_block(crop=0.3, rotation=0, zoom=0, contrast=0.2, seed=1)
        >>> [layer.__class__.__name__ for layer in stronger.layers]
        ['RandomResizedCrop', 'RandomFlip', 'RandomContrast']
        >>> augmentation_block(crop_size=112)
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: `crop_size` sets the size of the random crops, so it needs
        `crop` (e.g. crop=0.3). Received: crop=0.0, crop_size=(112, 112)
    """
    import keras

    crop, rotation, zoom, translation, contrast, brightness, size, seed = _check_factors(
        flip, crop, rotation, zoom, translation, contrast, brightness, crop_size, seed
    )
    layers = _layers(flip, crop, rotation, zoom, translation, contrast, brightness, size, seed)
    if not layers:
        raise ConfigError(
            "augmentation_block() with every transform turned off is empty; pass "
            "augmentation=None to build_model instead."
        )
    return keras.Sequential(layers, name=name)


def _check_factors(
    flip: FlipMode | None,
    crop: float,
    rotation: float,
    zoom: float,
    translation: float,
    contrast: float,
    brightness: float,
    crop_size: tuple[int, int] | int | None,
    seed: int | None,
) -> _Factors:
    """Validate :func:`augmentation_block`'s arguments, in the order of its signature."""
    if flip is not None:
        v.check_choice(flip, "flip", ("horizontal", "vertical", "horizontal_and_vertical"))
    crop = v.check_non_negative_float(crop, "crop")
    rotation = v.check_non_negative_float(rotation, "rotation")
    zoom = v.check_non_negative_float(zoom, "zoom")
    translation = v.check_non_negative_float(translation, "translation")
    contrast = v.check_non_negative_float(contrast, "contrast")
    brightness = v.check_non_negative_float(brightness, "brightness")
    seed = v.check_seed(seed)
    size: tuple[int, int] | None = None
    if crop_size is not None:
        size = v.check_image_size(crop_size, "crop_size")
        if not crop:
            raise ConfigError(
                "`crop_size` sets the size of the random crops, so it needs `crop` "
                f"(e.g. crop=0.3). Received: crop={crop!r}, crop_size={size!r}"
            )
    for arg, value in (
        ("crop", crop),
        ("zoom", zoom),
        ("translation", translation),
        ("contrast", contrast),
        ("brightness", brightness),
    ):
        if value >= 1:
            raise ConfigError(f"`{arg}` must be below 1. Received: {arg}={value!r}")
    return crop, rotation, zoom, translation, contrast, brightness, size, seed


def _layers(
    flip: FlipMode | None,
    crop: float,
    rotation: float,
    zoom: float,
    translation: float,
    contrast: float,
    brightness: float,
    crop_size: tuple[int, int] | None,
    seed: int | None,
) -> list[keras.layers.Layer]:
    """The block's layers, in order; a factor of 0 (or ``flip=None``) leaves one out."""
    import keras

    def _seed(offset: int) -> int | None:
        return None if seed is None else seed + offset

    layers: list[keras.layers.Layer] = []
    if crop:
        from flowerkit.models.layers import RandomResizedCrop

        layers.append(RandomResizedCrop(scale=(crop, 1.0), seed=_seed(6), size=crop_size))
    if flip is not None:
        layers.append(keras.layers.RandomFlip(flip, seed=_seed(0)))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, seed=_seed(1)))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, seed=_seed(2)))
    if translation:
        layers.append(keras.layers.RandomTranslation(translation, translation, seed=_seed(3)))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=_seed(4)))
    if brightness:
        layers.append(
            keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=_seed(5))
        )
    return layers
