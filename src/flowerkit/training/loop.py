"""The phase loop that ``Classifier.fit`` and ``Classifier.fine_tune`` run.

A training run is one or more :class:`Phase` objects, each one call of Keras'
``Model.fit``: for a transfer preset, the frozen phase and then the fine-tuning phase its
recipe declares. Around Keras' own loop this module adds what a run needs across phases:
one history, one time budget for the whole call, checkpoints that let a killed run resume
where it stopped, the recipe's learning-rate schedule per phase, early stopping and the
batch-norm re-estimation that closes a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from flowerkit.core import validation as v
from flowerkit.core.options import RECIPE, UseRecipe
from flowerkit.exceptions import ConfigError
from flowerkit.training import callbacks as cb
from flowerkit.training import distribute, features
from flowerkit.training.batchnorm import RECALIBRATION_EPOCHS
from flowerkit.training.finetune import unfreeze
from flowerkit.training.keras_multiworker import multi_worker_reductions
from flowerkit.training.optimizers import make_schedule

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from flowerkit.models import TrainingRecipe
    from flowerkit.options.training import TrainOptions

__all__ = ["Phase", "RunContext", "fine_tune_phase", "plan_phases", "recipe_phases", "run"]

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
class RunContext:
    """A run's checked options and what the trainer resolved for it.

    Attributes:
        options: the user's checked options (callbacks, early stopping, time budget,
            checkpoint folder, verbosity; see ``Classifier.fit``).
        class_weight: the ``{class index: weight}`` Keras takes, or ``None``.
        started: ``time.monotonic()`` when the user's call began; the budget counts from
            there.
        strategy: the ``tf.distribute`` strategy the model was built under, if any.
        recalibration_data: the batches batch-norm re-estimation reads, when they are not
            the training pipeline (under several replicas, the undistributed pipeline:
            every worker re-estimates on all the training images, so all stay the same).
        compile_head: compiles the head of a frozen phase trained on features (with the
            model's optimizer), or ``None`` when this run trains no phase on features
            (:mod:`flowerkit.training.features`).
    """

    options: TrainOptions
    class_weight: dict[int, float] | None = None
    started: float = field(default_factory=time.monotonic)
    strategy: tf.distribute.Strategy | None = None
    recalibration_data: tf.data.Dataset | None = None
    compile_head: Callable[[keras.Model], None] | None = None


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
    epochs: int | UseRecipe = RECIPE,
    fine_tune_epochs: int | UseRecipe = RECIPE,
    fine_tune_layers: int | Literal["all"] | UseRecipe = RECIPE,
    fine_tune_learning_rate: float | UseRecipe = RECIPE,
) -> list[Phase]:
    """The phases ``Classifier.fit`` runs for these arguments.

    With none of them, the recipe's (:func:`recipe_phases`). ``epochs`` alone trains that
    many epochs in one phase. Any fine-tuning argument adds a fine-tuning phase after a
    first phase of ``epochs`` (default: the recipe's), with the recipe's value for each
    fine-tuning argument not given; ``fine_tune_epochs=0`` means none. A value left out
    (or :data:`~flowerkit.core.options.RECIPE`) is the recipe's.

    Raises:
        ~flowerkit.ConfigError: a bad value, or fine-tuning arguments without fine-tuning
            epochs (given or in the recipe).
    """
    tuning = (fine_tune_epochs, fine_tune_layers, fine_tune_learning_rate)
    if all(value is RECIPE for value in tuning):
        if epochs is RECIPE:
            return recipe_phases(recipe)
        return [Phase("train", v.check_positive_int(epochs, "epochs"))]
    first = recipe.epochs if epochs is RECIPE else v.check_positive_int(epochs, "epochs")
    if fine_tune_epochs is RECIPE:
        count = recipe.fine_tune_epochs
        if count == 0:
            raise ConfigError(
                "The recipe declares no fine-tuning epochs; pass fine_tune_epochs=N with "
                "fine_tune_layers or fine_tune_learning_rate."
            )
    else:
        count = v.check_positive_int(fine_tune_epochs, "fine_tune_epochs", minimum=0)
    if count == 0:
        return [Phase("train", first)]
    return [
        Phase("frozen", first),
        fine_tune_phase(recipe, count, fine_tune_layers, fine_tune_learning_rate),
    ]


def fine_tune_phase(
    recipe: TrainingRecipe,
    epochs: int,
    layers: int | Literal["all"] | UseRecipe = RECIPE,
    learning_rate: float | UseRecipe = RECIPE,
) -> Phase:
    """A fine-tuning phase of ``epochs``: ``layers`` and ``learning_rate`` as given (the
    recipe's when left out; ``"all"``: every layer of the backbone).

    Raises:
        ~flowerkit.ConfigError: a bad value.
    """
    if layers == "all":
        count: int | None = None
    elif layers is RECIPE:
        count = recipe.fine_tune_layers
    else:
        count = v.check_positive_int(layers, "fine_tune_layers")
    rate = (
        recipe.fine_tune_learning_rate
        if learning_rate is RECIPE
        else v.check_non_negative_float(learning_rate, "fine_tune_learning_rate")
    )
    return Phase("fine_tune", epochs, fine_tune=True, layers=count, learning_rate=rate)


#: Recompiles the model with the recipe's optimizer at a rate; returns the scheduled rate.
Recompile = Callable[[float], "float | None"]


@dataclass
class _Run:
    model: keras.Model
    recipe: TrainingRecipe
    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    context: RunContext
    folder: Path | None  # this process's checkpoint folder
    log: cb.HistoryLog
    budget: cb.TimeBudget | None
    scheduled_rate: float | None
    checkpointed: keras.Model | None = None  # what checkpoints hold, if not `model`
    steps_per_epoch: int | None = None  # for a `train` that repeats without end


@dataclass(frozen=True)
class _Resume:
    """Where a run resumes: the phase (its index), the epochs done, and the checkpoint
    (``None`` on a worker that is not the chief: the chief's state comes to it)."""

    phase: int
    epochs_done: int
    checkpoint: cb.Checkpoint | None


def _resume_point(
    context: RunContext, phases: Sequence[Phase]
) -> tuple[Path | None, _Resume | None]:
    """This process's checkpoint folder (``None``: it writes none) and where it resumes
    (``None``: afresh, with no checkpoint or one of another run's phases).

    Under several workers only the chief reads and writes checkpoints; the others learn
    where to resume from it.
    """
    given = context.options.checkpoint_dir
    if given is None:
        return None, None
    strategy = context.strategy
    folder = Path(given) if distribute.cluster_of(strategy).is_chief else None
    found = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint = cb.latest_checkpoint(folder)
        index = None
        if checkpoint is not None:
            index = next((i for i, p in enumerate(phases) if p.name == checkpoint.phase), None)
        if checkpoint is not None and index is not None:
            found = _Resume(index, checkpoint.epochs_done, checkpoint)
    if distribute.multi_worker(strategy):
        import tensorflow as tf

        mine = [-1, 0] if found is None else [found.phase, found.epochs_done]
        (agreed,) = distribute.from_chief(strategy, [tf.constant(mine, tf.int64)])
        phase, done = (int(x) for x in agreed.numpy())
        if found is None and phase >= 0:
            found = _Resume(phase, done, None)
    return folder, found


def _take_resumed_state(model: keras.Model, resume: _Resume, context: RunContext) -> None:
    """Load the checkpoint's weights and optimizer state (on every worker: the chief's)."""
    strategy = context.strategy
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        with distribute.scope(strategy):  # its variables are replicated, on every worker
            optimizer.build(model.trainable_variables)
    if resume.checkpoint is not None:
        # Outside the scope: loading makes throwaway variables (Keras' reference
        # optimizer), which under several workers would be collectives of the chief alone.
        cb.restore(model, resume.checkpoint)
    if distribute.multi_worker(strategy):
        state = [*model.weights, *(optimizer.variables if optimizer is not None else [])]
        for variable, value in zip(state, distribute.from_chief(strategy, state), strict=True):
            variable.assign(value)


def _feature_split(
    model: keras.Model, context: RunContext
) -> tuple[keras.Model, keras.Model] | None:
    """``(stem, head)`` when the next phase trains on features: the run allows it and
    the model, as its layers are frozen now, splits where its frozen part ends."""
    if context.compile_head is None:
        return None
    return features.split_frozen(model)


def _fast_forward(train: tf.data.Dataset, epochs: int) -> None:
    """Draw and drop ``epochs`` epochs' orders of ``train``, so a resumed run trains its
    next epoch in the order an uninterrupted one would (a pipeline draws a new order each
    time it is iterated: ``load_datasets``' do, as does a seeded ``shuffle``)."""
    for _ in range(epochs):
        for _ in train.take(1):
            pass


def run(
    model: keras.Model,
    phases: Sequence[Phase],
    *,
    recipe: TrainingRecipe,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    context: RunContext,
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
        context: the checked options and what the trainer resolved.
        scheduled_rate: the base rate the recipe's schedule drives (``None``: the user's
            own optimizer, left alone).
        recompile: ``recompile(rate)`` recompiles for a fine-tuning phase.

    Returns:
        The run's ``keras.callbacks.History`` (every epoch of this run, resumed ones
        included).
    """
    import keras

    folder, resumed = _resume_point(context, phases)
    state = _Run(
        model=model,
        recipe=recipe,
        train=train,
        validation=validation,
        context=context,
        folder=folder,
        log=cb.HistoryLog(
            {} if resumed is None or resumed.checkpoint is None else resumed.checkpoint.history
        ),
        budget=_budget(context, recipe),
        scheduled_rate=scheduled_rate,
    )
    first = 0
    drawn = 0  # orders drawn from `train` by the phases before: one an epoch, or one in all
    for i, phase in enumerate(phases):
        if i and state.budget is not None and state.budget.stopped:
            break
        last = first + phase.epochs
        if phase.fine_tune:
            unfreeze(model, phase.layers)
        split = _feature_split(model, context)
        if resumed is not None and i < resumed.phase:
            first = last  # done before the checkpoint; its weights are in the checkpoint
            drawn += 1 if split is not None else phase.epochs
            continue
        if phase.fine_tune:
            state.scheduled_rate = recompile(
                recipe.fine_tune_rate if phase.learning_rate is None else phase.learning_rate
            )
        start = first
        if resumed is not None and i == resumed.phase:
            _take_resumed_state(model, resumed, context)
            start = min(resumed.epochs_done, last)
            _fast_forward(train, drawn + (0 if split is not None else start - first))
        final = i == len(phases) - 1
        fit = _fit_phase if split is None else partial(_fit_on_features, split=split)
        fit(state, phase.name, first, start, last, final=final)
        first = last
    if folder is not None:
        cb.clear_checkpoints(folder)
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = state.log.history
    history.epoch = list(range(state.log.epochs_done))
    return history


def _budget(context: RunContext, recipe: TrainingRecipe) -> cb.TimeBudget | None:
    budget = context.options.time_budget
    if budget is None:
        return None
    closing = RECALIBRATION_EPOCHS if recipe.recalibrate_batchnorm else 0.0
    strategy = context.strategy
    return cb.TimeBudget(
        budget,
        start=context.started,
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

    options = state.context.options
    folder = state.folder
    # Checkpointing runs first, so an epoch is on disk before any user callback sees its
    # end (and whatever happens there cannot lose it).
    checkpoint = (
        state.log
        if folder is None
        else cb.EpochCheckpoint(folder, name, state.log, saved=state.checkpointed)
    )
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
                state.train
                if state.context.recalibration_data is None
                else state.context.recalibration_data,
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
    if state.recipe.progressive_from is not None:
        from flowerkit.training.progressive import ProgressiveResizing

        out.insert(
            0,
            ProgressiveResizing(
                state.recipe.progressive_from,
                state.recipe.progressive_until,
                first_epoch=first,
                last_epoch=last,
            ),
        )
    return out


def _fit_on_features(
    state: _Run,
    name: str,
    first: int,
    start: int,
    last: int,
    *,
    final: bool,
    split: tuple[keras.Model, keras.Model],
) -> None:
    """Train epochs ``[start, last)`` of a phase on the stem's features (the frozen part
    run once per image): the head, with any trainable top of the backbone, trains with
    the model's optimizer; checkpoints hold the whole model as ever."""
    stem, head = split
    context = state.context
    assert context.compile_head is not None
    context.compile_head(head)
    with features.extract(stem, state.train, state.validation) as (train, validation):
        assert train is not None
        batches, steps = features.feature_batches(train, shuffle=True, seed=context.options.seed)
        on_features = replace(
            state,
            model=head,
            train=batches.skip(steps * (start - first)),  # a resumed run's epochs done
            validation=None
            if validation is None
            else features.feature_batches(validation, shuffle=False)[0],
            checkpointed=state.model,
            steps_per_epoch=steps,
        )
        _fit_phase(on_features, name, first, start, last, final=final)


def _fit_phase(state: _Run, name: str, first: int, start: int, last: int, *, final: bool) -> None:
    """Train epochs ``[start, last)`` of the phase ``[first, last)`` (``start > first``
    when it resumes from a checkpoint)."""
    several = distribute.multi_worker(state.context.strategy)
    try:
        with multi_worker_reductions(several):
            _keras_fit(state, name, first, start, last, final=final)
    except Exception as exc:
        lost = (
            distribute.lost_worker(exc, state.context.options.checkpoint_dir) if several else None
        )
        if lost is None:
            raise
        raise lost from exc


def _keras_fit(state: _Run, name: str, first: int, start: int, last: int, *, final: bool) -> None:
    state.model.fit(
        state.train,
        validation_data=state.validation,
        initial_epoch=start,
        epochs=last,
        callbacks=_callbacks(state, name, first, last, final),
        class_weight=state.context.class_weight,
        steps_per_epoch=state.steps_per_epoch,
        shuffle=False,  # tf.data pipelines shuffle themselves
        verbose=state.context.options.verbose,
    )
