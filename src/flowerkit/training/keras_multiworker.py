"""Keras ``fit`` under ``MultiWorkerMirroredStrategy``: the two reductions done right.

Keras 3's TensorFlow trainer cannot train under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585, tensorflow/tensorflow#72388), for two reasons in
``keras/src/backend/tensorflow/trainer.py``:

* ``_maybe_symbolic_build`` reads a first batch and reduces it whole with
  ``strategy.reduce`` only to learn its shapes, and that strategy cannot reduce a nested
  structure;
* ``reduce_per_replica`` reduces every scalar metric result with ``axis=0``, which fails
  on a scalar.

:func:`multi_worker_reductions` replaces exactly those two while a multi-worker strategy
trains: the shapes come from the data set's ``element_spec`` (no batch is read, no
collective, so the first epoch's order is a one-process run's), and the
metric results are averaged over every replica of every worker with ``axis=None``, so
every worker logs the same figures and its callbacks (early stopping, the time budget,
checkpoints) decide the same. Under any other strategy both call Keras' own code.

Why a patch and not a training loop of flowerkit's own: Keras' ``fit`` is what runs every
callback, schedule, validation and metric flowerkit hangs on it; a loop of its own would
have to drive all of those again for one strategy. The price is two private names of one
Keras module, so the patch is limited to the Keras versions flowerkit's two-worker test
runs on (:data:`TESTED_KERAS`) and checked before anything trains
(:func:`check_keras`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flowerkit.exceptions import DistributedError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["TESTED_KERAS", "check_keras", "multi_worker_reductions"]

#: The Keras releases (major, minor) the replacement is tested on.
TESTED_KERAS: tuple[tuple[int, int], ...] = ((3, 15),)

#: What the replacement needs from ``keras.src.backend.tensorflow.trainer``.
_NEEDED = ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer")

_lock = threading.Lock()
_active = 0
_originals: dict[str, Any] = {}


def _trainer_module() -> Any:
    from keras.src.backend.tensorflow import trainer

    return trainer


def check_keras(version: str | None = None) -> None:
    """Raise :class:`~flowerkit.DistributedError` unless this Keras can train on several
    workers with flowerkit's replacement of its two reductions.

    Args:
        version: the Keras version to check (default: the installed one).
    """
    import keras

    version = keras.__version__ if version is None else version
    parts = version.split(".")
    try:
        release = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        release = (0, 0)
    supported = ", ".join(f"{major}.{minor}.x" for major, minor in TESTED_KERAS)
    way_out = (
        f"Install a Keras flowerkit's two-worker test runs on ({supported}, e.g. "
        f'pip install "keras>={TESTED_KERAS[-1][0]}.{TESTED_KERAS[-1][1]},'
        f'<{TESTED_KERAS[-1][0]}.{TESTED_KERAS[-1][1] + 1}"), or train on one machine '
        "with make_strategy('mirrored')."
    )
    if release not in TESTED_KERAS:
        raise DistributedError(
            f"flowerkit trains on several workers with Keras {supported} only; this is "
            f"Keras {version}, on which its fix of Keras' multi-worker reductions "
            f"(keras-team/keras#20585) is not tested. {way_out}"
        )
    module = _trainer_module()
    missing = [name for name in _NEEDED if not hasattr(module, name)]
    if not hasattr(module.TensorFlowTrainer, "_maybe_symbolic_build"):
        missing.append("TensorFlowTrainer._maybe_symbolic_build")
    if missing:
        raise DistributedError(
            f"Keras {version} no longer has the internals flowerkit replaces to train on "
            f"several workers ({', '.join(missing)}). {way_out}"
        )


def _local(strategy: tf.distribute.Strategy, value: Any) -> Any:
    """This worker's first local replica of ``value`` (``value`` if not distributed)."""
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _batch_shapes(strategy: tf.distribute.Strategy, iterator: Any) -> Any:
    """The shapes of ``iterator``'s batches: its data set's ``element_spec`` (no batch is
    read, so the first epoch's order is the one a one-process run draws), else this
    worker's first local replica of its first batch (no collective)."""
    import tensorflow as tf

    adapter = getattr(iterator, "data_adapter", None)
    spec = None if adapter is None else getattr(adapter.get_tf_dataset(), "element_spec", None)
    if spec is not None and all(isinstance(s, tf.TensorSpec) for s in tf.nest.flatten(spec)):
        return spec
    for _, _, batches in iterator:
        batch = next(batches)
        return tf.nest.map_structure(lambda value: _local(strategy, value), batch)
    return None


def _symbolic_build(original: Callable[..., Any], is_multi_worker: Callable[[Any], bool]) -> Any:
    def build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
        strategy = self._distribute_strategy
        if strategy is None or iterator is None or not is_multi_worker(strategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        data_batch = _batch_shapes(strategy, iterator)
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    return build


def _reduce_per_replica(
    original: Callable[..., Any], is_multi_worker: Callable[[Any], bool]
) -> Callable[..., Any]:
    def reduce(values: Any, strategy: tf.distribute.Strategy, reduction: str) -> Any:
        import tensorflow as tf

        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            # Metric results are per replica (their variables sync on read): the mean
            # over every replica of every worker, the same figure on each.
            return tf.nest.map_structure(
                lambda value: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None),
                values,
            )
        return original(values, strategy, reduction)

    return reduce


def _install() -> None:
    module = _trainer_module()
    trainer = module.TensorFlowTrainer
    is_multi_worker = module._collective_all_reduce_multi_worker
    _originals["build"] = trainer.__dict__["_maybe_symbolic_build"]
    _originals["reduce"] = module.reduce_per_replica
    trainer._maybe_symbolic_build = _symbolic_build(_originals["build"], is_multi_worker)
    module.reduce_per_replica = _reduce_per_replica(_originals["reduce"], is_multi_worker)


def _uninstall() -> None:
    module = _trainer_module()
    module.TensorFlowTrainer._maybe_symbolic_build = _originals.pop("build")
    module.reduce_per_replica = _originals.pop("reduce")


@contextlib.contextmanager
def multi_worker_reductions(active: bool) -> Iterator[None]:
    """While the block runs, Keras' ``fit``, ``evaluate`` and ``predict`` work under a
    strategy that spans several workers (``active``: whether the run's does); with
    ``active=False`` this does nothing. The replacements themselves call Keras' own code
    for any strategy that is not multi-worker.

    Nested and concurrent blocks share one replacement, removed when the last one ends.

    Raises:
        ~flowerkit.DistributedError: ``active``, and this Keras is not one the
            replacement is tested on (see :func:`check_keras`).
    """
    if not active:
        yield
        return
    check_keras()
    global _active
    with _lock:
        if not _active:
            _install()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if not _active:
                _uninstall()
