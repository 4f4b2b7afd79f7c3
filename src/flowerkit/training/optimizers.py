"""Optimizer, schedule, loss and compilation built from a preset's
:class:`~flowerkit.TrainingRecipe`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import keras

    from flowerkit.models import TrainingRecipe
    from flowerkit.training.callbacks import TimeBudget, WarmupCosine

__all__ = ["compile_model", "make_loss", "make_optimizer", "make_schedule"]


def make_optimizer(recipe: TrainingRecipe, learning_rate: float) -> keras.optimizers.Optimizer:
    """The recipe's optimizer at a constant ``learning_rate``.

    The recipe's schedule is applied by :func:`make_schedule`'s callback.

    Raises:
        ~flowerkit.ConfigError: the recipe names an unknown optimizer or
            schedule.
    """
    import keras

    if recipe.schedule not in ("constant", "cosine", "linear"):
        raise ConfigError(f"Unknown learning-rate schedule {recipe.schedule!r}.")
    if recipe.optimizer == "adam":
        if recipe.weight_decay:
            return keras.optimizers.AdamW(
                learning_rate=learning_rate, weight_decay=recipe.weight_decay
            )
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=learning_rate,
            momentum=0.9,
            nesterov=True,
            weight_decay=recipe.weight_decay or None,
        )
    raise ConfigError(f"Unknown optimizer {recipe.optimizer!r} in the preset's recipe.")


def make_schedule(
    recipe: TrainingRecipe,
    learning_rate: float,
    *,
    first_epoch: int,
    last_epoch: int,
    budget: TimeBudget | None,
) -> WarmupCosine | None:
    """The callback that applies the recipe's warm-up and schedule, or None for a constant rate.

    Args:
        recipe: the recipe whose warm-up and schedule apply.
        learning_rate: the base rate the schedule drives.
        first_epoch: the phase's first epoch.
        last_epoch: the epoch the phase stops before; the schedule runs over
            ``[first_epoch, last_epoch)``.
        budget: the run's time budget, which a cosine decay also ends with, if any.
    """
    from flowerkit.training.callbacks import WarmupCosine

    if recipe.schedule == "constant" and not recipe.warmup_epochs:
        return None
    return WarmupCosine(
        learning_rate,
        first_epoch=first_epoch,
        last_epoch=last_epoch,
        warmup_epochs=recipe.warmup_epochs,
        cosine=recipe.schedule in ("cosine", "linear"),
        budget=budget,
        linear=recipe.schedule == "linear",
    )


def make_loss(recipe: TrainingRecipe, *, from_logits: bool, num_classes: int) -> keras.losses.Loss:
    """The sparse categorical cross-entropy, with the recipe's label smoothing if any."""
    import keras

    if recipe.label_smoothing:
        from flowerkit.models.layers import SparseCategoricalCrossentropyWithSmoothing

        return SparseCategoricalCrossentropyWithSmoothing(
            num_classes, label_smoothing=recipe.label_smoothing, from_logits=from_logits
        )
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def compile_model(
    model: keras.Model,
    recipe: TrainingRecipe,
    *,
    optimizer: keras.optimizers.Optimizer | str | None,
    learning_rate: float | None,
    from_logits: bool,
    num_classes: int,
    loss: keras.losses.Loss | None = None,
    metric: keras.metrics.Metric | None = None,
) -> float | None:
    """Compile ``model`` with the recipe's loss and an accuracy metric.

    Args:
        model: the model to compile.
        recipe: the recipe whose loss (and, without ``optimizer``, optimizer) is used.
        optimizer: the user's optimizer; ``None`` uses the recipe's at ``learning_rate``.
        learning_rate: the base rate of the recipe's optimizer (default: the recipe's
            rate).
        from_logits: whether the model outputs logits rather than probabilities.
        num_classes: how many classes the model outputs.
        loss: a loss instead of the recipe's (distillation's).
        metric: an accuracy metric instead of ``SparseCategoricalAccuracy``.

    Returns:
        The base rate the recipe's schedule then drives, or ``None`` for a user's
        optimizer (left alone).

    Raises:
        ~flowerkit.ConfigError: both ``optimizer`` and ``learning_rate`` were
            given.
    """
    import keras

    rate: float | None = None
    if optimizer is None:
        rate = recipe.learning_rate if learning_rate is None else float(learning_rate)
        optimizer = make_optimizer(recipe, rate)
    elif learning_rate is not None:
        raise ConfigError("Pass either `optimizer` or `learning_rate`, not both.")
    model.compile(
        optimizer=optimizer,
        loss=loss or make_loss(recipe, from_logits=from_logits, num_classes=num_classes),
        metrics=[metric or keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return rate
