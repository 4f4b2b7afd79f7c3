"""List a data folder: its class folders, the files to check, and what is left out on purpose.

Rules (documented for users in ``docs/checking.rst``):

* Class folders are the non-hidden sub-folders of the root (a symbolic link to a folder
  counts); files directly in the root are ``outside_class_folder``.
* Inside a class folder every sub-folder is searched, except hidden (``.*``) and system
  folders (``__MACOSX``, ``@eaDir``...), and symbolic links to folders unless
  ``follow_links`` is true. A folder reached twice through links is entered once.
* Files are matched by extension, case-insensitively; hidden files, AppleDouble ``._*``
  files and system files (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``...) are ignored.
* Symbolic links to files are followed; a broken one is checked and reported ``missing``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from flowerkit.images.decode import IMAGE_EXTENSIONS

__all__: list[str] = []  # private module

_SYSTEM_FILES = frozenset(
    {".ds_store", "thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", "icon\r",
     ".directory", ".picasa.ini", "picasa.ini", ".localized"}
)  # fmt: skip
_SYSTEM_FOLDERS = frozenset(
    {"__macosx", "@eadir", "$recycle.bin", "system volume information", "__pycache__"}
)


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


def file_ignore_reason(name: str) -> str | None:
    """Why a file called ``name`` is not checked, or ``None`` when it is."""
    lower = name.lower()
    if lower in _SYSTEM_FILES:
        return "system_file"
    if name.startswith("._"):
        return "apple_double"
    if name.startswith("."):
        return "hidden_file"
    if os.path.splitext(lower)[1] not in IMAGE_EXTENSIONS:
        return "not_an_image_extension"
    return None


def folder_ignore_reason(name: str) -> str | None:
    """Why a folder called ``name`` is not searched, or ``None`` when it is."""
    if name.lower() in _SYSTEM_FOLDERS:
        return "system_folder"
    if name.startswith("."):
        return "hidden_folder"
    return None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _dir_id(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def class_folders(root: Path) -> list[str]:
    """The class names in ``root``: its searchable sub-folders, sorted."""
    return sorted(
        entry.name
        for entry in os.scandir(root)
        if _is_dir(entry) and folder_ignore_reason(entry.name) is None
    )


def _walk_class(
    root: Path, class_dir: Path, label: int, name: str, follow_links: bool, out: Index
) -> None:
    seen: set[tuple[int, int]] = set()
    start = _dir_id(class_dir)
    if start is not None:
        seen.add(start)
    stack = [class_dir]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            out.unlisted.append(Unlisted(folder, name, exc.strerror or str(exc)))
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if _is_dir(entry):
                reason = folder_ignore_reason(entry.name)
                if reason is None and entry.is_symlink() and not follow_links:
                    reason = "symlinked_folder"
                ident = _dir_id(path)
                if reason is None and ident in seen:
                    reason = "already_searched"
                if reason is not None:
                    out.ignored.append(Skipped(path, reason))
                    continue
                if ident is not None:
                    seen.add(ident)
                subfolders.append(path)
                continue
            reason = file_ignore_reason(entry.name)
            if reason is not None:
                out.ignored.append(Skipped(path, reason))
            else:
                key = path.relative_to(root).as_posix()
                out.candidates.append(Candidate(path, label, name, key))
        stack.extend(reversed(subfolders))


def index_folder(root: Path, class_names: Sequence[str] | None, follow_links: bool) -> Index:
    """List ``root``: class folders, candidate files and everything left out."""
    found = class_folders(root)
    names = tuple(found) if class_names is None else tuple(class_names)
    out = Index(names, [], [], [])
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        path = Path(entry.path)
        if _is_dir(entry):
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
