"""Putting an export in place atomically: written and verified beside the target, then
renamed over it, so a failed export leaves nothing behind and a previous one intact."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flowerkit.core.paths import new_file_mode
from flowerkit.exceptions import ExportError

__all__ = ["check_target", "staged"]


def check_target(target: Path, *, directory: bool, format: str) -> None:
    """Refuse a target that an export must not replace.

    A file export may replace a file; a folder export (SavedModel) may replace an empty
    folder or a previous SavedModel (a folder with ``saved_model.pb``), nothing else.
    """
    if directory and target.is_file():
        raise ExportError(
            f"{str(target)!r} is a file; a SavedModel is a folder. Choose another --out.",
            format=format,
        )
    if directory and target.is_dir():
        entries = list(target.iterdir())
        if entries and not (target / "saved_model.pb").is_file():
            raise ExportError(
                f"{str(target)!r} is a folder that holds other files, not a previous "
                "SavedModel; flowerkit will not replace it. Choose a new folder.",
                format=format,
            )
    if not directory and target.is_dir():
        raise ExportError(f"{str(target)!r} is a folder; pass the path of a file.", format=format)


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A path beside ``target`` to write to; renamed to ``target`` when the block ends
    without an error, deleted otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        path = work / target.name
        yield path
        previous = None
        if path.is_dir() and target.exists():  # a folder cannot be renamed over one
            previous = work / ".previous"
            os.replace(target, previous)
        try:
            os.replace(path, target)
        except BaseException:
            if previous is not None:
                os.replace(previous, target)
            raise
        if target.is_file():
            os.chmod(target, new_file_mode())
    finally:
        shutil.rmtree(work, ignore_errors=True)
