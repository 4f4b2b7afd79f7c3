"""Nothing lost under kills: a save or a checkpoint killed at any moment leaves the previous
one usable, and the next write removes what the killed one left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowerkit.core.paths import remove_stale_temporaries, temporary_prefix
from flowerkit.training import callbacks as cb


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _small_model() -> Any:
    import keras

    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def test_only_a_dead_writers_temporaries_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f".m.keras.pid{_dead_pid()}.abc.keras"
    live = tmp_path / f".m.keras.pid{os.getppid()}.abc.keras"  # the test runner's parent
    own = Path(str(tmp_path / temporary_prefix(tmp_path / "m.keras")) + "x.keras")
    user = tmp_path / ".hidden-user-file"
    for path in (dead, live, own, user):
        path.write_bytes(b"partial")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, own, user))


def test_a_save_removes_what_a_killed_save_left(trained: tuple[Any, Any], tmp_path: Path) -> None:
    clf, _ = trained
    path = clf.save(tmp_path / "m.keras")
    stale = tmp_path / f".m.keras.pid{_dead_pid()}.k3j.keras"
    stale.write_bytes(path.read_bytes()[:1000])  # a save killed half-way
    clf.save(tmp_path / "m.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_a_killed_checkpoint_write_leaves_the_one_before(tmp_path: Path) -> None:
    model = _small_model()
    first = cb.write_checkpoint(tmp_path, model, epochs_done=1, phase="train", history={"a": [1.0]})
    # Killed after writing the weights of epoch 2, before the rename: a temporary remains.
    partial = tmp_path / f".checkpoint-00002.pid{_dead_pid()}.x1"
    partial.mkdir()
    (partial / "weights.weights.h5").write_bytes(b"\x89HDF")
    assert cb.latest_checkpoint(tmp_path) == first
    # Killed after the rename, before the older one was removed: the newer one wins.
    second = tmp_path / "checkpoint-00002"
    second.mkdir()
    for item in first.path.iterdir():
        (second / item.name).write_bytes(item.read_bytes())
    state = (second / "state.json").read_text().replace('"epochs_done": 1', '"epochs_done": 2')
    (second / "state.json").write_text(state)
    latest = cb.latest_checkpoint(tmp_path)
    assert latest is not None and latest.epochs_done == 2
    # The next write leaves one checkpoint and nothing else.
    cb.write_checkpoint(tmp_path, model, epochs_done=3, phase="train", history={"a": [1.0] * 3})
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-00003"]


def test_a_checkpoint_restores_weights_and_history(tmp_path: Path) -> None:
    model = _small_model()
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0)
    cb.write_checkpoint(tmp_path, model, epochs_done=1, phase="train", history={"loss": [0.5]})
    other = _small_model()
    other.compile(optimizer="adam", loss="mse")
    latest = cb.latest_checkpoint(tmp_path)
    assert latest is not None
    cb.restore(other, latest)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(other.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    assert latest.history == {"loss": [0.5]}


_SAVING_LOOP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import flowerkit as fk

    folder, out = sys.argv[1], Path(sys.argv[2])
    data = fk.load_datasets(folder, image_size=16, batch_size=16, seed=1)
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=16)
    clf.fit(data, epochs=1, verbose=0)
    clf.save(out)
    print("saved", flush=True)
    while True:  # save and checkpoint, over and over, until killed
        clf.save(out)
        clf.fit(data, epochs=1, checkpoint_dir=out.with_suffix(".ckpt"), verbose=0)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.3, 0.7, 1.3])
def test_sigkill_at_any_moment_loses_nothing(
    colour_folder: Path, tmp_path: Path, delay: float
) -> None:
    import flowerkit as fk

    script = tmp_path / "loop.py"
    script.write_text(_SAVING_LOOP)
    out = tmp_path / "m.keras"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(colour_folder), str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "saved"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    clf = fk.Classifier.load(out)  # the last complete save
    assert clf.is_fitted
    ckpt = out.with_suffix(".ckpt")
    if ckpt.exists():
        assert cb.latest_checkpoint(ckpt) is not None or not list(ckpt.glob("checkpoint-*"))
    clf.save(out)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
