"""Pretrained weights fetched once, verified, from a mirror or not at all.

Nothing here touches the internet: the weights are served from 127.0.0.1 (or a folder)
through ``$FLOWERKIT_WEIGHTS_MIRROR``, and every folder flowerkit looks in is a fresh
temporary one, so the developer's own caches never count.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from flowerkit.cli import main
from flowerkit.core.download import download_file, source_url
from flowerkit.exceptions import ConfigError, DownloadError
from flowerkit.models.download import (
    KNOWN_WEIGHTS,
    MIRROR_ENV,
    OFFLINE_ENV,
    RECORD_NAME,
    fetch_weights,
    is_offline,
    verify_weights,
)
from flowerkit.models.local_weights import WEIGHTS_ENV, find_weights
from flowerkit.models.weights import default_preset
from loopback import SHARED_WEIGHTS, serving

needs_weights = pytest.mark.skipif(
    not SHARED_WEIGHTS.is_file(), reason="the shared MobileNetV2 weights file is not present"
)
PINNED, KERAS = KNOWN_WEIGHTS["mobilenet_v2"]


@dataclass
class Server:
    """A loopback HTTP server of ``files`` (name -> bytes); ``requests`` lists the paths
    asked for."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every weights folder a fresh temporary one, online, no mirror; returns the folder
    downloads go to."""
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv(OFFLINE_ENV, "0")
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    return tmp_path / "cache" / "weights"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A loopback server, set as the weights mirror."""
    state = Server(url="")
    with serving(state.files, state.requests) as url:
        state.url = f"{url}/weights/"
        monkeypatch.setenv(MIRROR_ENV, state.url)
        yield state


def _serve(server: Server, name: str, data: bytes) -> None:
    server.files[f"weights/{name}"] = data


@pytest.fixture(scope="module")
def pinned_bytes() -> bytes:
    if not SHARED_WEIGHTS.is_file():
        pytest.skip("the shared MobileNetV2 weights file is not present")
    return SHARED_WEIGHTS.read_bytes()


def _keras_like_h5(path: Path, payload: int = 1000) -> bytes:
    """A small HDF5 file shaped like Keras' legacy weights (a ``layer_names`` attribute)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"Conv1"])
        f.create_dataset("Conv1/kernel", data=np.arange(payload, dtype="float32"))
    return path.read_bytes()


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --------------------------------------------------------------------------- the happy path
@needs_weights
def test_pinned_file_is_downloaded_once_verified_and_found(
    cache: Path, server: Server, pinned_bytes: bytes
) -> None:
    _serve(server, PINNED.name, pinned_bytes)
    seen: list[tuple[int, int | None]] = []
    path = fetch_weights("mobilenet_v2", progress=lambda done, total: seen.append((done, total)))
    assert path == cache / PINNED.name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PINNED.sha256
    assert server.requests == [f"/weights/{PINNED.name}"]
    assert seen[-1] == (PINNED.size, PINNED.size) and len(seen) > 1
    assert _left_in(cache) == [PINNED.name]  # no temporaries, no record for a pinned file
    assert find_weights("mobilenet_v2") == path

    assert fetch_weights("mobilenet_v2") == path  # the second call: no request at all
    assert len(server.requests) == 1
    rows = {row.name: row for row in verify_weights()}
    assert rows[PINNED.name].status == "ok" and rows[PINNED.name].used
    assert rows[KERAS.name].status == "missing" and rows[KERAS.name].path is None


@needs_weights
@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_shared_folder_is_a_mirror(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    shutil.copy(SHARED_WEIGHTS, share / PINNED.name)
    monkeypatch.setenv(MIRROR_ENV, str(share) if form == "path" else share.as_uri())
    assert fetch_weights("mobilenet_v2") == cache / PINNED.name
    assert (cache / PINNED.name).read_bytes() == SHARED_WEIGHTS.read_bytes()


def test_a_mirror_without_the_first_file_gives_the_next(
    cache: Path, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _keras_like_h5(tmp_path / "k.h5")
    monkeypatch.setitem(KNOWN_WEIGHTS, "mobilenet_v2", (PINNED, replace(KERAS, size=len(data))))
    _serve(server, KERAS.name, data)
    path = fetch_weights("mobilenet_v2")
    assert path == cache / KERAS.name and path.read_bytes() == data
    assert server.requests == [f"/weights/{PINNED.name}", f"/weights/{KERAS.name}"]
    # No published checksum: the SHA-256 received is recorded, and verification uses it.
    record = json.loads((cache / RECORD_NAME).read_text())
    assert record[KERAS.name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert {row.name: row.status for row in verify_weights()}[KERAS.name] == "ok"
    changed = bytearray(data)
    changed[-1] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(changed))
    row = {row.name: row for row in verify_weights()}[KERAS.name]
    assert row.status == "mismatch" and "recorded" in row.detail


# --------------------------------------------------------------------------- bad files
@needs_weights
def test_corrupt_download_is_deleted_reported_and_never_loaded(
    cache: Path, server: Server, pinned_bytes: bytes
) -> None:
    corrupt = bytearray(pinned_bytes)
    corrupt[len(corrupt) // 2] ^= 0xFF
    _serve(server, PINNED.name, bytes(corrupt))
    with pytest.raises(DownloadError, match="SHA-256") as info:
        fetch_weights("mobilenet_v2")
    assert info.value.reason == "checksum"
    assert PINNED.name in str(info.value) and "deleted" in str(info.value)
    assert _left_in(cache) == []  # nothing kept, not even a temporary
    assert server.requests == [f"/weights/{PINNED.name}"]  # a bad file ends the attempt
    choice = default_preset()  # the default command falls back, saying why
    assert choice.preset == "compact" and "SHA-256" in choice.reason
    assert find_weights("mobilenet_v2") is None


@pytest.mark.parametrize("kind", ["wrong size", "not hdf5"])
def test_keras_file_of_the_wrong_size_or_format_is_refused(
    cache: Path, server: Server, tmp_path: Path, kind: str
) -> None:
    assert KERAS.sha256 is None and KERAS.size is not None
    if kind == "wrong size":
        data = _keras_like_h5(tmp_path / "k.h5")  # a real HDF5 file, but not Keras' size
        reason = "size"
    else:
        data = b"<html>a proxy's login page</html>".ljust(KERAS.size, b" ")
        reason = "invalid"
    _serve(server, KERAS.name, data)
    with pytest.raises(DownloadError) as info:
        fetch_weights("mobilenet_v2")
    assert info.value.reason == reason and KERAS.name in str(info.value)
    assert _left_in(cache) == []  # refused before any byte was kept, or deleted


def test_a_mirror_with_none_of_the_files_says_so(cache: Path, server: Server) -> None:
    with pytest.raises(DownloadError, match="has none of") as info:
        fetch_weights("mobilenet_v2")
    assert info.value.reason == "not_found" and server.url in str(info.value)
    assert len(server.requests) == 2


# --------------------------------------------------------------------------- no network
def test_offline_makes_no_request_and_says_what_to_do(
    cache: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve(server, PINNED.name, b"never sent")
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(DownloadError) as info:
        fetch_weights("mobilenet_v2")
    message = str(info.value)
    assert info.value.reason == "offline" and message.startswith("offline ($FLOWERKIT_OFFLINE")
    assert KERAS.name in message and str(KERAS.url) in message and str(cache) in message
    assert "$FLOWERKIT_WEIGHTS" in message and MIRROR_ENV in message
    assert len(message.splitlines()) == 1
    choice = default_preset()
    assert choice.preset == "compact" and choice.options == {}
    assert choice.reason.startswith("offline") and choice.reason.endswith("training from scratch")
    assert KERAS.name in choice.reason and str(cache) in choice.reason
    monkeypatch.setenv(OFFLINE_ENV, "0")
    with pytest.raises(DownloadError, match="offline=True"):
        fetch_weights("mobilenet_v2", offline=True)  # the argument beats the environment
    assert server.requests == []


def test_offline_setting_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, offline in [("1", True), ("YES", True), ("true", True), ("0", False), ("", False)]:
        monkeypatch.setenv(OFFLINE_ENV, value)
        assert is_offline() is offline
    monkeypatch.setenv(OFFLINE_ENV, "maybe")
    with pytest.raises(ConfigError, match="FLOWERKIT_OFFLINE"):
        is_offline()
    assert is_offline(False) is False


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_refused_connection_fails_at_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{_closed_port()}/w/")
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch_weights("mobilenet_v2", timeout=2)
    assert time.monotonic() - started < 2
    assert info.value.reason == "network"
    assert "could not download the ImageNet weights" in str(info.value)
    assert KERAS.name in str(info.value) and _left_in(cache) == []
    choice = default_preset()
    assert choice.preset == "compact" and "could not download" in choice.reason


def test_a_server_that_never_answers_times_out(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{silent.getsockname()[1]}/")
        started = time.monotonic()
        with pytest.raises(DownloadError, match="timed out") as info:
            fetch_weights("mobilenet_v2", timeout=0.3)
        assert time.monotonic() - started < 3
    assert info.value.reason == "network" and _left_in(cache) == []


def test_a_bad_mirror_setting_is_a_config_error(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIRROR_ENV, "s3://bucket/weights")
    with pytest.raises(ConfigError, match=MIRROR_ENV):
        fetch_weights("mobilenet_v2")
    with pytest.raises(ConfigError, match="no weights download"):
        fetch_weights("compact")


# --------------------------------------------------------------------------- download_file
def test_download_file_checks_as_it_goes(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 1000)
    digest = hashlib.sha256(b"x" * 1000).hexdigest()
    dest = tmp_path / "out" / "dest.bin"
    assert download_file(source, dest, size=1000, sha256=digest, timeout=1) == digest
    assert dest.read_bytes() == b"x" * 1000
    for size, sha in [(999, None), (1001, None), (None, "0" * 64)]:
        dest.write_bytes(b"old")
        with pytest.raises(DownloadError, match="expected"):
            download_file(source, dest, size=size, sha256=sha, timeout=1)
        assert dest.read_bytes() == b"old"  # an existing file is kept as it was
    assert _left_in(dest.parent) == ["dest.bin"]  # and no temporary is left
    with pytest.raises(DownloadError, match="no such file") as info:
        download_file(tmp_path / "absent.bin", dest, timeout=1)
    assert info.value.reason == "not_found"
    with pytest.raises(ConfigError, match="sha256"):
        download_file(source, dest, sha256="abc", timeout=1)
    with pytest.raises(ConfigError, match="cannot read"):
        download_file("ftp://example.org/x", dest, timeout=1)
    assert source_url(source) == source.as_uri()


def test_download_file_over_http_reports_progress_and_404(tmp_path: Path, server: Server) -> None:
    server.files["weights/a.bin"] = b"a" * 300_000
    seen: list[tuple[int, int | None]] = []
    download_file(
        server.url + "a.bin", tmp_path / "a.bin", timeout=2, progress=lambda *p: seen.append(p)
    )
    assert seen[-1] == (300_000, 300_000) and all(t == 300_000 for _, t in seen)
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download_file(server.url + "b.bin", tmp_path / "b.bin", timeout=2)
    assert info.value.reason == "not_found" and info.value.url == server.url + "b.bin"
    with pytest.raises(DownloadError, match="offers 300,000 bytes, expected 10"):
        download_file(server.url + "a.bin", tmp_path / "c.bin", size=10, timeout=2)
    assert _left_in(tmp_path) == ["a.bin"]


# --------------------------------------------------------------------------- the command line
def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@needs_weights
def test_weights_command_lists_and_verifies(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(["weights", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0
    assert [(r["name"], r["status"], r["path"]) for r in rows] == [
        (PINNED.name, "missing", None),
        (KERAS.name, "missing", None),
    ]
    assert rows[0]["target"] == str(cache / PINNED.name)

    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(SHARED_WEIGHTS, mine / PINNED.name)
    code, out, _ = _cli(["weights", "--json"], capsys)
    row = json.loads(out)[0]
    assert code == 0 and row["status"] == "ok" and row["used"] is True
    assert row["path"] == str(mine / PINNED.name) and row["actual_sha256"] == PINNED.sha256

    with (mine / PINNED.name).open("r+b") as f:  # tampered with, same size
        f.seek(4096)
        f.write(b"\0" * 16)
    code, out, err = _cli(["weights", "--json"], capsys)
    row = json.loads(out)[0]
    assert code == 1 and row["status"] == "mismatch"
    assert row["expected_sha256"] == PINNED.sha256 != row["actual_sha256"]
    assert "does not verify" in err and "--fetch" in err
    code, out, _ = _cli(["weights"], capsys)
    assert code == 1 and "mismatch" in out and str(mine) in out


@needs_weights
def test_weights_command_fetches_what_is_missing(
    cache: Path,
    server: Server,
    pinned_bytes: bytes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _serve(server, PINNED.name, pinned_bytes)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a progress line on a terminal
    code, out, err = _cli(["weights", "--fetch"], capsys)
    assert code == 0 and f"mobilenet_v2: {cache / PINNED.name}" in out
    assert "[used by default]" in out and server.url in out
    assert err.startswith("\rmobilenet_v2: [") and err.endswith("9.4/9.4 MB\n")
    code, _, err = _cli(["weights", "--fetch", "-q"], capsys)
    assert code == 0 and len(server.requests) == 1 and err == ""


def test_offline_default_train_says_why_and_trains_compact(
    cache: Path, server: Server, colour_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cache.parent / "m.keras"
    argv = ["train", str(colour_folder), "--out", str(out), "--image-size", "32", "--epochs", "1"]
    code, stdout, err = _cli([*argv, "--offline"], capsys)
    assert code == 0, err
    first = stdout.splitlines()[0]
    assert first.startswith("training the 'compact' preset: offline ($FLOWERKIT_OFFLINE")
    assert KERAS.name in first and first.endswith("training from scratch (--preset overrides)")
    assert server.requests == [] and os.environ[OFFLINE_ENV] == "0"  # restored after the run

    argv = ["train", str(colour_folder), "--out", str(out), "--preset", "mobilenet_v2"]
    code, _, err = _cli([*argv, "--offline"], capsys)
    assert code == 1 and server.requests == []  # asked for ImageNet weights: no fallback
    assert err.startswith("flowerkit: error: offline") and len(err.strip().splitlines()) == 1


@needs_weights
def test_default_train_online_fetches_through_the_mirror_and_trains_mobilenet_v2(
    cache: Path,
    server: Server,
    pinned_bytes: bytes,
    colour_folder: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import flowerkit as fk

    _serve(server, PINNED.name, pinned_bytes)
    out = cache.parent / "m.keras"
    argv = ["train", str(colour_folder), "--out", str(out), "--image-size", "32"]
    argv += ["--epochs", "1", "--fine-tune-epochs", "0", "--json"]
    code, stdout, err = _cli(argv, capsys)
    assert code == 0, err
    assert json.loads(stdout)["preset"] == "mobilenet_v2"
    loaded = fk.Classifier.load(out)
    assert loaded.preset == "mobilenet_v2"
    assert loaded.build_config["options"] == {"weights": str(cache / PINNED.name)}
    assert server.requests == [f"/weights/{PINNED.name}"]
