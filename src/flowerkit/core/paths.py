"""Where flowerkit keeps its caches (one place, shared by every module that writes one)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "default_cache_dir"]

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
