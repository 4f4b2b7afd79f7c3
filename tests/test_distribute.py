"""Training under tf.distribute: batches safe to split over replicas, the cluster roles, the
strategy checks, and (in a subprocess whose CPU is split into two logical devices) the same run on
one device and on two replicas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import MakeFolder
from flowerkit import ConfigError
from flowerkit.training import callbacks as cb
from flowerkit.training import distribute
from flowerkit.training.replicas import replica_batches
from tiny_presets import TINY_TRANSFER

HERE = Path(__file__).parent
TWO_DEVICES = HERE / "distributed_run.py"


def _batches(sizes: list[int]) -> Any:
    """``(images, labels)`` batches of the given sizes; image ``i`` holds the number ``i``."""
    import tensorflow as tf

    def batches() -> Any:
        first = 0
        for n in sizes:
            ids = np.arange(first, first + n)
            yield ids.astype(np.float32).reshape(n, 1, 1, 1), (ids % 3).astype(np.int32)
            first += n

    spec = (tf.TensorSpec((None, 1, 1, 1), tf.float32), tf.TensorSpec((None,), tf.int32))
    return tf.data.Dataset.from_generator(batches, output_signature=spec)


def _as_lists(ds: Any) -> list[tuple[list[float], list[int], list[float]]]:
    return [
        (np.asarray(x).reshape(-1).tolist(), np.asarray(y).tolist(), np.asarray(w).tolist())
        for x, y, w in ds
    ]


def test_a_batch_smaller_than_the_replicas_gets_zero_weight_stand_ins() -> None:
    # 17 photos in batches of 8 on 2 replicas: the last batch (one photo) would leave a
    # replica empty; it gets a copy of its photo with weight 0.
    out = _as_lists(replica_batches(_batches([8, 8, 1]), 2))
    assert [len(x) for x, _, _ in out] == [8, 8, 2]
    assert out[0][2] == [1.0] * 8  # batches without class weights: weight 1
    assert out[2] == ([16.0, 16.0], [1, 1], [1.0, 0.0])
    # On 4 replicas a batch of 3 gets one stand-in; one of 4 or more none.
    out = _as_lists(replica_batches(_batches([5, 3]), 4))
    assert [w for _, _, w in out] == [[1.0] * 5, [1.0, 1.0, 1.0, 0.0]]


def test_class_weights_travel_as_sample_weights() -> None:
    out = _as_lists(replica_batches(_batches([6]), 2, class_weight={0: 2.0, 2: 0.5}))
    ((_, ys, weights),) = out
    expected = {0: 2.0, 1: 1.0, 2: 0.5}  # a class without a weight keeps 1
    assert weights == [expected[y] for y in ys]


def test_replica_batches_refuse_what_they_cannot_weigh() -> None:
    import tensorflow as tf

    with_weights = _batches([4]).map(lambda x, y: (x, y, tf.ones_like(y, tf.float32)))
    assert _as_lists(replica_batches(with_weights, 2))[0][2] == [1.0] * 4  # kept as given
    with pytest.raises(ConfigError, match="cannot be combined"):
        replica_batches(with_weights, 2, class_weight={0: 2.0})
    with pytest.raises(ConfigError, match=r"\(images, labels\) or"):
        replica_batches(_batches([4]).map(lambda x, y: x), 2)


def test_cluster_roles() -> None:
    assert distribute.cluster_of(None) == distribute.Cluster()
    assert distribute.Cluster().is_chief
    assert distribute.Cluster(2, "worker", 0).is_chief
    assert not distribute.Cluster(2, "worker", 1).is_chief
    assert not distribute.Cluster(3, "worker", 0, has_chief=True).is_chief
    assert distribute.Cluster(3, "chief", 0, has_chief=True).is_chief


def test_make_strategy_rejects_what_it_cannot_make(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="kind"):
        distribute.make_strategy("ring")  # type: ignore[arg-type]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG environment variable, which is not set"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(ConfigError, match="not a valid cluster description"):
        distribute.make_strategy("multi_worker")
    with pytest.raises(ConfigError, match="`devices` is for kind='mirrored'"):
        distribute.make_strategy("multi_worker", devices=2)
    with pytest.raises(ConfigError, match="devices"):
        distribute.make_strategy("mirrored", devices=0)
    with pytest.raises(ConfigError, match="`timeout` is for kind='multi_worker'"):
        distribute.make_strategy("mirrored", timeout=10)
    config = '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}'
    monkeypatch.setenv("TF_CONFIG", config)
    for bad in (0, -1.0, "10", True):
        with pytest.raises(ConfigError, match="`timeout` must be a number of seconds"):
            distribute.make_strategy("multi_worker", timeout=bad)  # type: ignore[arg-type]


def test_a_model_built_outside_the_strategy_is_refused() -> None:
    import tensorflow as tf

    from flowerkit import Classifier
    from flowerkit.models import build_model

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    outside = build_model(2, image_size=16, preset="tutorial")
    with pytest.raises(ConfigError, match="not built in the scope"):
        Classifier(outside, ["a", "b"], strategy=strategy)
    with pytest.raises(ConfigError, match=r"must be a tf\.distribute\.Strategy"):
        Classifier(outside, ["a", "b"], strategy="mirrored")  # type: ignore[arg-type]
    clf = Classifier.from_preset(
        "tutorial", class_names=["a", "b"], image_size=16, strategy=strategy
    )
    assert clf.strategy is strategy
    # A model built in the scope the Keras way brings its strategy along.
    assert Classifier(clf.model, ["a", "b"]).strategy is strategy


def test_a_synced_time_budget_stops_every_worker_together() -> None:
    class Model:
        stop_training = False

    agreed: list[float] = []

    def sync(share: float) -> float:  # as if another worker were already past its budget
        agreed.append(share)
        return 1.5

    budget = cb.TimeBudget(3600.0, sync=sync)
    model = Model()
    budget.set_model(model)
    budget.on_train_begin()
    budget.on_epoch_begin(0)
    budget.on_train_batch_end(0)
    assert agreed and agreed[0] < 0.01  # its own share was tiny
    assert budget.stopped and model.stop_training
    assert budget.fraction() == 1.5  # the schedule follows the agreed share


def _two_devices(folder: Path, out: Path, *presets: str) -> dict[str, Any]:
    """One fresh process, its CPU split into two logical devices, runs the checks."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(TWO_DEVICES), str(folder), str(out), *presets],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def two_devices(
    make_folder: MakeFolder, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The default run: the loss curve and the uneven sizes (every fit option under two
    replicas: the slow tests below; the multi-worker run covers them in the default run)."""
    out = tmp_path_factory.mktemp("two-devices")
    return _two_devices(make_folder(per_class=16), out)


def test_two_replicas_follow_the_one_device_loss_curve(two_devices: dict[str, Any]) -> None:
    result = two_devices["curve"]
    one, two = np.array(result["one"]), np.array(result["two"])
    assert result["replicas"] == [1, 2]
    assert len(one) == len(two) == 4
    assert one[-1] < one[0]  # it learns
    np.testing.assert_allclose(two, one, rtol=1e-3)  # summation order differs


@pytest.mark.slow  # ~25 s: one more two-device process
def test_presets_and_every_fit_option_work_under_two_replicas(
    make_folder: MakeFolder, tmp_path: Path
) -> None:
    """mobilenet_v2's recipe on a tiny backbone, the tutorial preset, and every option."""
    result = _two_devices(make_folder(per_class=16), tmp_path, "tutorial", TINY_TRANSFER)["options"]
    assert result["replicas"] == 2
    assert result["trained"] == ["tutorial", TINY_TRANSFER]
    assert result["fine_tuned_epochs"] == 2
    assert result["resumed_from"] == 1 and result["epochs_after_resume"] == 3
    assert result["budget_stopped"] is True
    assert result["temperature"] > 0
    assert result["same_predictions"] is True


@pytest.mark.slow
def test_every_builtin_preset_trains_under_two_replicas(
    make_folder: MakeFolder, tmp_path: Path
) -> None:
    presets = ["tutorial", "compact", "mobilenet_v2"]
    result = _two_devices(make_folder(per_class=16), tmp_path, *presets)["options"]
    assert result["trained"] == presets
    assert result["fine_tuned_epochs"] == 2 and result["same_predictions"] is True


def test_no_size_of_data_crashes_two_replicas(two_devices: dict[str, Any]) -> None:
    sizes = two_devices["uneven"]
    assert sizes["folder"] == [43, 17]  # the last validation batch holds one photo
    for n in (9,):  # a last batch of one, in training, validation and evaluation
        assert sizes[str(n)] == [1, n, n]


def test_cli_refuses_bad_device_settings(
    make_folder: MakeFolder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flowerkit.cli import main

    folder, out = str(make_folder(per_class=2)), str(tmp_path / "m.keras")
    assert main(["train", folder, "--out", out, "--devices", "0"]) == 2
    assert "devices" in capsys.readouterr().err
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", folder, "--out", out, "--multi-worker"]) == 2
    assert "TF_CONFIG" in capsys.readouterr().err
    assert main(["train", folder, "--out", out, "--collective-timeout", "5"]) == 2
    assert "--collective-timeout is for --multi-worker" in capsys.readouterr().err
    assert not (tmp_path / "m.keras").exists()
