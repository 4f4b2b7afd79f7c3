"""Plain training, the part every run starts with: the data given, as pipelines.

:class:`Pipelines` turns what ``fit``, ``fine_tune`` or ``distill`` was given
(:class:`~flowerkit.data.Datasets` or a ``tf.data.Dataset``) into the training and
validation pipelines and the class weights Keras takes; :class:`PlainTraining` plans
``fit``'s phases from the recipe and the options.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from flowerkit.training.inputs import resolve_class_weight, resolve_data
from flowerkit.training.loop import Phase, plan_phases
from flowerkit.training.part import Inputs, Part

if TYPE_CHECKING:
    from flowerkit.models import TrainingRecipe
    from flowerkit.options.training import TrainOptions
    from flowerkit.training.trainer import Trainer

__all__ = ["Pipelines", "PlainTraining"]


class Pipelines(Part):
    """The user's data as ``(train, validation)`` pipelines and Keras' class weights.

    Args:
        class_names: the model's classes, which a ``Datasets`` must have, in order.
        image_size: the model's input size, which a ``Datasets`` must have.
    """

    def __init__(self, class_names: tuple[str, ...], image_size: tuple[int, int]) -> None:
        self.class_names = class_names
        self.image_size = image_size

    def adapt(self, inputs: Inputs, trainer: Trainer, options: TrainOptions) -> Inputs:
        train, validation = resolve_data(
            inputs.data,
            inputs.validation_data,
            class_names=self.class_names,
            image_size=self.image_size,
        )
        weights = resolve_class_weight(options.class_weight, inputs.data, len(self.class_names))
        return replace(
            inputs,
            train=train,
            validation=validation,
            class_weight=weights,
            calibration=validation,  # calibration scores plain labels, whatever comes next
        )


class PlainTraining(Part):
    """``fit``: the recipe's phases, or those its epoch and fine-tuning options ask for."""

    def phases(
        self, recipe: TrainingRecipe, options: TrainOptions, planned: list[Phase]
    ) -> list[Phase]:
        return plan_phases(
            recipe,
            epochs=options.epochs,
            fine_tune_epochs=options.fine_tune_epochs,
            fine_tune_layers=options.fine_tune_layers,
            fine_tune_learning_rate=options.fine_tune_learning_rate,
        )
