"""The parts of a training run: what each contributes, and the inputs they adapt.

A run (:meth:`flowerkit.training.trainer.Trainer.train`) is a list of :class:`Part`
objects, each in its own module: :mod:`~flowerkit.training.plain` (the data as pipelines,
``fit``'s phases), :mod:`~flowerkit.training.fine_tuning`,
:mod:`~flowerkit.training.distill` and :mod:`~flowerkit.training.replicas` (last: the
batches made safe to split over several replicas). Like
fastai's callbacks, a part overrides only the hooks it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

    from flowerkit.data import Datasets
    from flowerkit.models import TrainingRecipe
    from flowerkit.options.training import TrainOptions
    from flowerkit.training.loop import Phase
    from flowerkit.training.trainer import Trainer

__all__ = ["Inputs", "Part"]


@dataclass(frozen=True)
class Inputs:
    """What a run reads, as the parts adapt it.

    Attributes:
        data: what the user gave (:class:`~flowerkit.data.Datasets` or a
            ``tf.data.Dataset``).
        validation_data: the user's validation pipeline, if given apart.
        train: the training pipeline (``None`` until resolved).
        validation: the validation pipeline, or ``None``.
        class_weight: ``{class index: weight}`` for Keras, or ``None``.
        recalibration: the batches batch-norm re-estimation reads, when they are not
            ``train``.
        calibration: the plain-label validation batches calibration reads.
    """

    data: Datasets | tf.data.Dataset
    validation_data: tf.data.Dataset | None = None
    train: Any = None
    validation: Any = None
    class_weight: dict[int, float] | None = None
    recalibration: tf.data.Dataset | None = None
    calibration: tf.data.Dataset | None = None


class Part:
    """One concern of a training run, with no-op hooks to override.

    A run is a list of parts. Each may plan the phases, adapt the inputs, supply the
    loss and metric, and finish after training. The trainer calls every hook of every
    part, in order.
    """

    def phases(
        self, recipe: TrainingRecipe, options: TrainOptions, planned: list[Phase]
    ) -> list[Phase]:
        """The phases to run (``planned``: what the parts before planned)."""
        return planned

    def adapt(self, inputs: Inputs, trainer: Trainer, options: TrainOptions) -> Inputs:
        """The inputs, adapted for this part."""
        return inputs

    def losses(self, trainer: Trainer) -> dict[str, Any]:
        """``{"loss": ..., "metric": ...}`` to compile with instead of the recipe's."""
        return {}

    def finish(self, trainer: Trainer) -> None:
        """Called after training."""
