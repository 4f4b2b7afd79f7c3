"""Training under a ``tf.distribute`` strategy: on several devices of one machine, or on
several machines.

flowerkit adds no distribution engine of its own. A :class:`~flowerkit.Classifier` given a
strategy builds and compiles its model in the strategy's scope, and Keras' ``fit`` runs
each step on every replica and all-reduces the gradients. This module holds what
flowerkit needs around that:

* :func:`make_strategy`: ``MirroredStrategy`` over several GPUs (or, for tests on a
  machine without one, over the CPU split into logical devices), or
  ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``;
* :class:`Cluster` and :func:`cluster_of`: which worker this process is, and whether it is
  the chief (the one that writes the model, the report and the checkpoints);
* :func:`mean_across_workers`: one figure every worker agrees on (the time budget's
  progress, so all of them stop at the same step and follow the same schedule).

The batch size is global: ``load_datasets(batch_size=32)`` under two replicas gives each
16 images per step, and the recipe's learning rate is left as it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowerkit.core import validation as v
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "Cluster",
    "cluster_of",
    "make_strategy",
    "mean_across_workers",
    "model_strategy",
    "multi_worker",
    "scope",
    "worker_checkpoint_dir",
]

StrategyName = Literal["mirrored", "multi_worker"]
#: The strategies :func:`make_strategy` makes.
STRATEGIES: tuple[StrategyName, ...] = ("mirrored", "multi_worker")


def make_strategy(
    kind: StrategyName = "mirrored", *, devices: int | None = None
) -> tf.distribute.Strategy:
    """A ``tf.distribute`` strategy for :class:`~flowerkit.Classifier` (``strategy=``).

    Make it first thing in the process, before any other TensorFlow or flowerkit call:
    splitting the CPU, and ``MultiWorkerMirroredStrategy``, must come before TensorFlow
    starts its runtime. The batch size stays global (it is divided between the replicas).

    Args:
        kind: ``"mirrored"``: one machine, one replica per device
            (``tf.distribute.MirroredStrategy``); ``"multi_worker"``: several machines,
            each with its devices (``tf.distribute.MultiWorkerMirroredStrategy``), the
            cluster read from the ``TF_CONFIG`` environment variable.
        devices: with ``"mirrored"``, how many devices: the first ``devices`` GPUs
            (default: all of them). On a machine without a GPU the CPU is split into
            ``devices`` logical devices, which must happen before TensorFlow starts its
            runtime (first thing in the process): this runs the distributed path end
            to end, for tests, but is not faster than one device.

    Raises:
        ~flowerkit.ConfigError: an unknown ``kind``, a bad ``devices``, more devices
            than GPUs, a CPU that can no longer be split, or ``"multi_worker"`` without a
            valid ``TF_CONFIG`` (or with ``devices``).

    Returns:
        A ``tf.distribute.MirroredStrategy`` or ``tf.distribute.MultiWorkerMirroredStrategy``.

    Example:
        One device, which works at any point (a strategy over several CPU devices must
        be made before TensorFlow starts, as ``flowerkit train --devices N`` does):

        >>> from flowerkit.training.distribute import make_strategy
        >>> strategy = make_strategy("mirrored", devices=1)
        >>> strategy.num_replicas_in_sync
        1
        >>> make_strategy("multi_worker", devices=2)
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `devices` is for kind='mirrored'; a multi-worker run uses ...
    """
    import tensorflow as tf

    v.check_choice(kind, "kind", STRATEGIES)
    if kind == "multi_worker":
        if devices is not None:
            raise ConfigError(
                "`devices` is for kind='mirrored'; a multi-worker run uses every GPU (or the "
                "CPU) of each machine in TF_CONFIG."
            )
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices is not None:
        devices = v.check_positive_int(devices, "devices")
    # Physical devices: listing logical ones would start the runtime, and a CPU can only
    # be split before that.
    gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus:
        if devices is not None and devices > gpus:
            raise ConfigError(
                f"devices={devices} but this machine has {gpus} GPU(s); pass at most {gpus}."
            )
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(devices or gpus)])
    return tf.distribute.MirroredStrategy([d.name for d in _cpu_devices(devices or 1)])


def _cpu_devices(count: int) -> list[Any]:
    """``count`` logical CPU devices, splitting the CPU if it is not split that way yet."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as exc:  # the runtime has started: keep what it has, if enough
        logical = tf.config.list_logical_devices("CPU")
        if len(logical) >= count:
            return list(logical[:count])
        raise ConfigError(
            f"Cannot split the CPU into {count} logical devices: TensorFlow's runtime has "
            "already started in this process. Make the strategy first thing, before any "
            "other TensorFlow or flowerkit call (or run `flowerkit train --devices N`)."
        ) from exc
    return list(tf.config.list_logical_devices("CPU")[:count])


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError(
            "kind='multi_worker' reads the cluster from the TF_CONFIG environment variable, "
            'which is not set. Set it on every machine, e.g. {"cluster": {"worker": '
            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.'
        )
    try:
        doc = json.loads(raw)
        workers = doc["cluster"]["worker"]
        task = doc["task"]
        ok = isinstance(workers, list) and task["type"] in ("worker", "chief")
        ok = ok and isinstance(task["index"], int)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ConfigError(
            "TF_CONFIG is not a valid cluster description: it needs "
            '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": N}}. '
            f"Received: {raw[:200]!r}"
        )


@dataclass(frozen=True)
class Cluster:
    """Where this process stands in a (possibly one-process) training run.

    Attributes:
        num_workers: worker processes taking part (1 without a multi-worker strategy).
        task_type: ``"chief"``, ``"worker"`` or ``None`` (one process).
        task_index: this process's index among its ``task_type``.
        has_chief: whether the cluster has a ``chief`` task besides its workers.
    """

    num_workers: int = 1
    task_type: str | None = None
    task_index: int = 0
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the model, the report and the checkpoints: the
        ``chief`` task, or worker 0 when the cluster names no chief."""
        return self.task_type in (None, "chief") or (
            self.task_type == "worker" and self.task_index == 0 and not self.has_chief
        )


def cluster_of(strategy: tf.distribute.Strategy | None) -> Cluster:
    """The :class:`Cluster` of ``strategy`` (one process for ``None`` or a one-machine
    strategy)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if strategy is None or resolver is None or not resolver.task_type:
        return Cluster()
    spec = resolver.cluster_spec().as_dict()
    workers = sum(len(spec.get(job, ())) for job in ("chief", "worker"))
    return Cluster(
        num_workers=max(workers, 1),
        task_type=str(resolver.task_type),
        task_index=int(resolver.task_id or 0),
        has_chief="chief" in spec,
    )


def scope(strategy: tf.distribute.Strategy | None) -> contextlib.AbstractContextManager[Any]:
    """``strategy.scope()``, or a context that does nothing for ``None``."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def model_strategy(
    model: keras.Model, strategy: tf.distribute.Strategy | None
) -> tf.distribute.Strategy | None:
    """The strategy a classifier of ``model`` trains under.

    A model built in a strategy's scope (the Keras way) brings that strategy along; a
    ``strategy`` given as well must be the same one.

    Raises:
        ~flowerkit.ConfigError: ``strategy`` is given but the model's variables were
            not created in its scope.
    """
    import tensorflow as tf

    built_in = getattr(model, "_distribute_strategy", None)  # set by Keras' TF trainer
    if strategy is None:
        return built_in
    if not isinstance(strategy, tf.distribute.Strategy):
        raise ConfigError(
            "`strategy` must be a tf.distribute.Strategy (see flowerkit.training."
            f"make_strategy). Received an object of type {type(strategy).__name__}."
        )
    if built_in is not strategy:
        raise ConfigError(
            "The model was not built in the scope of the `strategy` given, so its weights "
            "are not replicated. Build it inside `with strategy.scope():` (or use "
            "Classifier.from_preset(..., strategy=strategy), which does)."
        )
    return strategy


def multi_worker(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether ``strategy`` spans more than one worker process."""
    return cluster_of(strategy).num_workers > 1


def mean_across_workers(strategy: tf.distribute.Strategy) -> Callable[[float], float]:
    """A function that returns the mean of a figure over every replica of ``strategy``.

    Every worker calls it with its own figure at the same point (after the same batch), and
    every worker gets the same result: a collective all-reduce.
    """
    import tensorflow as tf

    def mean(value: float) -> float:
        per_replica = strategy.run(lambda: tf.constant(value, tf.float32))
        return float(strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None))

    return mean


def worker_checkpoint_dir(folder: Path, cluster: Cluster) -> Path:
    """Where this process writes its checkpoints of a run checkpointed in ``folder``.

    The chief writes to ``folder``. Every other worker writes to its own
    ``folder/worker-<index>`` after taking a copy of the chief's last checkpoint, so a
    restarted cluster resumes on every worker from the same epoch.
    """
    if cluster.is_chief:
        return folder
    own = folder / f"worker-{cluster.task_index}"
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir(parents=True, exist_ok=True)
    for item in _checkpoint_items(folder):
        target = own / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)
    return own


def _checkpoint_items(folder: Path) -> Iterator[Path]:
    from flowerkit.training.callbacks import latest_checkpoint

    latest = latest_checkpoint(folder) if folder.is_dir() else None
    if latest is not None:
        yield latest.path
