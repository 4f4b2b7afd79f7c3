"""The phase loop that ``Classifier.fit`` and ``Classifier.fine_tune`` run.

A training run is one or more :class:`Phase` objects, each one call of Keras'
``Model.fit``: for a transfer preset, the frozen phase and then the fine-tuning phase its
recipe declares. Around Keras' own loop this module adds what a run needs across phases:
one history, one time budget for the whole call, checkpoints that let a killed run resume
where it stopped, the recipe's learning-rate schedule per phase, early stopping and the
batch-norm re-estimation that closes a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from flowerkit.core import validation as v
from flowerkit.exceptions import ConfigError, DistributedError
from flowerkit.training import callbacks as cb
from flowerkit.training import distribute
from flowerkit.training.batchnorm import RECALIBRATION_EPOCHS
from flowerkit.training.finetune import unfreeze
from flowerkit.training.optimizers import make_schedule

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from flowerkit.models import TrainingRecipe

__all__ = ["Phase", "RunOptions", "check_options", "recipe_phases", "run"]

Verbose = Literal["auto", 0, 1, 2]


@dataclass(frozen=True)
class Phase:
    """One call of ``Model.fit`` within a run.

    Attributes:
        name: ``"train"``, ``"frozen"`` or ``"fine_tune"``; names its checkpoint folder.
        epochs: how many epochs it trains.
        fine_tune: unfreeze the backbone's top ``layers`` layers and recompile at
            ``learning_rate`` before the phase starts.
        layers: with ``fine_tune``, how many top layers (``None``: all).
        learning_rate: with ``fine_tune``, the base rate of the recipe's optimizer.
    """

    name: str
    epochs: int
    fine_tune: bool = False
    layers: int | None = None
    learning_rate: float | None = None


@dataclass(frozen=True)
class RunOptions:
    """What the user chose for a run, checked (see ``Classifier.fit``).

    Attributes:
        callbacks: the user's own Keras callbacks.
        class_weight: the ``{class index: weight}`` Keras takes, or ``None``.
        early_stopping: the patience, in epochs, of early stopping (``None``: none).
        time_budget: the run's time budget, in seconds (``None``: none).
        checkpoint_dir: the folder of the checkpoints a killed run resumes from
            (``None``: none).
        verbose: Keras' ``verbose``.
        started: ``time.monotonic()`` when the user's call began; the budget counts from
            there.
        strategy: the ``tf.distribute`` strategy the model was built under, if any.
        recalibration_data: the batches batch-norm re-estimation reads, when they are not
            the training pipeline (a multi-worker run's is sharded: every worker
            re-estimates on all the training images, so the replicas stay identical).
    """

    callbacks: tuple[keras.callbacks.Callback, ...] = ()
    class_weight: dict[int, float] | None = None
    early_stopping: int | None = None
    time_budget: float | None = None
    checkpoint_dir: Path | None = None
    verbose: Verbose = "auto"
    started: float = field(default_factory=time.monotonic)
    strategy: tf.distribute.Strategy | None = None
    recalibration_data: tf.data.Dataset | None = None


def recipe_phases(recipe: TrainingRecipe) -> list[Phase]:
    """The phases a recipe declares: its epochs, then its fine-tuning epochs (if any)."""
    if not recipe.fine_tune_epochs:
        return [Phase("train", recipe.epochs)]
    return [
        Phase("frozen", recipe.epochs),
        Phase(
            "fine_tune",
            recipe.fine_tune_epochs,
            fine_tune=True,
            layers=recipe.fine_tune_layers,
            learning_rate=recipe.fine_tune_learning_rate,
        ),
    ]


def plan_phases(
    recipe: TrainingRecipe,
    *,
    epochs: int | None = None,
    fine_tune_epochs: int | None = None,
    fine_tune_layers: int | Literal["all"] | None = None,
    fine_tune_learning_rate: float | None = None,
) -> list[Phase]:
    """The phases ``Classifier.fit`` runs for these arguments.

    With none of them, the recipe's (:func:`recipe_phases`). ``epochs`` alone trains that
    many epochs in one phase. Any fine-tuning argument adds a fine-tuning phase after a
    first phase of ``epochs`` (default: the recipe's), with the recipe's value for each
    fine-tuning argument not given; ``fine_tune_epochs=0`` means none.

    Raises:
        ~flowerkit.ConfigError: a bad value, or fine-tuning arguments without fine-tuning
            epochs (given or in the recipe).
    """
    tuning = (fine_tune_epochs, fine_tune_layers, fine_tune_learning_rate)
    if all(value is None for value in tuning):
        if epochs is None:
            return recipe_phases(recipe)
        return [Phase("train", v.check_positive_int(epochs, "epochs"))]
    first = recipe.epochs if epochs is None else v.check_positive_int(epochs, "epochs")
    count = (
        recipe.fine_tune_epochs
        if fine_tune_epochs is None
        else v.check_positive_int(fine_tune_epochs, "fine_tune_epochs", minimum=0)
    )
    if count == 0:
        if fine_tune_epochs is None:
            raise ConfigError(
                "The recipe declares no fine-tuning epochs; pass fine_tune_epochs=N with "
                "fine_tune_layers or fine_tune_learning_rate."
            )
        return [Phase("train", first)]
    if fine_tune_layers == "all":
        layers: int | None = None
    elif fine_tune_layers is None:
        layers = recipe.fine_tune_layers
    else:
        layers = v.check_positive_int(fine_tune_layers, "fine_tune_layers")
    rate = (
        recipe.fine_tune_learning_rate
        if fine_tune_learning_rate is None
        else v.check_non_negative_float(fine_tune_learning_rate, "fine_tune_learning_rate")
    )
    return [
        Phase("frozen", first),
        Phase("fine_tune", count, fine_tune=True, layers=layers, learning_rate=rate),
    ]


def check_options(
    *,
    started: float,
    class_weight: dict[int, float] | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    early_stopping: int | None = None,
    time_budget: float | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    verbose: Verbose = "auto",
    strategy: tf.distribute.Strategy | None = None,
    recalibration_data: tf.data.Dataset | None = None,
) -> RunOptions:
    """The user's run options, checked.

    Raises:
        ~flowerkit.ConfigError: a value out of range.
    """
    if early_stopping is not None:
        early_stopping = v.check_positive_int(early_stopping, "early_stopping")
    if time_budget is not None:
        time_budget = v.check_non_negative_float(time_budget, "time_budget")
    v.check_choice(verbose, "verbose", ("auto", 0, 1, 2))
    return RunOptions(
        callbacks=tuple(callbacks),
        class_weight=class_weight,
        early_stopping=early_stopping,
        time_budget=time_budget,
        checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir).expanduser(),
        verbose=verbose,
        started=started,
        strategy=strategy,
        recalibration_data=recalibration_data,
    )


#: Recompiles the model with the recipe's optimizer at a rate; returns the scheduled rate.
Recompile = Callable[[float], "float | None"]


@dataclass
class _Run:
    model: keras.Model
    recipe: TrainingRecipe
    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    options: RunOptions
    folder: Path | None  # this process's checkpoint folder
    log: cb.HistoryLog
    budget: cb.TimeBudget | None
    scheduled_rate: float | None


def run(
    model: keras.Model,
    phases: Sequence[Phase],
    *,
    recipe: TrainingRecipe,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    options: RunOptions,
    scheduled_rate: float | None,
    recompile: Recompile,
) -> keras.callbacks.History:
    """Train ``model`` through ``phases``.

    A phase after the first is skipped when the time budget ran out.

    Args:
        model: the compiled model.
        phases: the phases to run, in order.
        recipe: the recipe the run follows (its schedule, batch-norm re-estimation and
            fine-tuning rate).
        train: the training pipeline.
        validation: the validation pipeline, or ``None``.
        options: the user's run options (see ``check_options``).
        scheduled_rate: the base rate the recipe's schedule drives (``None``: the user's
            own optimizer, left alone).
        recompile: ``recompile(rate)`` recompiles for a fine-tuning phase.

    Returns:
        The run's ``keras.callbacks.History`` (every epoch of this run, resumed ones
        included).
    """
    import keras

    folder = options.checkpoint_dir
    resumed: cb.Checkpoint | None = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        folder = distribute.worker_checkpoint_dir(folder, distribute.cluster_of(options.strategy))
        resumed = cb.latest_checkpoint(folder)
    resume_phase = (
        None
        if resumed is None
        else next((i for i, p in enumerate(phases) if p.name == resumed.phase), None)
    )
    if resume_phase is None:  # none, or one of another run's phases: start afresh
        resumed = None
    state = _Run(
        model=model,
        recipe=recipe,
        train=train,
        validation=validation,
        options=options,
        folder=folder,
        log=cb.HistoryLog({} if resumed is None else resumed.history),
        budget=_budget(options, recipe),
        scheduled_rate=scheduled_rate,
    )
    first = 0
    for i, phase in enumerate(phases):
        if i and state.budget is not None and state.budget.stopped:
            break
        last = first + phase.epochs
        if resume_phase is not None and i < resume_phase:
            first = last  # done before the checkpoint; its weights are in the checkpoint
            continue
        if phase.fine_tune:
            unfreeze(model, phase.layers)
            state.scheduled_rate = recompile(
                recipe.fine_tune_rate if phase.learning_rate is None else phase.learning_rate
            )
        start = first
        if resumed is not None and i == resume_phase:
            with distribute.scope(options.strategy):  # the optimizer's variables are replicated
                cb.restore(model, resumed)
            start = min(resumed.epochs_done, last)
        _fit_phase(state, phase.name, first, start, last, final=i == len(phases) - 1)
        first = last
    if folder is not None:
        cb.clear_checkpoints(folder)
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = state.log.history
    history.epoch = list(range(state.log.epochs_done))
    return history


def _budget(options: RunOptions, recipe: TrainingRecipe) -> cb.TimeBudget | None:
    if options.time_budget is None:
        return None
    closing = RECALIBRATION_EPOCHS if recipe.recalibrate_batchnorm else 0.0
    strategy = options.strategy
    return cb.TimeBudget(
        options.time_budget,
        start=options.started,
        closing_epochs=closing,
        # Workers' clocks differ: they must agree on when to stop and on the schedule.
        sync=distribute.mean_across_workers(strategy)
        if strategy is not None and distribute.multi_worker(strategy)
        else None,
    )


def _callbacks(
    state: _Run, name: str, first: int, last: int, final: bool
) -> list[keras.callbacks.Callback]:
    import keras

    options = state.options
    folder = state.folder
    # Checkpointing runs first, so an epoch is on disk before any user callback sees its
    # end (and whatever happens there cannot lose it).
    checkpoint = state.log if folder is None else cb.EpochCheckpoint(folder, name, state.log)
    out: list[keras.callbacks.Callback] = [checkpoint, *options.callbacks]
    if options.early_stopping is not None:
        monitor = "val_loss" if state.validation is not None else "loss"
        out.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=options.early_stopping, restore_best_weights=True
            )
        )
    if state.budget is not None:
        out.append(state.budget)
    if state.recipe.recalibrate_batchnorm:
        out.append(
            cb.RecalibrateBatchNorm(
                state.train if options.recalibration_data is None else options.recalibration_data,
                final_phase=final,
                budget=state.budget,
                before_validation=options.early_stopping is None,
            )
        )
    if state.scheduled_rate is not None:
        schedule = make_schedule(
            state.recipe,
            state.scheduled_rate,
            first_epoch=first,
            last_epoch=last,
            budget=state.budget,
        )
        if schedule is not None:
            out.insert(0, schedule)
    return out


def _fit_phase(state: _Run, name: str, first: int, start: int, last: int, *, final: bool) -> None:
    """Train epochs ``[start, last)`` of the phase ``[first, last)`` (``start > first``
    when it resumes from a checkpoint)."""
    try:
        _keras_fit(state, name, first, start, last, final=final)
    except ValueError as exc:
        if distribute.multi_worker(state.options.strategy) and distribute.is_keras_multi_worker_bug(
            exc
        ):
            import keras

            message = distribute.KERAS_MULTI_WORKER.format(version=keras.__version__)
            raise DistributedError(message) from exc
        raise


def _keras_fit(state: _Run, name: str, first: int, start: int, last: int, *, final: bool) -> None:
    state.model.fit(
        state.train,
        validation_data=state.validation,
        initial_epoch=start,
        epochs=last,
        callbacks=_callbacks(state, name, first, last, final),
        class_weight=state.options.class_weight,
        shuffle=False,  # tf.data pipelines shuffle themselves
        verbose=state.options.verbose,
    )
