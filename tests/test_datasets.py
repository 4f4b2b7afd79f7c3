"""flower_photos download through a loopback HTTP server, and the embedded sample."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowerkit.data.downloads import demo_sample, flower_photos
from flowerkit.exceptions import DownloadError
from loopback import serving


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def serve() -> Iterator[dict[str, bytes]]:
    """Serve ``files[name] = bytes`` on 127.0.0.1; yields the dict and sets ``files['_url']``."""
    files: dict[str, bytes] = {}
    with serving(files) as url:
        files["_url"] = url.encode()
        yield files


GOOD = {
    "flower_photos/LICENSE.txt": b"CC-BY 2.0",
    "flower_photos/daisy/a.jpg": b"jpeg-bytes-a",
    "flower_photos/roses/b.jpg": b"jpeg-bytes-b",
}


def test_download_verify_extract_once(serve: dict[str, bytes], tmp_path: Path) -> None:
    data = _archive(GOOD)
    serve["flower_photos.tgz"] = data
    url = serve["_url"].decode() + "/flower_photos.tgz"
    folder = flower_photos(
        tmp_path, url=url, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    assert folder == tmp_path / "flower_photos"
    assert (folder / "roses" / "b.jpg").read_bytes() == b"jpeg-bytes-b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flower_photos"]  # archive removed
    del serve["flower_photos.tgz"]  # a second call must not download again
    assert flower_photos(tmp_path, url=url, sha256="0" * 64, size=1) == folder


def test_wrong_checksum_extracts_nothing(serve: dict[str, bytes], tmp_path: Path) -> None:
    data = _archive(GOOD)
    serve["f.tgz"] = data
    with pytest.raises(DownloadError, match="SHA-256") as info:
        flower_photos(
            tmp_path, url=serve["_url"].decode() + "/f.tgz", sha256="0" * 64, size=len(data)
        )
    assert isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_and_http_errors(serve: dict[str, bytes], tmp_path: Path) -> None:
    data = _archive(GOOD)
    serve["f.tgz"] = data
    base = serve["_url"].decode()
    with pytest.raises(DownloadError, match="expected"):
        flower_photos(
            tmp_path,
            url=base + "/f.tgz",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data) + 10,
        )
    with pytest.raises(DownloadError, match="Could not download"):
        flower_photos(tmp_path, url=base + "/missing.tgz", size=None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "evil", ["flower_photos/../../escape.txt", "/abs/flower_photos.txt", "other/x.jpg"]
)
def test_unsafe_archive_is_refused(serve: dict[str, bytes], tmp_path: Path, evil: str) -> None:
    data = _archive({**GOOD, evil: b"gotcha"})
    serve["f.tgz"] = data
    target = tmp_path / "cache"
    with pytest.raises(DownloadError, match="refusing"):
        flower_photos(
            target,
            url=serve["_url"].decode() + "/f.tgz",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
    assert not (target / "flower_photos").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert list(target.iterdir()) == []


def test_symlink_member_is_refused(serve: dict[str, bytes], tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("flower_photos/daisy/link.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    data = buffer.getvalue()
    serve["f.tgz"] = data
    with pytest.raises(DownloadError, match="not a plain file"):
        flower_photos(
            tmp_path,
            url=serve["_url"].decode() + "/f.tgz",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )


def test_demo_sample_is_small_and_attributed() -> None:
    folder, heldout = demo_sample()
    classes = sorted(p.name for p in folder.iterdir())
    assert classes == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    assert all(len(list((folder / c).glob("*.jpg"))) == 24 for c in classes)
    assert len(heldout) == 5
    total = sum(p.stat().st_size for p in folder.parent.rglob("*") if p.is_file())
    assert total < 2_000_000
    attribution = (folder.parent / "ATTRIBUTION.md").read_text()
    assert "Creative Commons Attribution 2.0" in attribution
    assert all(p.name.split("_", 1)[1].split("_")[0] in attribution for p in heldout)
