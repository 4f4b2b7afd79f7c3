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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from flowerkit.core import validation as v
from flowerkit.core.cluster import Cluster, cluster_of, multi_worker
from flowerkit.exceptions import ConfigError, DistributedError
from flowerkit.training.keras_multiworker import check_keras

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "Cluster",
    "DEFAULT_COLLECTIVE_TIMEOUT",
    "cluster_of",
    "make_strategy",
    "mean_across_workers",
    "model_strategy",
    "multi_worker",
    "scope",
    "from_chief",
    "lost_worker",
]

StrategyName = Literal["mirrored", "multi_worker"]
#: The strategies :func:`make_strategy` makes.
STRATEGIES: tuple[StrategyName, ...] = ("mirrored", "multi_worker")


#: How long, in seconds, a multi-worker run waits at a collective (a step's all-reduce) for
#: every worker before it stops with a :class:`~flowerkit.DistributedError`: the bound on
#: a hung or unreachable worker (a killed one on a reachable machine is noticed at once).
#: It must also cover the longest gap between workers reaching the first step, e.g. one
#: checking a folder its cache has not seen while another finds its cache warm.
DEFAULT_COLLECTIVE_TIMEOUT = 600.0


def make_strategy(
    kind: StrategyName = "mirrored",
    *,
    devices: int | None = None,
    timeout: float | None = None,
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
        timeout: with ``"multi_worker"``, the seconds a collective waits for every
            worker before the run stops with a :class:`~flowerkit.DistributedError`
            (default :data:`DEFAULT_COLLECTIVE_TIMEOUT`).

    Raises:
        ~flowerkit.ConfigError: an unknown ``kind``, a bad ``devices``, more devices
            than GPUs, a CPU that can no longer be split, or ``"multi_worker"`` without a
            valid ``TF_CONFIG`` (or with ``devices``), or a bad ``timeout``.
        ~flowerkit.DistributedError: ``"multi_worker"`` with a Keras release flowerkit's
            multi-worker training is not tested on (see
            :func:`~flowerkit.training.keras_multiworker.check_keras`).

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
        check_keras()
        seconds = DEFAULT_COLLECTIVE_TIMEOUT if timeout is None else timeout
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ConfigError(
                f"`timeout` must be a number of seconds above 0. Received: timeout={timeout!r}"
            )
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=float(seconds))
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if timeout is not None:
        raise ConfigError("`timeout` is for kind='multi_worker' (its collectives' timeout).")
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


def mean_across_workers(strategy: tf.distribute.Strategy) -> Callable[[float], float]:
    """A function that returns the mean of a figure over every replica of ``strategy``.

    Every worker calls it with its own figure at the same point (after the same batch), and
    every worker gets the same result: a collective all-reduce.
    """
    import tensorflow as tf

    def reduce(value: tf.Tensor) -> tf.Tensor:
        per_replica = strategy.run(lambda: tf.identity(value))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    traced = tf.function(reduce, reduce_retracing=True)  # once: eager collectives are slow

    def mean(value: float) -> float:
        return float(traced(tf.constant(value, tf.float32)))

    return mean


def from_chief(strategy: tf.distribute.Strategy, values: Sequence[Any]) -> list[tf.Tensor]:
    """The chief's ``values`` (tensors or variables), on every worker.

    For what only the chief knows: a resumed run's epoch, and the weights and optimizer
    state it read from its checkpoint. One collective: every replica but the chief's
    first contributes zeros to a sum. Every worker calls it at the same point, with
    values of the same shapes in the same order.
    """
    import tensorflow as tf

    if not values:
        return []
    shapes = [tuple(value.shape) for value in values]

    def contribution() -> tf.Tensor:
        context = tf.distribute.get_replica_context()
        flat = tf.concat([tf.reshape(tf.cast(value, tf.float64), [-1]) for value in values], 0)
        chief = tf.equal(context.replica_id_in_sync_group, 0)
        return tf.where(chief, flat, tf.zeros_like(flat))

    def total() -> tf.Tensor:
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(contribution), axis=None)

    sizes = [int(np.prod(shape, dtype=np.int64)) for shape in shapes]
    parts = tf.split(tf.function(total)(), sizes)  # eager collectives are slow, and warn
    return [
        tf.cast(tf.reshape(part, shape), value.dtype)
        for value, part, shape in zip(values, parts, shapes, strict=True)
    ]


#: The errors TensorFlow's collectives end with when a worker is gone or hangs.
_LOST = ("UnavailableError", "DeadlineExceededError", "CancelledError", "AbortedError")
#: Words of the line of such an error that says what happened.
_TELLING = ("aborted", "Deadline", "timed out", "timeout", "down", "refused")


def lost_worker(
    exc: BaseException, checkpoint_dir: str | os.PathLike[str] | None
) -> DistributedError | None:
    """The :class:`~flowerkit.DistributedError` to raise for ``exc`` when it says another
    worker is gone (killed, unreachable, or silent past the collective timeout), else
    ``None``."""
    if type(exc).__name__ not in _LOST:
        return None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    telling = [line for line in lines if any(word in line for word in _TELLING)]
    detail = (telling or [line for line in lines if "execution error" not in line] or [""])[0]
    resume = (
        f"The last completed epoch is kept in {checkpoint_dir} (on the chief): start the "
        "same command again on every worker to resume from it."
        if checkpoint_dir is not None
        else "Pass checkpoint_dir (the command line always does) to resume such a run."
    )
    return DistributedError(
        "Lost contact with another worker of the cluster, so training stopped on this one "
        f"too ({type(exc).__name__}: {detail[:300]}). {resume}"
    )
