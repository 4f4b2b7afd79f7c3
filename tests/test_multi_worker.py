"""Several workers for real: two processes on 127.0.0.1 form a MultiWorkerMirroredStrategy
cluster (``TF_CONFIG``, free ports) and train.

* the API run (``multi_worker_run.py``): both workers end with the same variables, bit
  for bit (batch-norm statistics included: synchronized, then re-estimated on every
  worker), equal to a one-process run of the same global batches, for a model trained
  from scratch, a student distilled from it, and a transfer model fine-tuned with class
  weights, early stopping, a time budget and calibration (after a learning-rate range
  test);
* ``flowerkit train --multi-worker``: one model, report and curves, written by the chief
  alone; a killed worker stops the other in bounded time with one clear error, and the
  same command again resumes from the chief's checkpoint and ends where an uninterrupted
  run ends; a worker that hangs is given up after the collective timeout.

Every process is started by this file, waited for with a timeout, and killed by its
handle if it outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from conftest import MakeFolder

HERE = Path(__file__).parent
RUN = HERE / "multi_worker_run.py"
#: Weights of two workers against one process: the same batches, summed in another order
#: (measured: 4e-7 for ``tutorial``; 1.1e-5 for ``compact``, whose synchronized batch norm
#: computes the variance as E[x^2] - E[x]^2 over the workers' sums).
TOLERANCE = 1e-5
TOLERANCE_BATCH_NORM = 1e-4
TRAIN = ["--preset", "tutorial", "--image-size", "32", "--batch-size", "6"]
TRAIN += ["--validation-split", "0.4", "--seed", "1"]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(tmp: Path, index: int | None, ports: Sequence[int] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["FLOWERKIT_CACHE_DIR"] = str(tmp / f"cache-{index}")  # one cache per machine
    if index is not None:
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
    return env


def _start(
    argv: list[str], tmp: Path, index: int | None, ports: Sequence[int], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *argv],
            env=_env(tmp, index, ports),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(procs: Sequence[subprocess.Popen[bytes]], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes.append(-9)
    return codes


def _pair(argv: list[str], tmp: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    ports = _free_ports(2)
    for index in range(2):
        yield _start(argv, tmp, index, ports, tmp / f"{name}-{index}.log")


def _pair_until(
    argv: list[str], tmp: Path, name: str, text: str
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Start a pair and return it once worker 1 has logged ``text`` (both still running)."""
    chief, other = _pair(argv, tmp, name)
    log = tmp / f"{name}-1.log"
    deadline = time.monotonic() + 240
    while text not in log.read_text(errors="replace") and time.monotonic() < deadline:
        assert chief.poll() is None and other.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    return chief, other


def _train_argv(folder: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return [
        "-m",
        "flowerkit",
        "train",
        str(folder),
        "--out",
        str(out),
        *TRAIN,
        "--epochs",
        str(epochs),
        *extra,
    ]


def _weights(path: Path) -> list[np.ndarray]:
    import keras

    return [np.asarray(w) for w in keras.saving.load_model(path).weights]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def folder(make_folder: MakeFolder) -> Path:
    return make_folder(per_class=10)


def test_two_workers_end_with_the_same_weights_as_one_process(folder: Path, tmp_path: Path) -> None:
    argv = [str(RUN), str(folder), str(tmp_path), "compact", "2"]
    workers = list(_pair(argv, tmp_path, "api"))
    reference = _start(argv, tmp_path, None, (), tmp_path / "api-one.log")
    codes = _wait([*workers, reference], 300)
    logs = [(tmp_path / f"api-{n}.log").read_text(errors="replace")[-3000:] for n in (0, 1, "one")]
    assert codes == [0, 0, 0], logs

    runs = {n: json.loads((tmp_path / f"run-{n}.json").read_text()) for n in ("0", "1", "one")}
    assert runs["0"]["train"] % 6 == 0  # whole batches: each worker gets 3 photos a step
    assert runs["0"]["history"] == runs["1"]["history"]  # the same logs: the same decisions
    assert all(runs["0"]["synchronized"]) and not any(runs["one"]["synchronized"])
    assert runs["0"]["temperature"] == runs["1"]["temperature"]  # calibrated alike
    assert runs["0"]["range_test"] == runs["1"]["range_test"]  # the learning-rate finder too
    assert len(runs["0"]["range_test"]) == len(runs["one"]["range_test"]) > 0
    assert runs["0"]["temperature"] == pytest.approx(runs["one"]["temperature"], rel=1e-3)
    w0, w1, one = (np.load(tmp_path / f"weights-{n}.npz") for n in ("0", "1", "one"))
    # every variable of the three models, batch-norm statistics included
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
        np.testing.assert_allclose(w0[key], one[key], atol=TOLERANCE_BATCH_NORM, rtol=0)
    np.testing.assert_allclose(
        runs["0"]["history"]["loss"], runs["one"]["history"]["loss"], rtol=1e-4
    )


@pytest.mark.slow  # three processes on two cores: ~30 s
def test_a_killed_worker_stops_the_other_and_the_rerun_resumes(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run" / "model.keras"
    argv = _train_argv(folder, out, 4, "--multi-worker", "--collective-timeout", "60")
    chief, other = _pair_until(argv, tmp_path, "first", "Epoch 2/")
    other.kill()  # by its handle
    other.wait()
    killed = time.monotonic()
    (code,) = _wait([chief], 120)
    waited = time.monotonic() - killed
    text = (tmp_path / "first-0.log").read_text(errors="replace")
    assert code == 1, text[-3000:]
    assert waited < 90  # bounded: the collective timeout (60 s) at most
    assert "Lost contact with another worker" in text and "start the same command again" in text
    assert text.count("flowerkit: error") == 1  # one clear error, no traceback
    assert "Traceback" not in text
    # Only the chief's checkpoint is left: no model, no files of the other worker.
    left = _files(out.parent)
    assert left[0] == "model.keras.checkpoint" and len(left) > 1
    assert all(p.startswith("model.keras.checkpoint/checkpoint-") for p in left[1:]), left

    workers = list(_pair(argv, tmp_path, "again"))
    one = tmp_path / "one" / "model.keras"
    reference = _start(_train_argv(folder, one, 4), tmp_path, None, (), tmp_path / "one.log")
    codes = _wait([*workers, reference], 300)
    again = [(tmp_path / f"again-{i}.log").read_text(errors="replace") for i in range(2)]
    assert codes == [0, 0, 0], [t[-3000:] for t in again] + [(tmp_path / "one.log").read_text()]
    assert "Epoch 1/" not in again[0] and "Epoch 4/4" in again[0]  # resumed, not restarted
    assert "the chief writes the model" in again[1]
    # The chief alone wrote, and its checkpoints are gone: one model, report and curves.
    assert _files(out.parent) == [
        "model.curves.png",
        "model.keras",
        "model.report.html",
        "model.report.json",
    ]

    for resumed, uninterrupted in zip(_weights(out), _weights(one), strict=True):
        np.testing.assert_allclose(resumed, uninterrupted, atol=TOLERANCE, rtol=0)


@pytest.mark.slow
def test_a_hung_worker_is_given_up_after_the_collective_timeout(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run" / "model.keras"
    argv = _train_argv(folder, out, 200, "--multi-worker", "--collective-timeout", "15")
    chief, other = _pair_until(argv, tmp_path, "hung", "Epoch 2/")
    other.send_signal(signal.SIGSTOP)  # alive, connected, silent
    try:
        stopped = time.monotonic()
        (code,) = _wait([chief], 120)
        waited = time.monotonic() - stopped
    finally:
        other.kill()
        other.wait()
    text = (tmp_path / "hung-0.log").read_text(errors="replace")
    assert code == 1, text[-3000:]
    assert "Lost contact with another worker" in text
    assert waited < 60, waited
