"""The options of :func:`flowerkit.audit` that ``flowerkit audit`` repeats, declared
once (see :mod:`flowerkit.core.options`). Imports no TensorFlow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flowerkit.core import validation as v
from flowerkit.core.options import Flag, Options, option
from flowerkit.exceptions import ConfigError

__all__ = ["AuditOptions"]


def _split(value: Any, name: str) -> float:
    return v.check_fraction(value, name, allow_zero=True)


def _neighbours(value: Any, name: str) -> int:
    return v.check_positive_int(value, name)


def _weights(value: Any, name: str) -> str | os.PathLike[str] | None:
    if value is None or isinstance(value, str | os.PathLike):
        return value
    raise ConfigError(f"`{name}` must be a path to a weights file or None. Received: {value!r}")


@dataclass(frozen=True, kw_only=True)
class AuditOptions(Options):
    """How a folder is audited (see :func:`flowerkit.audit`).

    The split options name the split the audit looks for leaks across: give the ones
    the folder is (or will be) trained with; :func:`~flowerkit.data.load_datasets`'
    defaults are the defaults.

    Example:
        >>> from flowerkit.options.audit import AuditOptions
        >>> AuditOptions().neighbours, AuditOptions().seed
        (10, 123)
    """

    validation_split: float = option(
        0.2,
        help="the training run's validation fraction: copies across it are leaks",
        flag=Flag("F", parse=float),
        check=_split,
    )
    test_split: float = option(
        0.0, help="the training run's test fraction", flag=Flag("F", parse=float), check=_split
    )
    seed: int | None = option(
        123, help="the training run's split seed", flag=Flag("N", parse=int), check=v.check_seed
    )
    weights: str | os.PathLike[str] | None = option(
        None,
        help="ImageNet weights file for the features when no --model is given (default: "
        "found on this machine or downloaded once, as 'flowerkit train' does)",
        flag=Flag("FILE"),
        check=_weights,
    )
    neighbours: int = option(
        10,
        help="nearest photos compared with each photo for copies",
        flag=Flag("N", parse=int),
        check=_neighbours,
    )
