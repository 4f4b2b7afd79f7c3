"""Pipelines safe to split over several replicas, and the same batches on every worker.

Under a ``tf.distribute`` strategy Keras hands each global batch to TensorFlow, which cuts
it into near-equal contiguous slices, one per replica. Before that, a run's pipelines go
through :func:`replica_batches`:

* **no replica ever gets an empty slice.** A batch smaller than the number of replicas
  (the last one of a folder one photo past a multiple of the batch size, on two
  replicas) would leave a replica without examples, and TensorFlow's oneDNN convolutions
  fail on an empty batch (``input depth must be evenly divisible by filter depth``). Such
  a batch gets copies of its first example with weight 0: they add nothing to the
  gradients or the metrics (as with any split batch, Keras averages that step's loss
  over the replicas, and its logged loss counts a stand-in's as 0);
* **class weights travel as sample weights**, which a distributed data set needs; a
  batch without them gets weight 1, which changes no figure;
* **several workers see the batches of one process.** ``load_datasets``' pipelines read
  no files TensorFlow could shard, and draw their order from the seed alone, so they are
  sharded by data: every worker runs the same pipeline and keeps its slices of each
  global batch. Global step ``s`` trains on batch ``s`` of a one-process run, every
  worker runs the same number of steps, and each holds every decoded image, as one
  machine does. A ``tf.data`` pipeline of the user's keeps its own sharding policy.

On one device, or without a strategy, nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flowerkit.data import Datasets
from flowerkit.exceptions import ConfigError
from flowerkit.training.part import Inputs, Part

if TYPE_CHECKING:
    import tensorflow as tf

    from flowerkit.options.training import TrainOptions
    from flowerkit.training.trainer import Trainer

__all__ = ["ReplicaBatches", "replica_batches", "weighted_batches"]


def weighted_batches(
    dataset: tf.data.Dataset, class_weight: Mapping[int, float] | None
) -> tf.data.Dataset:
    """``(inputs, labels, sample_weights)`` batches of ``(inputs, labels)`` ones.

    The weight of an example is its class's in ``class_weight`` (1 for a class not in
    it), or 1 without class weights. Batches that carry sample weights already keep them.

    Raises:
        ~flowerkit.ConfigError: ``class_weight`` with batches that carry sample weights,
            or batches that are not ``(inputs, labels[, sample_weights])`` tuples.
    """
    import tensorflow as tf

    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ConfigError(
            "Training under a strategy with several replicas needs (images, labels) or "
            "(images, labels, sample_weights) batches. Received batches of "
            f"{spec!r}."
        )
    if len(spec) == 3:
        if class_weight is not None:
            raise ConfigError(
                "`class_weight` cannot be combined with batches that carry sample weights; "
                "fold the class weights into the sample weights instead."
            )
        return dataset
    table = None
    if class_weight is not None:
        size = max([*class_weight, 0]) + 1
        table = tf.constant([float(class_weight.get(i, 1.0)) for i in range(size)], tf.float32)

    def weigh(inputs: Any, labels: Any) -> tuple[Any, Any, Any]:
        count = tf.shape(tf.nest.flatten(inputs)[0])[0]
        if table is None:
            return inputs, labels, tf.ones((count,), tf.float32)
        index = tf.cast(tf.reshape(labels, (count, -1))[:, 0], tf.int32)
        known = index < tf.shape(table)[0]
        gathered = tf.gather(table, tf.minimum(index, tf.shape(table)[0] - 1))
        return inputs, labels, tf.where(known, gathered, 1.0)

    return dataset.map(weigh)


def _padded(batch: Any, replicas: int) -> Any:
    """``(inputs, labels, weights)`` with at least ``replicas`` examples: a batch with
    fewer gets copies of its first example, of weight 0."""
    import tensorflow as tf

    inputs, labels, weights = batch
    count = tf.shape(weights)[0]
    missing = tf.maximum(replicas - count, 0)

    def pad() -> Any:
        def grow(t: tf.Tensor) -> tf.Tensor:
            return tf.concat([t, tf.repeat(t[:1], missing, axis=0)], axis=0)

        more = tf.nest.map_structure(grow, (inputs, labels))
        return (*more, tf.concat([weights, tf.zeros((missing,), weights.dtype)], axis=0))

    return tf.cond(missing > 0, pad, lambda: batch)


def replica_batches(
    dataset: tf.data.Dataset,
    replicas: int,
    *,
    class_weight: Mapping[int, float] | None = None,
    by_data: bool = False,
) -> tf.data.Dataset:
    """``dataset``'s global batches made safe to split over ``replicas`` replicas.

    Keras then distributes them as it does any ``tf.data`` pipeline: TensorFlow cuts each
    global batch into one near-equal slice per replica (see the module's notes).

    Args:
        dataset: ``(inputs, labels[, sample_weights])`` global batches.
        replicas: the strategy's replicas in sync.
        class_weight: ``{class index: weight}``, applied as sample weights.
        by_data: shard by data for several workers (every worker runs the whole pipeline
            and keeps its slices of each global batch), for pipelines of flowerkit's own,
            which read no files TensorFlow could shard; otherwise the pipeline's own
            sharding policy is kept.

    Returns:
        ``(inputs, labels, sample_weights)`` batches, none smaller than ``replicas``.
    """
    import tensorflow as tf

    weighted = weighted_batches(dataset, class_weight)
    ds = weighted.map(lambda *batch: _padded(batch, replicas))
    if by_data:
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy.DATA
        options.experimental_distribute.auto_shard_policy = policy
        ds = ds.with_options(options)
    return ds


class ReplicaBatches(Part):
    """The last part of a run under several replicas: its pipelines, safe to split.

    Batch-norm re-estimation and calibration keep reading the pipelines as they were
    (every worker the whole of them, so every worker gets the same statistics).
    """

    def adapt(self, inputs: Inputs, trainer: Trainer, options: TrainOptions) -> Inputs:
        strategy = trainer.strategy
        if strategy is None or strategy.num_replicas_in_sync < 2:
            return inputs
        replicas = strategy.num_replicas_in_sync
        ours = isinstance(inputs.data, Datasets)
        validation = inputs.validation
        if validation is not None:
            ours_too = ours and inputs.validation_data is None
            validation = replica_batches(validation, replicas, by_data=ours_too)
        return replace(
            inputs,
            train=replica_batches(
                inputs.train, replicas, class_weight=inputs.class_weight, by_data=ours
            ),
            validation=validation,
            class_weight=None,  # they travel with the batches as sample weights
            recalibration=inputs.train if inputs.recalibration is None else inputs.recalibration,
        )
