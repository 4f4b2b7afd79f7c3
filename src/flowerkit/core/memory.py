"""How much memory and disk this process can still use, for choosing where a cache goes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["MEMORY_SHARE", "available_memory", "free_disk", "memory_budget"]

#: The share of the available memory an automatic in-memory cache may take (decoded
#: images, or a frozen backbone's features).
MEMORY_SHARE = 0.5

_MEMINFO = Path("/proc/meminfo")
_CGROUP_FILES = (
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),  # cgroup v2
    (
        Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
        Path("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ),
)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) is not a number


def _cgroup_room() -> int | None:
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            return max(0, limit - usage)
    return None


def _system_available() -> int | None:
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def available_memory() -> int | None:
    """Bytes of memory this process can still take without swapping: the system's
    available memory, or the room left under the container's (cgroup) limit when that is
    smaller; ``None`` where the operating system does not say."""
    known = [n for n in (_system_available(), _cgroup_room()) if n is not None]
    return min(known) if known else None


def memory_budget() -> int | None:
    """Bytes an automatic in-memory cache may take (``None``: unknown, no limit)."""
    available = available_memory()
    return None if available is None else int(MEMORY_SHARE * available)


def free_disk(folder: Path) -> int:
    """Free bytes on the file system that holds ``folder`` (or its nearest existing parent)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free
