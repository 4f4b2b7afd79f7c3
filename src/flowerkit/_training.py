"""Optimizer, schedule and loss built from a preset's :class:`TrainingRecipe`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import keras

    from flowerkit.models import TrainingRecipe

__all__: list[str] = []


def make_optimizer(
    recipe: TrainingRecipe,
    learning_rate: float | None,
    steps_per_epoch: int | None,
    epochs: int,
) -> keras.optimizers.Optimizer:
    import keras

    lr: Any = recipe.learning_rate if learning_rate is None else float(learning_rate)
    if recipe.schedule == "cosine" and steps_per_epoch:
        total = max(1, steps_per_epoch * epochs)
        warmup = min(total - 1, steps_per_epoch * recipe.warmup_epochs)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else lr,
            decay_steps=total - warmup,
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
        )
    elif recipe.schedule not in ("constant", "cosine"):
        raise ConfigError(f"Unknown learning-rate schedule {recipe.schedule!r}.")
    if recipe.optimizer == "adam":
        if recipe.weight_decay:
            return keras.optimizers.AdamW(learning_rate=lr, weight_decay=recipe.weight_decay)
        return keras.optimizers.Adam(learning_rate=lr)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    raise ConfigError(f"Unknown optimizer {recipe.optimizer!r} in the preset's recipe.")


def make_loss(recipe: TrainingRecipe, *, from_logits: bool, num_classes: int) -> keras.losses.Loss:
    import keras

    if recipe.label_smoothing:
        from flowerkit.layers import SparseCategoricalCrossentropyWithSmoothing

        return SparseCategoricalCrossentropyWithSmoothing(
            num_classes, label_smoothing=recipe.label_smoothing, from_logits=from_logits
        )
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
