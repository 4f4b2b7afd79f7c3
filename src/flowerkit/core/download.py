"""Downloading one file, verified, with a timeout: :func:`download_file`.

Every download flowerkit makes goes through here (the ``flower_photos`` archive,
pretrained weights). It is flowerkit's own code rather than Keras'
``keras.utils.get_file`` because that function has no network timeout (an offline
machine behind a firewall that drops packets can hang for minutes), leaves a file that
failed its hash check in place, always prints a progress bar, and cannot read a mirror
that is a shared folder. Here:

* ``url`` is an ``http(s)://`` address (``urllib``, so ``$HTTPS_PROXY``/``$HTTP_PROXY``
  and ``$NO_PROXY`` apply), a ``file://`` URL or a plain path of a local or shared
  file;
* the bytes go to a temporary file beside ``dest``, named by
  :func:`~flowerkit.core.paths.temporary_prefix`, which is renamed to ``dest`` only when
  the size and the SHA-256 match; whatever fails, the temporary is deleted, so ``dest``
  is either the verified file or untouched;
* every failure is a :class:`~flowerkit.DownloadError` that names the address and says
  what to do, with a ``reason`` code a caller can act on (``"not_found"`` for a 404 or a
  missing file, ``"network"`` for no route, refused, DNS or a timeout, ``"size"`` and
  ``"checksum"`` for the wrong bytes).

Nothing here imports TensorFlow or any other flowerkit package.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from flowerkit._version import __version__
from flowerkit.core.paths import new_file_mode, temporary_prefix
from flowerkit.exceptions import ConfigError, DownloadError

__all__ = ["Progress", "download_file", "source_url"]

#: A progress callback: ``(bytes received so far, total bytes or None when unknown)``.
Progress = Callable[[int, int | None], None]

_CHUNK = 1 << 18
_URL_SCHEMES = ("http", "https", "file")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def source_url(source: str | os.PathLike[str]) -> str:
    """``source`` as a URL: an ``http(s)://`` or ``file://`` URL unchanged, a plain path
    (relative, absolute or ``~``) as the ``file://`` URL of its absolute path.

    Raises:
        ~flowerkit.ConfigError: for another scheme (``ftp://``, ``s3://``...).

    Example:
        >>> from flowerkit.core.download import source_url
        >>> source_url("https://example.org/w.h5")
        'https://example.org/w.h5'
        >>> source_url("/srv/share/w.h5")
        'file:///srv/share/w.h5'
    """
    text = os.fspath(source)
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme in _URL_SCHEMES:
        return text
    if scheme and len(scheme) > 1:  # one letter: a Windows drive, a path
        raise ConfigError(
            f"flowerkit downloads from http(s):// or file:// URLs and from folders; "
            f"it cannot read {text!r}. Received: url={text!r}"
        )
    return Path(text).expanduser().absolute().as_uri()


def download_file(
    url: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    size: int | None = None,
    sha256: str | None = None,
    timeout: float,
    progress: Progress | None = None,
) -> str:
    """Download ``url`` to ``dest``, checking its size and SHA-256; return the SHA-256.

    The file is written to a temporary beside ``dest`` and renamed into place only once
    every check passed; on any failure nothing is left (an existing ``dest`` is kept as
    it was). ``dest``'s folder is created if needed.

    Args:
        url: an ``http://`` or ``https://`` URL, a ``file://`` URL, or the path of a file
            (a shared folder can serve as a mirror).
        dest: where the verified file goes.
        size: the expected size in bytes, or ``None`` not to check it. A body that grows
            past it is stopped at once; a server announcing another ``Content-Length``
            is refused before anything is read.
        sha256: the expected SHA-256 in hex, or ``None`` not to check it.
        timeout: seconds to wait for the connection and for each read.
        progress: called as ``progress(done, total)`` after each chunk (``total`` is
            ``size``, else the length the server announced, else ``None``); its last
            call has ``done == total``.

    Returns:
        The SHA-256 of the file, in lower-case hex.

    Raises:
        ~flowerkit.DownloadError: no route, refused, DNS, timeout, HTTP error, a missing
            file (``reason`` ``"network"`` or ``"not_found"``), a body longer or shorter
            than ``size`` (``"size"``), a SHA-256 other than ``sha256``
            (``"checksum"``), or ``dest`` not writable (``"failed"``).
        ~flowerkit.ConfigError: a malformed ``sha256``, ``size`` or ``timeout``, or a
            URL scheme other than http, https and file.

    Example:
        >>> import hashlib
        >>> from pathlib import Path
        >>> from flowerkit.core.download import download_file
        >>> _ = Path("share").mkdir(), Path("share/w.bin").write_bytes(b"weights")
        >>> digest = hashlib.sha256(b"weights").hexdigest()
        >>> download_file("share/w.bin", "cache/w.bin", size=7, sha256=digest, timeout=5)
        '9a12...'
        >>> download_file("share/w.bin", "cache/v.bin", sha256="0" * 64, timeout=5)
        Traceback (most recent call last):
            ...
        flowerkit.DownloadError: The file from file:///.../share/w.bin has SHA-256 9a12...,
        expected 000...; it is damaged or not the right file, and was deleted. ...
        >>> sorted(p.name for p in Path("cache").iterdir())
        ['w.bin']
    """
    address = source_url(url)
    _check_arguments(size, sha256, timeout)
    target = Path(dest)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=temporary_prefix(target), dir=target.parent)
    except OSError as exc:
        raise _write_error(target, exc) from exc
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _copy(address, out, target, size, timeout, progress)
        if sha256 is not None and digest != sha256.lower():
            raise DownloadError(
                f"The file from {address} has SHA-256 {digest}, expected {sha256.lower()}; "
                "it is damaged or not the right file, and was deleted. Try again, or check "
                "what that address serves.",
                url=address,
                reason="checksum",
            )
        try:
            os.chmod(tmp, new_file_mode())
            os.replace(tmp, target)
        except OSError as exc:
            raise _write_error(target, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def _check_arguments(size: int | None, sha256: str | None, timeout: float) -> None:
    if sha256 is not None and not _HEX64.fullmatch(sha256):
        raise ConfigError(
            f"`sha256` must be 64 hexadecimal digits or None. Received: sha256={sha256!r}"
        )
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ConfigError(f"`size` must be a number of bytes >= 0 or None. Received: size={size!r}")
    if not timeout > 0:
        raise ConfigError(f"`timeout` must be a number of seconds > 0. Received: {timeout!r}")


def _copy(
    url: str,
    out: BinaryIO,
    dest: Path,
    size: int | None,
    timeout: float,
    progress: Progress | None,
) -> str:
    """Stream ``url`` into ``out``; return the SHA-256. Checks the size as it goes."""
    stream, announced = _open(url, dest, timeout)
    if size is not None and announced is not None and announced != size:
        stream.close()
        raise DownloadError(
            f"{url} offers {announced:,} bytes, expected {size:,}: it is not the expected "
            "file. Nothing was downloaded; check what that address serves.",
            url=url,
            reason="size",
        )
    total = size if size is not None else announced
    digest, received = hashlib.sha256(), 0
    with stream:
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise _network_error(url, dest, exc) from exc
            if not chunk:
                break
            received += len(chunk)
            if size is not None and received > size:
                raise DownloadError(
                    f"{url} sent more than the expected {size:,} bytes: it is not the "
                    "expected file. Stopped and deleted it; check what that address serves.",
                    url=url,
                    reason="size",
                )
            digest.update(chunk)
            try:
                out.write(chunk)
            except OSError as exc:
                raise _write_error(dest, exc) from exc
            if progress is not None:
                progress(received, total)
    if size is not None and received != size:
        raise DownloadError(
            f"{url} gave {received:,} bytes, expected {size:,}: the download was cut short "
            "or is not the expected file, and was deleted. Try again.",
            url=url,
            reason="size",
        )
    if progress is not None and total != received:
        progress(received, received)
    return digest.hexdigest()


def _open(url: str, dest: Path, timeout: float) -> tuple[BinaryIO, int | None]:
    """The body of ``url`` as a stream, and its announced length (if any)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
        try:
            stream = path.open("rb")
        except FileNotFoundError as exc:
            raise DownloadError(
                f"Could not download {url}: there is no such file.",
                url=url,
                reason="not_found",
            ) from exc
        except OSError as exc:
            raise DownloadError(f"Could not read {url}: {exc}.", url=url, reason="failed") from exc
        return stream, os.fstat(stream.fileno()).st_size
    request = urllib.request.Request(url, headers={"User-Agent": f"flowerkit/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the connection
        raise _network_error(url, dest, exc) from exc
    length = response.headers.get("Content-Length")
    announced = int(length) if length and length.isdigit() else None
    body: BinaryIO = response
    return body, announced


def _network_error(url: str, dest: Path, exc: BaseException) -> DownloadError:
    if isinstance(exc, urllib.error.HTTPError):
        cause = f"HTTP {exc.code} {exc.reason}"
        reason = "not_found" if exc.code in (404, 410) else "network"
    else:
        cause = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
        reason = "network"
    return DownloadError(
        f"Could not download {url} ({cause}). Check the network connection and any proxy "
        f"($HTTPS_PROXY), or fetch the file another way and put it at {dest}.",
        url=url,
        reason=reason,
    )


def _write_error(dest: Path, exc: OSError) -> DownloadError:
    return DownloadError(
        f"Could not write the download to {dest}: {exc}. Free some disk space or choose "
        "another folder (e.g. $FLOWERKIT_CACHE_DIR).",
        reason="failed",
    )
