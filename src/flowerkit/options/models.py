"""The options of :func:`~flowerkit.models.build_model` (and ``Classifier.from_preset``)
that ``flowerkit train`` repeats, declared once (see :mod:`flowerkit.core.options`).
``build_model`` checks them itself; a test pins its signature to these fields. Imports no
TensorFlow."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from flowerkit.core.options import Flag, Options, option

if TYPE_CHECKING:
    import keras

    from flowerkit.models.build import Precision

__all__ = ["BuildOptions", "parse_image_size"]


def parse_image_size(text: str) -> tuple[int, int]:
    """``"N"`` or ``"HxW"`` (or ``"H,W"``) as ``(height, width)``.

    Raises:
        argparse.ArgumentTypeError: neither.

    Example:
        >>> from flowerkit.options.models import parse_image_size
        >>> parse_image_size("64"), parse_image_size("120x160")
        ((64, 64), (120, 160))
    """
    parts = text.lower().replace("x", ",").split(",")
    try:
        nums = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(nums) == 1:
        return nums[0], nums[0]
    if len(nums) == 2:
        return nums[0], nums[1]
    raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}")


@dataclass(frozen=True, kw_only=True)
class BuildOptions(Options):
    """How a preset's model is built (see :func:`~flowerkit.models.build_model`).

    Example:
        >>> from flowerkit.options.models import BuildOptions
        >>> BuildOptions().precision, BuildOptions.spec("augmentation").flag.name
        ('float32', '--augment')
    """

    image_size: tuple[int, int] | int | None = option(
        None,
        help="input size (default: the preset's)",
        flag=Flag("N|HxW", parse=parse_image_size),
    )
    augmentation: keras.layers.Layer | bool | None = option(
        None,
        help="random flips/rotations/zooms in training (default: the preset's)",
        flag=Flag(kind="negatable", name="--augment"),
    )
    dropout: float | None = option(
        None,
        help="the dropout rate of the head (default: the preset's)",
        flag=Flag("RATE", parse=float),
    )
    precision: Precision = option(
        "float32",
        help="bfloat16: about 2x faster on CPUs with AMX or AVX512_BF16, slightly different "
        "numbers (refused where it would be emulated)",
        flag=Flag(choices=("float32", "bfloat16")),
    )

    _methods: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "record": ("augmentation", "dropout", "precision"),  # what build_config records
    }
