"""Training on several workers: each worker reads its own shard of the files.

Under ``MultiWorkerMirroredStrategy`` the pipelines of a :class:`~flowerkit.data.Datasets`
are replaced by sharded ones (:func:`flowerkit.training.distribute.distributed_inputs`):
each worker decodes only its share of the files, class weights travel with the batches as
sample weights, and batch-norm re-estimation reads every training image on every worker
so the replicas stay identical. On one machine, or with a ``tf.data`` pipeline of the
user's, this part changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from flowerkit.data import Datasets
from flowerkit.training import distribute
from flowerkit.training.part import Inputs, Part

if TYPE_CHECKING:
    from flowerkit.options.training import TrainOptions
    from flowerkit.training.trainer import Trainer

__all__ = ["WorkerShards"]


class WorkerShards(Part):
    """A multi-worker run's inputs: one shard of the files per worker."""

    def adapt(self, inputs: Inputs, trainer: Trainer, options: TrainOptions) -> Inputs:
        data = inputs.data
        strategy = trainer.strategy
        if strategy is None or not distribute.multi_worker(strategy):
            return inputs
        if not isinstance(data, Datasets):
            return inputs
        train, shard_validation = distribute.distributed_inputs(
            strategy, data, class_weight=inputs.class_weight
        )
        return replace(
            inputs,
            train=train,
            validation=shard_validation if inputs.validation_data is None else inputs.validation,
            class_weight=None,  # they travel with the batches as sample weights
            recalibration=data.train,  # every worker re-estimates on the same images
        )
