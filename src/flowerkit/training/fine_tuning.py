"""Fine-tuning, the part behind ``Classifier.fine_tune``: one phase that unfreezes the top
of the pretrained backbone (:func:`flowerkit.training.finetune.unfreeze`) and trains on at
the recipe's fine-tuning rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowerkit.core.options import RECIPE
from flowerkit.exceptions import ConfigError
from flowerkit.training.finetune import backbone
from flowerkit.training.loop import Phase, fine_tune_phase
from flowerkit.training.part import Part

if TYPE_CHECKING:
    import keras

    from flowerkit.models import TrainingRecipe
    from flowerkit.options.training import TrainOptions

__all__ = ["FineTuning"]


class FineTuning(Part):
    """``fine_tune``: one phase of the fine-tuning options (the recipe's when left out).

    Args:
        model: the model, which must have a sub-model named ``"backbone"``.
        preset: the model's preset, named when the recipe has no fine-tuning epochs.
    """

    def __init__(self, model: keras.Model, preset: str | None) -> None:
        self.model = model
        self.preset = preset

    def phases(
        self, recipe: TrainingRecipe, options: TrainOptions, planned: list[Phase]
    ) -> list[Phase]:
        backbone(self.model)  # no backbone: nothing to fine-tune, whatever the epochs
        epochs = options.fine_tune_epochs
        if epochs is RECIPE:
            if not recipe.fine_tune_epochs:
                raise ConfigError(
                    f"The {self.preset!r} recipe declares no fine-tuning epochs; pass epochs=N."
                )
            epochs = recipe.fine_tune_epochs
        return [
            fine_tune_phase(
                recipe, epochs, options.fine_tune_layers, options.fine_tune_learning_rate
            )
        ]
