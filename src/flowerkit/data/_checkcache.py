"""Remember each file's check result so that checking an unchanged folder again is fast.

One JSON file per checked data folder, in the user's cache folder (never next to the
data, which may be read-only):

* ``$FLOWERKIT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/flowerkit``, else
  ``~/.cache/flowerkit`` (``%LOCALAPPDATA%\\flowerkit`` on Windows); results go in its
  ``checks/`` sub-folder.
* An entry is reused only when the file's absolute path, size, modification time
  (``st_mtime_ns``), status-change time (``st_ctime_ns``) and inode all match, and the
  cache was written by the same decoding rules and Pillow version.
* Writes go to a temporary file that replaces the cache in one step (``os.replace``).
  Cache files not used for :data:`MAX_AGE_DAYS` days (folders checked long ago, or
  since deleted) are removed when another cache file is written; a check that finds
  nothing new marks its file as used.
  An unreadable, corrupt or unwritable cache is ignored: checking never fails because of
  it, it only gets slower.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import PIL

from flowerkit.core.paths import default_cache_dir
from flowerkit.data._probe import Probe
from flowerkit.images.decode import DECODE_RULES, max_pixels

__all__: list[str] = []  # private module

_FORMAT = "flowerkit-check-cache"
_VERSION = 1
#: Bump whenever the check itself changes what it records for a file; a change of
#: ``flowerkit.images.decode.DECODE_RULES``, of Pillow or of the pixel limit invalidates
#: the cache by itself (see :func:`_decoder`).
_CHECK_RULES = 1


def _decoder() -> str:
    """What the cached results depend on, besides the files: read on each use, since the
    pixel limit comes from the environment."""
    return f"check-{_CHECK_RULES}/rules-{DECODE_RULES}/pillow-{PIL.__version__}/max-{max_pixels()}"


#: Cache files untouched for this many days are deleted.
MAX_AGE_DAYS = 30

_log = logging.getLogger("flowerkit.data.checking")

Stamp = tuple[int, int, int, int]


def stamp(path: Path) -> Stamp | None:
    """What must be unchanged for a cached result to stay valid; ``None`` if unstat-able."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _entry(value: Any, expected: Stamp) -> Probe | None:
    if not isinstance(value, list) or len(value) != 10 or tuple(value[:4]) != expected:
        return None
    reason, message, sha, pixel_sha, width, height = value[4:]
    if not (
        (reason is None or isinstance(reason, str))
        and all(isinstance(v, str) for v in (message, sha, pixel_sha))
        and all(isinstance(v, int) for v in (width, height))
    ):
        return None
    return Probe(reason, message, sha, pixel_sha, width, height)


def _prune_old(folder: Path, keep: Path) -> None:
    """Delete cache files (and stray temporary files) older than :data:`MAX_AGE_DAYS`."""
    limit = time.time() - MAX_AGE_DAYS * 86_400
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            if path != keep and path.stat().st_mtime < limit:
                path.unlink()


class CheckCache:
    """Results for the files under one data folder, loaded from and saved to one file."""

    def __init__(self, file: Path | None, entries: dict[str, Any], root: str = "") -> None:
        self.file = file
        self.root = root
        self._entries = entries
        self._fresh: dict[str, list[Any]] = {}

    @classmethod
    def disabled(cls) -> CheckCache:
        return cls(None, {})

    @classmethod
    def open(cls, option: bool | str | os.PathLike[str], root: Path) -> CheckCache:
        """The cache for data folder ``root``; ``option`` is ``check_images``' ``cache``."""
        if option is False:
            return cls.disabled()
        try:
            folder = default_cache_dir() if option is True else Path(option).expanduser()
            name = hashlib.sha256(os.fsencode(root.absolute())).hexdigest()[:24]
            file = folder / "checks" / f"{name}.json"
        except (OSError, RuntimeError, ValueError, TypeError) as exc:  # e.g. no home folder
            _log.debug("check cache disabled: %s", exc)
            return cls.disabled()
        return cls(file, cls._read(file), str(root.absolute()))

    @staticmethod
    def _read(file: Path) -> dict[str, Any]:
        try:
            data = json.loads(file.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            _log.debug("ignoring unreadable check cache %s: %s", file, exc)
            return {}
        if (
            not isinstance(data, dict)
            or data.get("format") != _FORMAT
            or data.get("version") != _VERSION
            or data.get("decoder") != _decoder()
            or not isinstance(data.get("entries"), dict)
        ):
            return {}
        entries: dict[str, Any] = data["entries"]
        return entries

    def get(self, path: Path, current: Stamp | None) -> Probe | None:
        """The cached result for ``path`` if the file is unchanged, else ``None``."""
        if current is None or self.file is None:
            return None
        return _entry(self._entries.get(str(path.absolute())), current)

    def put(self, path: Path, current: Stamp | None, result: Probe) -> None:
        """Remember ``result``; ``current`` is the stamp taken *before* the file was read."""
        if current is None or self.file is None or result.reason in ("missing", "unreadable"):
            return
        self._fresh[str(path.absolute())] = [*current, *result]

    def save(self, seen: Iterable[Path], folders: Iterable[Path]) -> None:
        """Write the cache: fresh results in, entries for deleted files under ``folders`` out.

        Args:
            seen: the files found this time.
            folders: the folders searched; an old entry inside one of them that is not
                among ``seen`` belongs to a file that is gone.
        """
        if self.file is None:
            return
        seen_keys = {str(p.absolute()) for p in seen}
        prefixes = tuple(os.path.join(str(f.absolute()), "") for f in folders)
        stale = [k for k in self._entries if k.startswith(prefixes) and k not in seen_keys]
        if not self._fresh and not stale:
            with contextlib.suppress(OSError):  # used: not one to prune as unused
                os.utime(self.file)
            return
        gone = set(stale)
        entries = {k: v for k, v in self._entries.items() if k not in gone}
        entries.update(self._fresh)
        payload = {
            "format": _FORMAT,
            "version": _VERSION,
            "decoder": _decoder(),
            "root": self.root,
            "entries": entries,
        }
        tmp: str | None = None
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                json.dump(payload, handle, separators=(",", ":"))
            os.replace(tmp, self.file)
            tmp = None
            _prune_old(self.file.parent, keep=self.file)
        except Exception as exc:  # a cache problem must never fail a check
            _log.debug("could not write check cache %s: %s", self.file, exc)
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self._entries, self._fresh = entries, {}
