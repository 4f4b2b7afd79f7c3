"""Training under tf.distribute: the sharded file pipeline, the cluster roles, the strategy
checks, and (in a subprocess whose CPU is split into two logical devices) the same run on
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
from flowerkit.data import load_datasets
from flowerkit.data.sharding import file_dataset
from flowerkit.training import callbacks as cb
from flowerkit.training import distribute

HERE = Path(__file__).parent
TWO_DEVICES = HERE / "distributed_run.py"


def _files(folder: Path) -> tuple[list[Path], list[int]]:
    data = load_datasets(folder, image_size=16, validation_split=0.0, seed=1)
    return list(data.train_files), list(data.train_labels)


def _labels_of(ds: object) -> list[int]:
    return [int(y) for _, ys, *_ in ds for y in np.asarray(ys)]  # type: ignore[attr-defined]


def test_shards_partition_the_files_and_each_decodes_only_its_own(
    make_folder: MakeFolder,
) -> None:
    paths, labels = _files(make_folder(per_class=5))
    shards = [
        file_dataset(paths, labels, image_size=(16, 16), batch_size=4, num_shards=2, index=i)
        for i in range(2)
    ]
    seen = [_labels_of(ds) for ds in shards]
    assert sorted(seen[0] + seen[1]) == sorted(labels)
    assert len(seen[0]) == 8 and len(seen[1]) == 7  # every 2nd file: sizes differ by <= 1
    assert seen[0] == labels[0::2] and seen[1] == labels[1::2]
    images, _ = next(iter(shards[0]))
    assert images.shape == (4, 16, 16, 3) and images.dtype.name == "uint8"


def test_shuffle_is_seeded_and_changes_every_epoch(make_folder: MakeFolder) -> None:
    paths, labels = _files(make_folder(per_class=6))

    def epochs(seed: int) -> list[list[int]]:
        ds = file_dataset(paths, labels, image_size=(8, 8), batch_size=32, shuffle=True, seed=seed)
        return [_labels_of(ds) for _ in range(2)]

    first = epochs(5)
    assert first == epochs(5)
    assert first[0] != first[1] and sorted(first[0]) == sorted(labels)
    assert epochs(6) != first


def test_class_weights_travel_as_sample_weights(make_folder: MakeFolder) -> None:
    paths, labels = _files(make_folder(per_class=2))
    ds = file_dataset(paths, labels, image_size=(8, 8), batch_size=6, class_weight={0: 2.0, 2: 0.5})
    _, ys, weights = next(iter(ds))
    expected = {0: 2.0, 1: 1.0, 2: 0.5}
    assert [float(w) for w in weights] == [expected[int(y)] for y in ys]


def test_file_dataset_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one label per file"):
        file_dataset([tmp_path / "a.png"], [], image_size=(8, 8), batch_size=1)
    with pytest.raises(ConfigError, match=r"`index` must be in 0\.\.1"):
        file_dataset([], [], image_size=(8, 8), batch_size=1, num_shards=2, index=2)


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


def test_a_worker_starts_from_the_chiefs_checkpoint(tmp_path: Path) -> None:
    import keras

    chief = tmp_path / "run.checkpoint"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    cb.write_checkpoint(chief, model, epochs_done=1, phase="train", history={"loss": [1.0]})
    assert distribute.worker_checkpoint_dir(chief, distribute.Cluster()) == chief
    own = distribute.worker_checkpoint_dir(chief, distribute.Cluster(2, "worker", 1))
    assert own == chief / "worker-1"
    copy = cb.latest_checkpoint(own)
    assert copy is not None and (copy.epochs_done, copy.history) == (1, {"loss": [1.0]})
    cb.clear_checkpoints(chief)  # the chief's clean-up takes the workers' copies too
    assert not chief.exists()


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
    """The default run: the tutorial preset, and mobilenet_v2 for the fine-tuning options
    (compact under two replicas: the slow test below)."""
    out = tmp_path_factory.mktemp("two-devices")
    return _two_devices(make_folder(per_class=16), out, "tutorial", "mobilenet_v2")


def test_two_replicas_follow_the_one_device_loss_curve(two_devices: dict[str, Any]) -> None:
    result = two_devices["curve"]
    one, two = np.array(result["one"]), np.array(result["two"])
    assert result["replicas"] == [1, 2]
    assert len(one) == len(two) == 4
    assert one[-1] < one[0]  # it learns
    np.testing.assert_allclose(two, one, rtol=1e-3)  # summation order differs


def test_presets_and_every_fit_option_work_under_two_replicas(
    two_devices: dict[str, Any],
) -> None:
    result = two_devices["options"]
    assert result["replicas"] == 2
    assert result["trained"] == ["tutorial", "mobilenet_v2"]
    assert result["fine_tuned_epochs"] == 2
    assert result["resumed_from"] == 1 and result["epochs_after_resume"] == 3
    assert result["budget_stopped"] is True
    assert result["temperature"] > 0
    assert result["same_predictions"] is True


@pytest.mark.slow
def test_every_builtin_preset_trains_under_two_replicas(
    make_folder: MakeFolder, tmp_path: Path
) -> None:
    result = _two_devices(make_folder(per_class=16), tmp_path)["options"]
    assert result["trained"] == ["tutorial", "compact", "mobilenet_v2"]
    assert result["fine_tuned_epochs"] == 2 and result["same_predictions"] is True


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
    assert not (tmp_path / "m.keras").exists()
