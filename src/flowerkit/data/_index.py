"""List a data folder: its class folders, the files to check, and what is left out on purpose.

Class folders are the non-hidden sub-folders of the root (a symbolic link to a folder
counts); files directly in the root are ``outside_class_folder``. Inside a class folder,
:func:`flowerkit.images.files.walk` decides what is searched and which files are images
(its rules are documented there and in ``docs/checking.rst``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from flowerkit.exceptions import DatasetError
from flowerkit.images.files import file_ignore_reason, folder_ignore_reason, is_dir, walk

__all__: list[str] = []  # private module


class Candidate(NamedTuple):
    path: Path
    label: int
    class_name: str
    key: str


class Skipped(NamedTuple):
    path: Path
    reason: str


class Unlisted(NamedTuple):
    """A folder inside a class folder that could not be listed."""

    path: Path
    class_name: str
    error: str


class Index(NamedTuple):
    class_names: tuple[str, ...]
    candidates: list[Candidate]
    ignored: list[Skipped]
    unlisted: list[Unlisted]


def class_folders(root: Path) -> list[str]:
    """The class names in ``root``: its searchable sub-folders, sorted.

    Raises:
        ~flowerkit.DatasetError: ``root`` cannot be listed (permissions, a vanished drive).
    """
    try:
        with os.scandir(root) as entries:
            return sorted(
                entry.name
                for entry in entries
                if is_dir(entry) and folder_ignore_reason(entry.name) is None
            )
    except OSError as exc:
        raise DatasetError(
            f"Cannot list the data folder {str(root)!r}: {exc.strerror or exc}. Check that "
            "it exists and that you may read it."
        ) from exc


def _walk_class(
    root: Path, class_dir: Path, label: int, name: str, follow_links: bool, out: Index
) -> None:
    for entry in walk(class_dir, follow_links=follow_links):
        if entry.error is not None:
            out.unlisted.append(Unlisted(entry.path, name, entry.error))
        elif entry.reason is not None:
            out.ignored.append(Skipped(entry.path, entry.reason))
        elif not entry.is_dir:
            key = entry.path.relative_to(root).as_posix()
            out.candidates.append(Candidate(entry.path, label, name, key))


def index_folder(root: Path, class_names: Sequence[str] | None, follow_links: bool) -> Index:
    """List ``root``: class folders, candidate files and everything left out."""
    found = class_folders(root)
    names = tuple(found) if class_names is None else tuple(class_names)
    out = Index(names, [], [], [])
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        path = Path(entry.path)
        if is_dir(entry):
            reason = folder_ignore_reason(entry.name)
            if reason is None and entry.name not in names:
                reason = "class_not_selected"
            if reason is not None:
                out.ignored.append(Skipped(path, reason))
            continue
        reason = file_ignore_reason(entry.name)
        if reason in (None, "not_an_image_extension"):
            reason = "outside_class_folder"
        out.ignored.append(Skipped(path, reason))
    for label, name in enumerate(names):
        _walk_class(root, root / name, label, name, follow_links, out)
    out.candidates.sort(key=lambda c: (c.label, c.key))
    out.ignored.sort(key=lambda s: str(s.path))
    return out
