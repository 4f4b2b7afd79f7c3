"""Where flowerkit keeps its caches (one place, shared by every module that writes one), the
permissions the files it writes get, and the names of the temporaries it renames into
place (so that those of a killed writer can be cleaned up)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "default_cache_dir",
    "new_file_mode",
    "remove_stale_temporaries",
    "temporary_prefix",
]

CACHE_ENV = "FLOWERKIT_CACHE_DIR"


def default_cache_dir() -> Path:
    """flowerkit's cache folder, chosen from the environment.

    It is ``$FLOWERKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowerkit``, else
    ``%LOCALAPPDATA%/flowerkit`` on Windows, else ``~/.cache/flowerkit``. A variable that
    is set but empty counts as unset; a leading ``~`` in the first two is expanded.

    Caches never go next to the user's data, which may be read-only. The folder is only
    named here, not created: each user of it has its own sub-folder (``checks`` for
    :func:`~flowerkit.data.check_images`, ``datasets`` for
    :func:`~flowerkit.data.flower_photos` and automatic disk caches, ``weights``, one of
    the places pretrained weights are looked for).

    Returns:
        The folder, which need not exist yet.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from flowerkit.core.paths import default_cache_dir
        >>> with mock.patch.dict(os.environ, {"FLOWERKIT_CACHE_DIR": "/srv/fk-cache"}):
        ...     print(default_cache_dir().as_posix())
        /srv/fk-cache
        >>> unset = {"FLOWERKIT_CACHE_DIR": "", "XDG_CACHE_HOME": "/var/cache"}
        >>> with mock.patch.dict(os.environ, unset):
        ...     print(default_cache_dir().as_posix())
        /var/cache/flowerkit
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


_WRITER = re.compile(r"\.pid(\d+)\.")


def temporary_prefix(final: Path) -> str:
    """The name prefix of a temporary file or folder that will be renamed to ``final``:
    hidden, and carrying this process's id so that :func:`remove_stale_temporaries` can
    tell a killed writer's leftovers from a running writer's work."""
    return f".{final.name}.pid{os.getpid()}."


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove from ``folder`` the temporaries (named by :func:`temporary_prefix`) of
    writers that no longer run, e.g. killed in the middle of a save; return them.

    Those of running processes, this one included, are left alone.
    """
    removed = []
    for child in folder.glob(".*.pid*"):
        match = _WRITER.search(child.name)
        if match is None or _running(int(match.group(1))):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
        removed.append(child)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or cannot tell: keep
        return True
    return True
