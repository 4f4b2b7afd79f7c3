"""Where flowerkit keeps its caches (one place, shared by every module that writes one), and
the permissions the files it writes get."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "default_cache_dir", "new_file_mode"]

CACHE_ENV = "FLOWERKIT_CACHE_DIR"


def default_cache_dir() -> Path:
    """flowerkit's cache folder.

    It is ``$FLOWERKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowerkit``, else
    ``%LOCALAPPDATA%/flowerkit`` on Windows, else ``~/.cache/flowerkit``.

    Caches never go next to the user's data, which may be read-only.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "flowerkit"
    local = os.environ.get("LOCALAPPDATA")
    if os.name == "nt" and local:
        return Path(local) / "flowerkit"
    return Path.home() / ".cache" / "flowerkit"


def new_file_mode() -> int:
    """The permissions ``open()`` gives a new regular file under this process's umask.

    Files made by ``tempfile`` are private (0600); a file renamed into place from one gets
    these instead, so it looks like any file the user writes.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
