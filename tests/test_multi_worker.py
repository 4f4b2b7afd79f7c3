"""Several workers: ``flowerkit train --multi-worker`` as two processes on loopback.

With the Keras this release is tested against, ``fit`` cannot run under
``MultiWorkerMirroredStrategy`` (keras-team/keras#20585, tensorflow/tensorflow#72388):
Keras reduces a whole batch, and then every scalar metric, with ``strategy.reduce``, which
that strategy rejects. This test documents exactly that: both workers start, form the
cluster, and stop with flowerkit's :class:`~flowerkit.DistributedError` naming the upstream
issue, and nothing is written. The day Keras trains under the strategy this test fails,
and its second half (only the chief writes the model) shows what then works; the
killed-worker and resume checks are to be added then.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MakeFolder

pytestmark = pytest.mark.slow


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _worker(index: int, ports: list[int], folder: Path, out: Path) -> subprocess.Popen[str]:
    config = {
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    }
    env = {**os.environ, "TF_CONFIG": json.dumps(config), "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [sys.executable, "-m", "flowerkit", "train", str(folder), "--out", str(out)]
    argv += ["--multi-worker", "--preset", "tutorial", "--epochs", "2", "--image-size", "32"]
    argv += ["--batch-size", "8"]
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, env=env, stdout=pipe, stderr=pipe, text=True)


def test_two_workers_on_loopback(make_folder: MakeFolder, tmp_path: Path) -> None:
    folder = make_folder(per_class=8)
    out = tmp_path / "model.keras"
    ports = _free_ports(2)
    workers = [_worker(i, ports, folder, out) for i in range(2)]
    results = [w.communicate(timeout=600) for w in workers]
    codes = [w.returncode for w in workers]
    stderr = [err for _, err in results]
    if all(code == 0 for code in codes):
        assert out.exists(), "the chief (worker 0) writes the model"
        assert "the chief writes the model" in results[1][0]
        pytest.fail(
            "Keras now trains under MultiWorkerMirroredStrategy: add the killed-worker and "
            "resume checks to this test, and update docs/distributed.rst."
        )
    for code, err in zip(codes, stderr, strict=True):
        assert code == 1, err[-2000:]
        assert "cannot train under MultiWorkerMirroredStrategy" in err, err[-2000:]
        assert "keras-team/keras#20585" in err
    assert not out.exists()
    assert "2 workers, 2 replicas" in results[0][0] + stderr[0]
