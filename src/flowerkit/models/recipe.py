"""``TrainingRecipe``: how a preset's model is trained when the user does not say otherwise.

A preset declares its recipe; :mod:`flowerkit.training` reads it. The recipe lives with the
models so that a preset module never imports the training layer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TrainingRecipe"]


@dataclass(frozen=True)
class TrainingRecipe:
    """How ``Classifier.fit`` compiles a preset's model when the user passes no optimizer.

    ``schedule="cosine"`` decays the learning rate to zero over each ``fit`` call's
    epochs, or by the end of its ``time_budget`` when that comes first (after
    ``warmup_epochs`` of linear warm-up); ``"constant"`` keeps it.
    ``recalibrate_batchnorm=True`` makes ``fit`` re-estimate the batch-norm statistics on
    the un-augmented training images when training ends (one forward pass over them, kept
    inside any ``time_budget``), whichever optimizer is used.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    recalibrate_batchnorm: bool = False
