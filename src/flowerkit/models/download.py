"""Downloading pretrained weights once, verified: :func:`fetch_weights`, the files it knows
(:data:`KNOWN_WEIGHTS`), and :func:`verify_weights`, behind ``flowerkit weights``.

:data:`KNOWN_WEIGHTS` lists, per preset, the files that hold its ImageNet weights, in order
of preference, with their size and, where one is known, their SHA-256.
:func:`fetch_weights` returns a file already on this machine when there is one
(:func:`~flowerkit.models.local_weights.find_weights`: no network at all), else downloads
the first file it can into ``weights/`` in flowerkit's cache folder, verified, once. It
never touches the network when ``$FLOWERKIT_OFFLINE`` is ``1`` (:data:`OFFLINE_ENV`), and
downloads from ``$FLOWERKIT_WEIGHTS_MIRROR`` (:data:`MIRROR_ENV`: an internal server or a
shared folder) instead of the public addresses when it is set.

**Checksums.** A file with a pinned SHA-256 must match it. Keras publishes no checksum for
its MobileNetV2 weights (``keras.applications.MobileNetV2`` downloads them without one), so
for those flowerkit checks the size, that the file is an HDF5 file of Keras weights
(``layer_names``), and records the SHA-256 it received in ``checksums.json``
(:data:`RECORD_NAME`) in the cache folder, so that :func:`verify_weights` can tell when
the file changes later. A file that fails a check is deleted and reported, never loaded.
The transfers themselves are :func:`flowerkit.core.download.download_file`'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from flowerkit.core.download import Progress, download_file
from flowerkit.core.paths import remove_stale_temporaries, temporary_prefix
from flowerkit.exceptions import ConfigError, DownloadError
from flowerkit.models.local_weights import (
    WEIGHTS_ENV,
    find_weights,
    sha256_of,
    weights_cache_dir,
    weights_folders,
)
from flowerkit.models.registry import get_preset

__all__ = [
    "KNOWN_WEIGHTS",
    "MIRROR_ENV",
    "OFFLINE_ENV",
    "RECORD_NAME",
    "WeightsFile",
    "WeightsStatus",
    "fetch_weights",
    "is_offline",
    "verify_weights",
]

#: ``1``, ``true`` or ``yes``: never use the network for weights (``--offline`` sets it).
OFFLINE_ENV = "FLOWERKIT_OFFLINE"
#: A base URL (``https://...``, ``file://...``) or a folder the weights files are
#: downloaded from instead of their public addresses; a file's name is appended.
MIRROR_ENV = "FLOWERKIT_WEIGHTS_MIRROR"
#: The file in the weights cache folder that records the SHA-256 of each download that
#: had no published checksum.
RECORD_NAME = "checksums.json"

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
_KERAS_MOBILENET = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained weights file flowerkit knows how to fetch.

    Attributes:
        name: the file name (also its name in the cache and on a mirror).
        url: its public address, or ``None`` when only a mirror serves it.
        sha256: its SHA-256 in hex, or ``None`` when no one publishes it (then the size
            and the format are checked, and the SHA-256 received is recorded).
        size: its size in bytes, or ``None``.
        note: where it comes from, for people.

    Example:
        >>> from flowerkit.models.download import KNOWN_WEIGHTS
        >>> [(f.name, f.size) for f in KNOWN_WEIGHTS["mobilenet_v2"]]
        [('mobilenet_v2_1.0_224_no_top.weights.h5', 9449296),
         ('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5', 9406464)]
    """

    name: str
    url: str | None
    sha256: str | None
    size: int | None
    note: str = ""


#: The weights files of each preset that has a download, in order of preference.
KNOWN_WEIGHTS: dict[str, tuple[WeightsFile, ...]] = {
    "mobilenet_v2": (
        WeightsFile(
            "mobilenet_v2_1.0_224_no_top.weights.h5",
            url=None,  # no public address: served by a mirror (see MIRROR_ENV)
            sha256="6714965a05ee6d8568343664bb9cda7456c6eb1fa190a6f5eb39bf087068b100",
            size=9_449_296,
            note="ImageNet MobileNetV2 (alpha 1.0, no top) in Keras 3 format",
        ),
        WeightsFile(
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5",
            url=_KERAS_MOBILENET
            + "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5",
            # Keras publishes no SHA-256 for it: keras/src/applications/mobilenet_v2.py calls
            # get_file without file_hash. The size is that of Keras' download logs.
            sha256=None,
            size=9_406_464,
            note="Keras' own ImageNet MobileNetV2 weights for 160x160 (legacy HDF5)",
        ),
    ),
}


def is_offline(offline: bool | None = None) -> bool:
    """Whether weights must not be downloaded: ``offline`` when given, else
    ``$FLOWERKIT_OFFLINE`` (``1``/``true``/``yes``/``on``; unset, empty, ``0``/``false``/
    ``no``/``off`` mean online).

    Args:
        offline: ``True`` or ``False`` to decide here, ``None`` to ask the environment.

    Raises:
        ~flowerkit.ConfigError: ``$FLOWERKIT_OFFLINE`` holds anything else.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from flowerkit.models.download import is_offline
        >>> with mock.patch.dict(os.environ, {"FLOWERKIT_OFFLINE": "1"}):
        ...     is_offline(), is_offline(False)
        (True, False)
    """
    if offline is not None:
        return bool(offline)
    value = _env_offline().strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigError(
        f"${OFFLINE_ENV} must be 1, true or yes (offline) or 0, false or no; it is "
        f"{os.environ[OFFLINE_ENV]!r}."
    )


def _env_offline() -> str:
    return os.environ.get(OFFLINE_ENV, "")


def fetch_weights(
    preset: str = "mobilenet_v2",
    *,
    offline: bool | None = None,
    timeout: float = 5.0,
    progress: Progress | None = None,
) -> Path:
    """A local ImageNet weights file for ``preset``: one already on this machine, else one
    downloaded once into
    :func:`~flowerkit.models.local_weights.weights_cache_dir` and verified.

    A file :func:`~flowerkit.models.local_weights.find_weights` finds is returned without
    touching the network. Otherwise the files of :data:`KNOWN_WEIGHTS` are tried in order:
    at ``$FLOWERKIT_WEIGHTS_MIRROR`` when it is set (a file the mirror does not have moves
    on to the next), else at their public addresses. The first one that arrives and
    verifies is kept; a network failure or a file that fails its checks ends the attempt.

    Args:
        preset: a preset with known weights (see :data:`KNOWN_WEIGHTS`).
        offline: ``True`` never downloads; ``None`` follows ``$FLOWERKIT_OFFLINE``.
        timeout: seconds to wait for the connection and each read (a few seconds, so an
            offline machine finds out at once).
        progress: called as ``progress(done_bytes, total_bytes)`` while downloading.

    Returns:
        The weights file.

    Raises:
        ~flowerkit.DownloadError: offline, no network, a refused connection, a timeout,
            or a download that failed its checks (deleted). The message names the file,
            its address and the folders to put it in.
        ~flowerkit.ConfigError: a preset with no known weights download.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from flowerkit.models.download import fetch_weights
        >>> env = {"FLOWERKIT_CACHE_DIR": "cache", "KERAS_HOME": "keras", "FLOWERKIT_WEIGHTS": ""}
        >>> with mock.patch.dict(os.environ, env):
        ...     fetch_weights("mobilenet_v2", offline=True)
        Traceback (most recent call last):
            ...
        flowerkit.DownloadError: offline (offline=True): the ImageNet weights for
        'mobilenet_v2' are not on this machine and were not downloaded. To use them, put
        mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5 (from
        https://storage.googleapis.com/...) in cache/weights or in the folder
        $FLOWERKIT_WEIGHTS names, or set $FLOWERKIT_WEIGHTS_MIRROR to a server or shared
        folder that has it.
    """
    spec = get_preset(preset)
    found = find_weights(spec)
    if found is not None:
        return found
    entries = KNOWN_WEIGHTS.get(spec.name)
    if not entries:
        raise ConfigError(
            f"flowerkit knows no weights download for the {spec.name!r} preset (those it "
            f"knows: {', '.join(sorted(KNOWN_WEIGHTS))}). Pass a local weights file instead."
        )
    if is_offline(offline):
        why = f"offline={offline}" if offline is not None else f"${OFFLINE_ENV}={_env_offline()}"
        raise DownloadError(
            f"offline ({why}): the ImageNet weights for {spec.name!r} are not on this "
            f"machine and were not downloaded. {_advice(entries)}",
            reason="offline",
        )
    return _download_first(spec.name, entries, timeout, progress)


def _mirror_url(mirror: str, name: str) -> str:
    scheme = urllib.parse.urlsplit(mirror).scheme.lower()
    if scheme in ("http", "https", "file"):
        return mirror.rstrip("/") + "/" + urllib.parse.quote(name)
    if scheme and len(scheme) > 1:
        raise ConfigError(
            f"${MIRROR_ENV} must be an http(s):// or file:// URL or a folder; it is {mirror!r}."
        )
    return str(Path(mirror).expanduser() / name)


def _download_first(
    preset: str, entries: tuple[WeightsFile, ...], timeout: float, progress: Progress | None
) -> Path:
    mirror = os.environ.get(MIRROR_ENV) or None
    if mirror is not None:
        candidates = [(e, _mirror_url(mirror, e.name)) for e in entries]
    else:
        candidates = [(e, e.url) for e in entries if e.url is not None]
    if not candidates:
        raise DownloadError(
            f"the weights for {preset!r} have no public address. {_advice(entries)}",
            reason="not_found",
        )
    folder = weights_cache_dir()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)
    for entry, url in candidates:
        try:
            return _download_one(entry, url, folder, timeout, progress)
        except DownloadError as exc:
            if exc.reason == "not_found" and mirror is not None:
                continue
            what = (
                f"could not download the ImageNet weights for {preset!r} from {url}"
                if exc.reason in ("network", "not_found")
                else str(exc).rstrip(".")
            )
            cause = f" ({_cause(exc)})" if exc.reason in ("network", "not_found") else ""
            raise DownloadError(
                f"{what}{cause}. {_advice(entries)}", url=url, reason=exc.reason
            ) from exc
    names = ", ".join(e.name for e in entries)
    raise DownloadError(
        f"the weights mirror {mirror} (${MIRROR_ENV}) has none of {names}. {_advice(entries)}",
        url=mirror,
        reason="not_found",
    )


def _download_one(
    entry: WeightsFile, url: str, folder: Path, timeout: float, progress: Progress | None
) -> Path:
    """Download ``entry`` from ``url`` into ``folder``; only a verified file gets its name."""
    final = folder / entry.name
    staging = folder / (temporary_prefix(final) + "download")
    try:
        digest = download_file(
            url, staging, size=entry.size, sha256=entry.sha256, timeout=timeout, progress=progress
        )
        if entry.sha256 is None:
            _check_keras_weights(staging, url)
        os.replace(staging, final)
    except OSError as exc:
        if isinstance(exc, DownloadError):
            raise
        raise DownloadError(f"Could not save {final}: {exc}.", url=url) from exc
    finally:
        staging.unlink(missing_ok=True)
    if entry.sha256 is None:
        _record(folder, entry.name, {"sha256": digest, "size": entry.size, "url": url})
    return final


def _check_keras_weights(path: Path, url: str) -> None:
    """Refuse a file that is not HDF5 holding Keras (legacy) weights."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            ok = "layer_names" in f.attrs
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise DownloadError(
            f"The file from {url} is not Keras weights (an HDF5 file with 'layer_names'), "
            "and was deleted. Check what that address serves.",
            url=url,
            reason="invalid",
        )


def _cause(exc: DownloadError) -> str:
    cause = exc.__cause__
    if cause is None:
        return exc.reason
    text = str(getattr(cause, "reason", None) or cause)
    return text or type(cause).__name__


def _advice(entries: tuple[WeightsFile, ...]) -> str:
    """What to do: the file to fetch, its address, where to put it, or the mirror."""
    public = next((e for e in entries if e.url is not None), entries[0])
    source = f" (from {public.url})" if public.url else ""
    mirror = os.environ.get(MIRROR_ENV)
    other = (
        f"check ${MIRROR_ENV} ({mirror})"
        if mirror
        else f"set ${MIRROR_ENV} to a server or shared folder that has it"
    )
    return (
        f"To use them, put {public.name}{source} in {weights_cache_dir()} or in the folder "
        f"${WEIGHTS_ENV} names, or {other}."
    )


def _recorded(folder: Path) -> dict[str, Any]:
    """The SHA-256s recorded for downloads that had no published checksum."""
    try:
        data = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(folder: Path, name: str, entry: dict[str, Any]) -> None:
    """Record ``name``'s download; a record that cannot be written is skipped (the file
    is then reported as unverified, not refused)."""
    path = folder / RECORD_NAME
    tmp = folder / (temporary_prefix(path) + "json")
    try:
        tmp.write_text(json.dumps({**_recorded(folder), name: entry}, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------ verification
class WeightsStatus(NamedTuple):
    """One weights file and what :func:`verify_weights` found.

    Attributes:
        preset: the preset it is for.
        name: the file name.
        status: ``"ok"`` (the SHA-256 matches the pinned one, or the one recorded when it
            was downloaded), ``"missing"``, ``"mismatch"`` (the SHA-256, size or format is
            wrong: delete the file) or ``"unverified"`` (no checksum to compare with; its
            size and format are right, or it is not a file flowerkit knows).
        path: where it is, or ``None``.
        target: where :func:`fetch_weights` would put it.
        url: its public address, or ``None``.
        expected_sha256: the SHA-256 it should have, if known.
        actual_sha256: the SHA-256 it has, if found.
        used: whether it is the file
            :func:`~flowerkit.models.local_weights.find_weights` returns, the one training
            uses.
        detail: what was checked, for people.

    Example:
        >>> from flowerkit.models.download import WeightsStatus
        >>> row = WeightsStatus("mobilenet_v2", "w.h5", "missing", None, None, None)
        >>> row.to_dict()["status"], row.used
        ('missing', False)
    """

    preset: str
    name: str
    status: str
    path: Path | None
    target: Path | None
    url: str | None
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    used: bool = False
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values (paths as strings)."""
        row = self._asdict()
        for key in ("path", "target"):
            row[key] = None if row[key] is None else str(row[key])
        return row


def verify_weights(preset: str | None = None) -> list[WeightsStatus]:
    """Every known weights file of ``preset`` (default: of every preset with a download),
    where it is and whether it verifies; plus the file training would use when it is not
    one of them.

    Each file is looked for by name in
    :func:`~flowerkit.models.local_weights.weights_folders` (the first folder that has it
    counts), then hashed.

    Args:
        preset: a preset name, or ``None`` for all of :data:`KNOWN_WEIGHTS`.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from flowerkit.models.download import verify_weights
        >>> env = {"FLOWERKIT_CACHE_DIR": "cache", "KERAS_HOME": "keras", "FLOWERKIT_WEIGHTS": ""}
        >>> with mock.patch.dict(os.environ, env):
        ...     rows = verify_weights()
        >>> [(row.name[:20], row.status, row.target.parent.as_posix()) for row in rows]
        [('mobilenet_v2_1.0_224', 'missing', 'cache/weights'),
         ('mobilenet_v2_weights', 'missing', 'cache/weights')]
    """
    presets = sorted(KNOWN_WEIGHTS) if preset is None else [get_preset(preset).name]
    recorded = _recorded(weights_cache_dir())
    rows = []
    for name in presets:
        used = find_weights(name)
        entries = KNOWN_WEIGHTS.get(name, ())
        for entry in entries:
            path = next(
                (f / entry.name for f in weights_folders() if (f / entry.name).is_file()), None
            )
            row = _status(name, entry, path, recorded.get(entry.name))
            rows.append(row._replace(used=path is not None and path == used))
        if used is not None and used.name not in {e.name for e in entries}:
            rows.append(
                WeightsStatus(
                    name,
                    used.name,
                    "unverified",
                    used,
                    used,
                    None,
                    None,
                    sha256_of(used),
                    True,
                    "not a file flowerkit knows: nothing to compare with",
                )
            )
    return rows


def _status(preset: str, entry: WeightsFile, path: Path | None, recorded: Any) -> WeightsStatus:
    row = WeightsStatus(
        preset,
        entry.name,
        "missing",
        path,
        weights_cache_dir() / entry.name,
        entry.url,
        entry.sha256,
    )
    if path is None:
        return row._replace(detail="not on this machine")
    actual = sha256_of(path)
    row = row._replace(actual_sha256=actual)
    if entry.sha256 is not None:
        ok = actual == entry.sha256
        return row._replace(
            status="ok" if ok else "mismatch",
            detail="SHA-256 " + ("matches the pinned one" if ok else "differs from the pinned one"),
        )
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return row._replace(status="mismatch", detail=f"{size:,} bytes, expected {entry.size:,}")
    expected = recorded.get("sha256") if isinstance(recorded, dict) else None
    if isinstance(expected, str):
        ok = actual == expected
        return row._replace(
            status="ok" if ok else "mismatch",
            expected_sha256=expected,
            detail="SHA-256 "
            + ("matches" if ok else "differs from")
            + " the one recorded at download",
        )
    try:
        _check_keras_weights(path, str(path))
    except DownloadError:
        return row._replace(status="mismatch", detail="not an HDF5 file of Keras weights")
    return row._replace(
        status="unverified", detail="no published checksum: size and format checked"
    )
