"""Data sets: the tutorial's ``flower_photos`` and the sample of it for the demo.

``flower_photos`` is downloaded and verified; the small sample of it ships inside
flowerkit for the demo.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from flowerkit.core.download import download_file
from flowerkit.core.paths import default_cache_dir
from flowerkit.exceptions import DownloadError

__all__ = [
    "FLOWER_PHOTOS_SHA256",
    "FLOWER_PHOTOS_SIZE",
    "FLOWER_PHOTOS_URL",
    "default_cache_dir",
    "demo_sample",
    "flower_photos",
]

#: Where :func:`flower_photos` downloads the tutorial's archive from.
FLOWER_PHOTOS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)
#: The archive's size in bytes, checked before it is extracted.
FLOWER_PHOTOS_SIZE = 228_813_984
#: The archive's SHA-256, checked before it is extracted.
FLOWER_PHOTOS_SHA256 = "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"


def demo_sample() -> tuple[Path, list[Path]]:
    """The embedded sample: a downscaled sample of ``flower_photos``.

    It ships inside flowerkit, so it needs no download: ``flowerkit demo`` trains on it.
    The photos are CC-BY 2.0; see ``ATTRIBUTION.md`` beside them. Treat the folder as
    read-only (it is inside the installed package).

    Returns:
        ``(folder of 5 class sub-folders x 24 photos, held-out photos)``: the folder to
        train on, and one photo per class that is not in it, sorted by name.

    Example:
        >>> from flowerkit.data import demo_sample, list_class_folders
        >>> folder, held_out = demo_sample()
        >>> list_class_folders(folder)
        ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
        >>> [photo.name.split("_")[0] for photo in held_out]
        ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
    """
    root = Path(__file__).resolve().parent / "_sample"
    return root / "flowers", sorted((root / "heldout").glob("*.jpg"))


def _check_member(member: tarfile.TarInfo, top: str) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DownloadError(f"The archive holds an unsafe path {member.name!r}; refusing it.")
    if not (member.isfile() or member.isdir()):
        raise DownloadError(
            f"The archive holds {member.name!r}, which is not a plain file or folder; refusing it."
        )
    if name.parts and name.parts[0] != top:
        raise DownloadError(f"The archive holds {member.name!r} outside {top!r}/; refusing it.")


def _extract(archive: Path, target_parent: Path, top: str) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target_parent))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(m, top)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                tar.extractall(staging, members=members, filter="data")
            else:  # every member was checked above: plain files and folders inside `top`
                tar.extractall(staging, members=members)
        if not (staging / top).is_dir():
            raise DownloadError(f"The archive has no {top!r}/ folder.")
        os.replace(staging / top, target_parent / top)
    except tarfile.TarError as exc:
        raise DownloadError(f"The archive {str(archive)!r} could not be extracted: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def flower_photos(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    url: str = FLOWER_PHOTOS_URL,
    sha256: str = FLOWER_PHOTOS_SHA256,
    size: int | None = FLOWER_PHOTOS_SIZE,
    timeout: float = 60.0,
) -> Path:
    """Download, verify and extract the tutorial's ``flower_photos``; return its folder.

    The archive is fetched once into ``cache_dir``, its size and SHA-256 checked, and
    extracted with every member checked (no absolute paths, no ``..``, no links or
    devices). Extraction goes to a temporary folder that is renamed into place, so a
    failure never leaves a half-extracted folder; the archive is deleted afterwards. Later
    calls return the folder without touching the network: a ``flower_photos`` folder
    already in ``cache_dir`` is returned as it is, so a copy downloaded by hand can be
    put there instead.

    Args:
        cache_dir: the folder to keep the data set in (default: the ``datasets`` folder
            in :func:`default_cache_dir`).
        url: where to download the archive from: an ``http(s)://`` or ``file://`` URL,
            or a path (see :func:`flowerkit.core.download.download_file`); the archive
            must hold a top-level ``flower_photos/`` folder.
        sha256: the archive's expected SHA-256, in hex.
        size: the archive's expected size in bytes, or ``None`` not to check it.
        timeout: the network timeout, in seconds.

    Returns:
        The extracted ``flower_photos`` folder.

    Raises:
        ~flowerkit.DownloadError: on any failure: the network, a size or SHA-256 that
            does not match (nothing is extracted then), or an archive that cannot be
            extracted or holds an unsafe member.

    Example:
        The first call downloads the 229 MB archive; here a small archive made on the spot
        stands in for it, through a ``file://`` URL:

        >>> import hashlib, tarfile
        >>> from pathlib import Path
        >>> from flowerkit.data import flower_photos, list_class_folders
        >>> with tarfile.open("mini.tgz", "w:gz") as tar:
        ...     tar.add("photos", arcname="flower_photos")
        >>> url = Path("mini.tgz").absolute().as_uri()
        >>> flower_photos("datasets", url=url, sha256="0" * 64, size=None)
        Traceback (most recent call last):
            ...
        flowerkit.DownloadError: The file from file://.../mini.tgz has SHA-256 ..., expected
        000...; it is damaged or not the right file. Nothing was extracted.
        >>> digest = hashlib.sha256(Path("mini.tgz").read_bytes()).hexdigest()
        >>> folder = flower_photos("datasets", url=url, sha256=digest, size=None)
        >>> folder.as_posix(), list_class_folders(folder)
        ('datasets/flower_photos', ['daisy', 'roses', 'tulips'])
        >>> flower_photos("datasets") == folder  # already there: no download
        True
    """
    base = default_cache_dir() / "datasets" if cache_dir is None else Path(cache_dir).expanduser()
    target = base / "flower_photos"
    if target.is_dir():
        return target
    base.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".flower_photos-", suffix=".tgz", dir=base)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        got = download_file(url, tmp, size=size, timeout=timeout)
        if got != sha256.lower():
            raise DownloadError(
                f"The file from {url} has SHA-256 {got}, expected {sha256}; it is damaged or "
                "not the right file. Nothing was extracted.",
                url=url,
                reason="checksum",
            )
        _extract(tmp, base, "flower_photos")
    finally:
        tmp.unlink(missing_ok=True)
    return target
