"""The replacement of Keras' two multi-worker reductions, without a cluster: where it
applies, what it computes, that it goes away after the run, and the Keras check.
(tests/test_multi_worker.py trains two real workers with it.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowerkit import DistributedError
from flowerkit.training import keras_multiworker as kmw
from flowerkit.training.distribute import lost_worker


def _keras_functions() -> tuple[Any, Any]:
    from keras.src.backend.tensorflow import trainer

    return trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"], trainer.reduce_per_replica


def test_the_replacement_lives_only_while_a_multi_worker_run_trains() -> None:
    keras_own = _keras_functions()
    with kmw.multi_worker_reductions(False):
        assert _keras_functions() == keras_own  # one machine: Keras' own code
    with kmw.multi_worker_reductions(True):
        replaced = _keras_functions()
        assert replaced[0] is not keras_own[0] and replaced[1] is not keras_own[1]
        with kmw.multi_worker_reductions(True):  # nested: one replacement
            assert _keras_functions() == replaced
        assert _keras_functions() == replaced
    assert _keras_functions() == keras_own
    with pytest.raises(RuntimeError), kmw.multi_worker_reductions(True):
        raise RuntimeError("a failed fit")
    assert _keras_functions() == keras_own


def test_metric_results_are_averaged_over_every_replica_as_scalars() -> None:
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    calls: list[str] = []

    def keras_reduce(values: Any, strategy: Any, reduction: str) -> Any:
        calls.append(reduction)
        return values

    reduce = kmw._reduce_per_replica(keras_reduce, lambda s: True)
    per_replica = strategy.run(lambda: {"loss": tf.constant(2.5), "accuracy": tf.constant(0.5)})
    out = reduce(per_replica, strategy, "auto")  # Keras' axis=0 fails on these scalars
    assert {k: float(v) for k, v in out.items()} == {"loss": 2.5, "accuracy": 0.5}
    assert reduce(per_replica, strategy, "concat") is per_replica and calls == ["concat"]
    one_machine = kmw._reduce_per_replica(keras_reduce, lambda s: False)
    assert one_machine(per_replica, strategy, "auto") is per_replica  # Keras' own path


def test_shapes_come_from_the_element_spec_without_reading_a_batch() -> None:
    import tensorflow as tf

    read: list[int] = []

    def batches() -> Any:
        read.append(1)
        yield np.zeros((2, 4, 4, 3), np.float32), np.zeros((2,), np.int32)

    spec = (tf.TensorSpec((None, 4, 4, 3), tf.float32), tf.TensorSpec((None,), tf.int32))
    ds = tf.data.Dataset.from_generator(batches, output_signature=spec)

    class Adapter:
        def get_tf_dataset(self) -> Any:
            return ds

    class EpochIterator:
        data_adapter = Adapter()

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert kmw._batch_shapes(strategy, EpochIterator()) == spec
    assert not read  # the first epoch's order is left for the first epoch


def test_keras_releases_it_is_not_tested_on_are_refused() -> None:
    kmw.check_keras()  # the installed one
    with pytest.raises(DistributedError, match=r"this is Keras 3\.16\.0") as info:
        kmw.check_keras("3.16.0")
    assert 'pip install "keras>=3.15,<3.16"' in str(info.value)
    assert "make_strategy('mirrored')" in str(info.value)
    with pytest.raises(DistributedError, match=r"Keras 2\.15\.0"):
        kmw.check_keras("2.15.0")


def test_a_lost_worker_is_one_clear_error(tmp_path: Path) -> None:
    import tensorflow as tf

    text = (
        "Graph execution error:\n\nCollective ops is aborted by: failed to connect to all "
        "addresses; Connection refused\nThe error could be from a previous operation."
    )
    lost = lost_worker(tf.errors.UnavailableError(None, None, text), tmp_path / "ck")
    assert isinstance(lost, DistributedError)
    message = str(lost)
    assert "Lost contact with another worker" in message
    assert "Collective ops is aborted by" in message and "Graph execution" not in message
    assert f"{tmp_path / 'ck'}" in message and "start the same command again" in message
    assert "Pass checkpoint_dir" in str(
        lost_worker(tf.errors.DeadlineExceededError(None, None, "x"), None)
    )
    assert lost_worker(ValueError("a bug of ours"), None) is None
