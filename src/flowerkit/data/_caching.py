"""Where a pipeline keeps its decoded examples: the ``cache`` option of
:func:`~flowerkit.data.image_dataset` and :func:`~flowerkit.data.load_datasets`, checked
and resolved to memory, a folder or nowhere."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

from flowerkit.core import memory
from flowerkit.core.paths import default_cache_dir
from flowerkit.exceptions import ConfigError, FlowerkitWarning

__all__ = ["MEMORY_SHARE", "CacheOption", "check_cache_option", "memory_budget", "resolve_cache"]

CacheOption = bool | Literal["auto"] | str | os.PathLike[str]

MEMORY_SHARE = memory.MEMORY_SHARE
memory_budget = memory.memory_budget


def check_cache_option(cache: object) -> None:
    if not isinstance(cache, bool | str | os.PathLike):
        raise ConfigError(
            f"`cache` must be 'auto', True, False or a folder path. Received: cache={cache!r}"
        )


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def resolve_cache(
    cache: CacheOption, count: int, size: tuple[int, int], *, stacklevel: int
) -> bool | Path:
    """Where ``count`` decoded examples at ``size`` go: ``True`` (memory), a folder, or
    ``False`` (nowhere); ``"auto"`` decides from the memory and disk free now."""
    if isinstance(cache, bool):
        return cache
    if cache != "auto":
        return Path(os.fspath(cache)).expanduser()
    need = count * size[0] * size[1] * 3
    budget = memory.memory_budget()
    if budget is None or need <= budget:
        return True
    folder = default_cache_dir() / "datasets"
    where = f"{count} decoded images at {size[0]}x{size[1]} need {_gib(need)}, more than "
    where += f"half the memory available ({_gib(2 * budget)})"
    if need * 1.1 < memory.free_disk(folder):
        warnings.warn(
            f"{where}: keeping them in a disk cache in {str(folder)!r} instead (pass "
            "cache=False to decode every epoch, or cache=<folder> to choose the place).",
            FlowerkitWarning,
            stacklevel=stacklevel + 1,
        )
        return folder
    warnings.warn(
        f"{where}, and there is no room for them in {str(folder)!r} either: decoding them "
        "every epoch (pass cache=<folder> on a disk with room to cache them).",
        FlowerkitWarning,
        stacklevel=stacklevel + 1,
    )
    return False
