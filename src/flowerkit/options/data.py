"""The options of :func:`~flowerkit.data.load_datasets` that ``flowerkit train`` repeats,
declared once (see :mod:`flowerkit.core.options`). ``load_datasets`` checks them itself;
a test pins its signature to these fields. Imports no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowerkit.core.options import Flag, Options, option

if TYPE_CHECKING:
    from flowerkit.data.loading import SplitName

__all__ = ["LoadOptions"]


@dataclass(frozen=True, kw_only=True)
class LoadOptions(Options):
    """How a folder is split and batched (see :func:`~flowerkit.data.load_datasets`).

    Example:
        >>> from flowerkit.options.data import LoadOptions
        >>> LoadOptions().batch_size, LoadOptions.spec("split").flag.choices
        (32, ('stratified', 'keras'))
    """

    batch_size: int = option(32, help="images a step (the global batch)", flag=Flag("N", parse=int))
    validation_split: float = option(
        0.2,
        help="fraction of each class held out for validation (0: none)",
        flag=Flag("F", parse=float),
    )
    test_split: float = option(
        0.0,
        help="fraction of each class held out as a test set, never used in training, early "
        "stopping or calibration; its accuracy is reported apart",
        flag=Flag("F", parse=float),
    )
    seed: int | None = option(
        123,
        help="seeds the split and the shuffles (and, on the command line, the model and the run)",
        flag=Flag("N", parse=int),
    )
    split: SplitName = option(
        "stratified",
        help="stratified: stable per-class hash split; keras: the tutorial's exact "
        "image_dataset_from_directory assignment",
        flag=Flag(choices=("stratified", "keras")),
    )
