"""Which files in a folder tree are images to use: the one folder walker.

The rules, shared by the checker (:func:`flowerkit.data.check_images`) and prediction on a
folder (``Classifier.predict``), documented for users in ``docs/checking.rst``:

* Every sub-folder is searched, except hidden (``.*``) and system folders (``__MACOSX``,
  ``@eaDir``...), and symbolic links to folders unless ``follow_links`` is true. A folder
  reached twice through links is entered once.
* Files are matched by extension, case-insensitively; hidden files, AppleDouble ``._*``
  files and system files (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``...) are ignored.
* Symbolic links to files are followed (a broken one is still listed, so that it is
  reported rather than silently skipped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from flowerkit.images.decode import IMAGE_EXTENSIONS

__all__ = ["Entry", "file_ignore_reason", "folder_ignore_reason", "image_files", "is_dir", "walk"]

_SYSTEM_FILES = frozenset(
    {".ds_store", "thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", "icon\r",
     ".directory", ".picasa.ini", "picasa.ini", ".localized"}
)  # fmt: skip
_SYSTEM_FOLDERS = frozenset(
    {"__macosx", "@eadir", "$recycle.bin", "system volume information", "__pycache__"}
)


class Entry(NamedTuple):
    """One file or folder met by :func:`walk`.

    Attributes:
        path: the file or folder.
        is_dir: whether it is a folder.
        reason: ``None`` for an image file to use; else a code saying why it was left out
            (see :data:`~flowerkit.data.IGNORE_REASONS`), or ``"unreadable"`` for a folder
            that could not be listed.
        error: for a folder that could not be listed, the operating system's message.
    """

    path: Path
    is_dir: bool
    reason: str | None = None
    error: str | None = None


def file_ignore_reason(name: str) -> str | None:
    """Why a file called ``name`` is not an image to use, or ``None`` when it is."""
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


def is_dir(entry: os.DirEntry[str]) -> bool:
    """``entry.is_dir()``, false when the entry cannot be examined."""
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


def _folder_reason(
    entry: os.DirEntry[str], follow_links: bool, seen: set[tuple[int, int]]
) -> str | None:
    reason = folder_ignore_reason(entry.name)
    if reason is None and entry.is_symlink() and not follow_links:
        reason = "symlinked_folder"
    ident = _dir_id(Path(entry.path))
    if reason is None and ident in seen:
        reason = "already_searched"
    if reason is None and ident is not None:
        seen.add(ident)
    return reason


def walk(folder: Path, *, follow_links: bool = False) -> Iterator[Entry]:
    """Every file under ``folder``, and every folder left out, with the reason, if any.

    The walk is depth first: a folder's files and left-out folders come sorted by name,
    then the contents of its searched sub-folders, in name order. Searched folders
    (``folder`` included) are not yielded themselves; a folder that cannot be listed
    yields an :class:`Entry` with ``error`` set.

    Args:
        folder: the folder to search.
        follow_links: whether symbolic links to folders are followed (links to files
            always are).

    Yields:
        One :class:`Entry` per file or left-out folder.
    """
    seen: set[tuple[int, int]] = set()
    start = _dir_id(folder)
    if start is not None:
        seen.add(start)
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            yield Entry(current, True, "unreadable", exc.strerror or str(exc))
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if is_dir(entry):
                reason = _folder_reason(entry, follow_links, seen)
                if reason is None:
                    subfolders.append(path)
                else:
                    yield Entry(path, True, reason)
            else:
                yield Entry(path, False, file_ignore_reason(entry.name))
        stack.extend(reversed(subfolders))


def image_files(folder: Path, *, follow_links: bool = False) -> list[Path]:
    """The image files under ``folder`` that :func:`walk` keeps, in walk order.

    Args:
        folder: the folder to search.
        follow_links: whether symbolic links to folders are followed.

    Raises:
        OSError: a folder inside could not be listed (nothing is skipped silently).
    """
    found: list[Path] = []
    for entry in walk(folder, follow_links=follow_links):
        if entry.error is not None:
            raise OSError(f"{str(entry.path)!r} could not be listed ({entry.error}).")
        if not entry.is_dir and entry.reason is None:
            found.append(entry.path)
    return found
