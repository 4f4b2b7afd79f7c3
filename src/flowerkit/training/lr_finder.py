"""The learning-rate range test ("LR finder") of Leslie Smith, as fastai runs it.

:func:`find_learning_rate` trains a compiled model for one batch at each of ``steps``
learning rates growing exponentially from ``start`` to ``end``, records the loss of every
batch and its smoothed curve, stops once that curve blows up, puts the model back exactly
as it was, and suggests a rate read off the curve (:func:`suggest_learning_rate`).

How the rate is driven:
    Every batch runs through the model's own compiled ``train_on_batch`` (its loss, its
    regularisation, its loss scaling), one batch per rate, so the recorded loss is that
    batch's loss (Keras' ``fit`` would only report the running mean of the epoch).

    * When the optimizer's rate is a variable, as it is for every optimizer flowerkit
      builds from a recipe (a preset's warm-up and cosine schedule are not a Keras
      ``LearningRateSchedule``: :class:`~flowerkit.training.callbacks.WarmupCosine`
      assigns that variable before each batch, so ``compact`` takes this path too), the
      test assigns the variable before each batch. The test then runs on the model's
      real optimizer, with its moments, iteration count and weight decay, as fastai's
      does, and nothing is retraced.
    * When the rate comes from a ``keras.optimizers.schedules.LearningRateSchedule`` (or
      a callable), it cannot be assigned: Keras raises ``TypeError``, and what the
      schedule computes depends on the iteration count the test must not advance. The
      test then runs on a stand-in: the same optimizer class built from the optimizer's
      own ``get_config()`` with a plain float rate (inside a ``LossScaleOptimizer`` when
      the model has one), swapped in as ``model.optimizer`` with a training function
      traced for it. The model's optimizer is not touched at all. The stand-in's moments
      start at zero, as a fresh optimizer's do; the test is meant to be run before
      training, where that is the optimizer's state anyway. Replacing the optimizer's
      private schedule attribute instead was rejected: it leaves the schedule object to
      be put back through private names that Keras does not promise to keep.

How the model is restored:
    Before the first batch the optimizer is built (what the first training step would
    do) and a copy is taken of every variable of the model (trainable weights,
    non-trainable ones such as batch-norm moving statistics, and random-seed states of
    dropout and augmentation layers), of its metrics and of its optimizer (iteration
    count, learning-rate variable, moments). In a ``finally`` block, so even after an
    exception or Ctrl-C, the stand-in optimizer and the previous training function are
    swapped back, the metrics are reset (clearing any created during the test) and every
    copied value is assigned back. Keras' cached training function is kept or put back,
    so the next ``fit`` does not trace again.

The suggestion (fastai's "valley", its default since fastai 2.5):
    Find the longest valley of the smoothed loss: its longest strictly decreasing run
    (the longest decreasing subsequence, so one noisy bump does not split it), ignoring
    the first tenth of the steps (where the smoothing has seen too few batches) and
    anything after the loss became non-finite. Suggest the rate about half-way down it
    (``first + int(n / 3) + int(n / 6)`` for a valley ``n`` steps long, fastai's index).
    That rate is where the loss is still falling fast: well above the flat start, where
    training crawls, and well below the minimum, which sits at the edge of divergence
    (the classic "minimum / 10" rule aims for the same point but depends on one noisy
    point, the minimum; the steepest-slope rule depends on a numerical derivative,
    noisier still). The rule gives no rate (``None``, with the reason) when fewer than
    :data:`MIN_POINTS` usable steps were recorded, or when the valley is shallow: the
    smoothed loss falls by less than :data:`MIN_DROP` (10%) along it, a curve too flat
    to say anything (typically a model that has already converged, or a range of rates
    that is too low).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from flowerkit.core import validation as v
from flowerkit.core.cluster import multi_worker
from flowerkit.exceptions import ConfigError, DatasetError
from flowerkit.training.keras_multiworker import multi_worker_reductions

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "MIN_DROP",
    "MIN_POINTS",
    "LearningRateFinding",
    "find_learning_rate",
    "suggest_learning_rate",
]

#: The fewest usable steps (after the first tenth) the suggestion needs.
MIN_POINTS = 5
#: How much, as a share of its value, the smoothed loss must fall along the valley for a
#: suggestion; a shallower curve is called flat.
MIN_DROP = 0.1


@dataclass(frozen=True)
class LearningRateFinding:
    """What a learning-rate range test recorded, one entry per step it ran.

    Attributes:
        rates: the learning rate of each step, growing exponentially from ``start``.
        losses: the training loss of each step's batch (raw).
        smoothed: the exponentially smoothed, bias-corrected loss (fastai's).
        suggestion: the suggested learning rate (see :func:`suggest_learning_rate`), or
            ``None`` when the curve does not allow one (``reason`` says why).
        stopped_early: the smoothed loss diverged (exceeded ``divergence`` times its
            minimum, or became non-finite) and the test stopped before its last rate.
        reason: how the suggestion was chosen, or why there is none.
    """

    rates: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    suggestion: float | None
    stopped_early: bool
    reason: str = ""

    def __post_init__(self) -> None:
        if not len(self.rates) == len(self.losses) == len(self.smoothed):
            raise ConfigError(
                "`rates`, `losses` and `smoothed` must have one value per step. Received "
                f"{len(self.rates)}, {len(self.losses)} and {len(self.smoothed)} values."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe ``dict`` of the fields (a non-finite loss becomes ``None``)."""
        return {
            "rates": list(self.rates),
            "losses": [_finite_or_none(x) for x in self.losses],
            "smoothed": [_finite_or_none(x) for x in self.smoothed],
            "suggestion": self.suggestion,
            "stopped_early": self.stopped_early,
            "reason": self.reason,
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- arguments


def _check_number(value: object, name: str, *, above: float, finite: bool = True) -> float:
    """``value`` as a float when it is a real number ``> above`` (and finite)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if number > above and not math.isnan(number) and (math.isfinite(number) or not finite):
            return number
    what = "a finite number" if finite else "a number"
    raise ConfigError(f"`{name}` must be {what} > {above:g}. Received: {name}={value!r}")


def _check_arguments(
    start: object, end: object, steps: object, divergence: object, smoothing: object
) -> tuple[float, float, int, float, float]:
    first = _check_number(start, "start", above=0.0)
    last = _check_number(end, "end", above=0.0)
    if last <= first:
        raise ConfigError(f"`end` must be greater than `start` ({first:g}). Received: end={end!r}")
    count = v.check_positive_int(steps, "steps", minimum=2)
    blow_up = _check_number(divergence, "divergence", above=1.0, finite=False)
    beta = v.check_fraction(smoothing, "smoothing", allow_zero=True)
    return first, last, count, blow_up, beta


def _check_model(model: object) -> keras.Model:
    import keras

    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"`model` must be a keras.Model. Received an object of type {type(model).__name__}."
        )
    if not model.compiled or model.optimizer is None:
        raise ConfigError(
            "`model` must be compiled with an optimizer and a loss before the learning-rate "
            "test (Classifier.find_learning_rate compiles it with the preset's recipe)."
        )
    return model


def _check_dataset(dataset: object) -> tf.data.Dataset:
    import tensorflow as tf

    spec = getattr(dataset, "element_spec", None)
    if not isinstance(dataset, tf.data.Dataset) or not (
        isinstance(spec, tuple) and len(spec) in (2, 3)
    ):
        raise ConfigError(
            "`dataset` must be a tf.data.Dataset of (images, labels) batches. "
            f"Received: {dataset!r}"
        )
    return dataset


# --------------------------------------------------------------------------- the curve


def _exponential_rates(start: float, end: float, steps: int) -> tuple[float, ...]:
    """``steps`` rates from ``start`` to ``end`` (both included), a constant ratio apart."""
    return tuple(start * (end / start) ** (i / (steps - 1)) for i in range(steps))


def _longest_valley(values: Sequence[float]) -> tuple[int, int]:
    """``(first, last)`` indices of the longest strictly decreasing subsequence of ``values``.

    Of equally long ones, the one ending first, started as early as possible.
    """
    array = np.asarray(values, dtype=np.float64)
    length = np.ones(len(array), dtype=np.int64)
    previous = np.full(len(array), -1, dtype=np.int64)
    for i in range(1, len(array)):
        higher = array[:i] > array[i]
        if higher.any():
            j = int(np.argmax(np.where(higher, length[:i], 0)))
            length[i] = length[j] + 1
            previous[i] = j
    last = int(np.argmax(length))
    first = last
    while previous[first] >= 0:
        first = int(previous[first])
    return first, last


def suggest_learning_rate(
    rates: Sequence[float], smoothed: Sequence[float]
) -> tuple[float | None, str]:
    """A learning rate read off a range test's smoothed loss, and how it was chosen.

    fastai's "valley" rule (see the module's documentation): the rate about half-way
    down the longest decreasing stretch of the smoothed loss, ignoring the first tenth of
    the steps and anything after the loss became non-finite.

    Args:
        rates: the learning rate of each step.
        smoothed: the smoothed loss of each step.

    Returns:
        ``(rate, reason)``; ``rate`` is ``None`` when fewer than :data:`MIN_POINTS` steps
        are usable or the smoothed loss falls by less than :data:`MIN_DROP` along its
        longest valley, and ``reason`` says so.

    Raises:
        ~flowerkit.ConfigError: ``rates`` and ``smoothed`` differ in length.
    """
    if len(rates) != len(smoothed):
        raise ConfigError(
            "`rates` and `smoothed` must have one value per step. "
            f"Received {len(rates)} and {len(smoothed)} values."
        )
    finite = next((i for i, x in enumerate(smoothed) if not math.isfinite(x)), len(smoothed))
    skip = len(smoothed) // 10
    if finite - skip < MIN_POINTS:
        return None, (
            f"Too short to suggest a rate: {max(finite - skip, 0)} usable steps (of "
            f"{len(smoothed)}, the first {skip} skipped), {MIN_POINTS} needed. Run more "
            "steps, or start lower if the loss diverged straight away."
        )
    values = [float(x) for x in smoothed[skip:finite]]
    first, last = _longest_valley(values)
    top, bottom = values[first], values[last]
    drop = (top - bottom) / top if top > 0 else 0.0
    if drop < MIN_DROP:
        return None, (
            f"The loss curve is flat: the smoothed loss falls by {drop:.1%} at most along "
            f"its longest decrease (at least {MIN_DROP:.0%} needed). The model may have "
            "converged already, or the rates tried are too low (raise `end`)."
        )
    section = (last - first) / 3
    index = skip + first + int(section) + int(section / 2)
    rate = float(rates[index])
    return rate, (
        f"Valley: the smoothed loss falls from {top:.4g} to {bottom:.4g} between rates "
        f"{rates[skip + first]:.3g} and {rates[skip + last]:.3g}; suggested the rate "
        "about half-way down."
    )


# --------------------------------------------------------------------------- the state


def _state_variables(model: keras.Model) -> list[Any]:
    """Every variable the test may change: the model's, its metrics' and its optimizer's."""
    seen: set[int] = set()
    out: list[Any] = []
    for variable in [*model.variables, *model.metrics_variables, *model.optimizer.variables]:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append(variable)
    return out


def _has_variable_rate(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether the optimizer's rate is one of its own variables, so it can be assigned."""
    import keras

    rate = optimizer.learning_rate
    return isinstance(rate, keras.Variable) and any(rate is x for x in optimizer.variables)


def _constant_rate_copy(
    optimizer: keras.optimizers.Optimizer, rate: float
) -> keras.optimizers.Optimizer:
    """A new optimizer configured as ``optimizer`` but with a plain float ``rate``."""
    import keras

    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(
            _constant_rate_copy(optimizer.inner_optimizer, rate),
            initial_scale=optimizer.initial_scale,
            dynamic_growth_steps=optimizer.dynamic_growth_steps,
        )
    try:
        config = optimizer.get_config()
        config["learning_rate"] = rate
        return type(optimizer).from_config(config)
    except Exception as exc:
        raise ConfigError(
            f"The model's optimizer ({type(optimizer).__name__}) takes its learning rate "
            "from a schedule, and it could not be rebuilt from its config with a constant "
            "rate for the test. Compile the model with a float learning rate instead."
        ) from exc


@contextlib.contextmanager
def _rate_control(model: keras.Model, start: float) -> Iterator[Callable[[float], None]]:
    """Yield ``set_rate(rate)``, which sets the rate of the model's next training step.

    With a schedule, a stand-in optimizer is swapped in for the block and swapped back
    after it (see the module's documentation).
    """
    optimizer = model.optimizer
    if _has_variable_rate(optimizer):

        def assign(rate: float) -> None:
            optimizer.learning_rate = rate

        yield assign
        return
    with model.distribute_strategy.scope():
        stand_in = _constant_rate_copy(optimizer, start)
        stand_in.build(model.trainable_variables)
    function = model.train_function
    model.optimizer = stand_in
    model.train_function = None  # traced again for the stand-in on the first batch
    try:

        def assign_stand_in(rate: float) -> None:
            stand_in.learning_rate = rate

        yield assign_stand_in
    finally:
        model.optimizer = optimizer
        model.train_function = function


def _batch(element: object) -> tuple[Any, Any, Any]:
    if isinstance(element, tuple | list) and len(element) in (2, 3):
        return element[0], element[1], element[2] if len(element) == 3 else None
    raise ConfigError("`dataset` must yield (images, labels) batches.")


# --------------------------------------------------------------------------- the test


def find_learning_rate(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    start: float = 1e-7,
    end: float = 1.0,
    steps: int = 100,
    divergence: float = 4.0,
    smoothing: float = 0.98,
    seed: int | None = None,
) -> LearningRateFinding:
    """Run a learning-rate range test on ``model``; the model is left exactly as it was.

    Trains one batch of ``dataset`` (repeated as needed) at each of ``steps`` rates from
    ``start`` to ``end``, a constant ratio apart, and records each batch's loss and its
    exponentially smoothed, bias-corrected value: ``avg = smoothing * avg + (1 -
    smoothing) * loss``, ``smoothed = avg / (1 - smoothing ** step)`` (fastai's). Stops
    after the step whose smoothed loss exceeds ``divergence`` times the lowest one so far
    or is not finite. Afterwards every variable of the model, its metrics and its
    optimizer is restored, even when the test is interrupted; see the module's
    documentation for how an optimizer with a ``LearningRateSchedule`` is handled and for
    the rule behind ``suggestion``.

    Args:
        model: a compiled Keras model.
        dataset: a ``tf.data.Dataset`` of ``(images, labels)`` (or ``(images, labels,
            sample_weights)``) batches, as training takes them.
        start: the first learning rate.
        end: the last learning rate.
        steps: how many rates (and batches) to try, at least 2.
        divergence: stop once the smoothed loss exceeds this many times its minimum (more
            than 1; ``math.inf`` stops only on a non-finite loss).
        smoothing: the smoothing factor in ``[0, 1)`` (0: no smoothing).
        seed: seeds Keras' random state first (dropout, augmentation, unseeded
            shuffling), as ``Classifier.fit(seed=...)`` does.

    Returns:
        A :class:`LearningRateFinding` with one entry per step run.

    Raises:
        ~flowerkit.ConfigError: an argument out of range, a model that is not compiled,
            or ``dataset`` is not a dataset of ``(images, labels)`` batches.
        ~flowerkit.DatasetError: ``dataset`` is empty.
    """
    first, last, count, blow_up, beta = _check_arguments(start, end, steps, divergence, smoothing)
    seed = v.check_seed(seed)
    model = _check_model(model)
    dataset = _check_dataset(dataset)
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    schedule = _exponential_rates(first, last, count)
    optimizer = model.optimizer
    if not optimizer.built:  # what the first step would do; its moments start at zero
        with model.distribute_strategy.scope():
            optimizer.build(model.trainable_variables)
    saved = [(x, np.array(x.numpy(), copy=True)) for x in _state_variables(model)]
    try:
        # On several workers, with Keras' two reductions done right (and the same
        # smoothed losses, so every worker stops at the same step).
        with multi_worker_reductions(multi_worker(model.distribute_strategy)):
            rates, losses, smoothed = _range_test(model, dataset, schedule, first, blow_up, beta)
    finally:
        model.reset_metrics()
        for variable, stored in saved:
            variable.assign(stored)
    suggestion, reason = suggest_learning_rate(rates, smoothed)
    return LearningRateFinding(
        rates=tuple(rates),
        losses=tuple(losses),
        smoothed=tuple(smoothed),
        suggestion=suggestion,
        stopped_early=len(rates) < count,
        reason=reason,
    )


def _range_test(
    model: keras.Model,
    dataset: tf.data.Dataset,
    schedule: Sequence[float],
    first: float,
    blow_up: float,
    beta: float,
) -> tuple[list[float], list[float], list[float]]:
    """Train one batch at each rate of ``schedule`` until the smoothed loss blows up.

    Returns:
        The rates run, each batch's loss and the smoothed, bias-corrected loss.
    """
    rates: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    with _rate_control(model, first) as set_rate:
        batches = iter(dataset.repeat())
        average, best = 0.0, math.inf
        for step, rate in enumerate(schedule, start=1):
            loss = _train_next_batch(model, batches, set_rate, rate)
            average = beta * average + (1 - beta) * loss
            value = average / (1 - beta**step)
            rates.append(rate)
            losses.append(loss)
            smoothed.append(value)
            if not math.isfinite(value) or (best > 0 and value > blow_up * best):
                break
            best = min(best, value)
    return rates, losses, smoothed


def _train_next_batch(
    model: keras.Model, batches: Iterator[Any], set_rate: Callable[[float], None], rate: float
) -> float:
    """Train the model on the next batch at ``rate``; that batch's loss."""
    element = next(batches, None)
    if element is None:
        raise DatasetError("Cannot run a learning-rate test on an empty dataset.")
    images, labels, weights = _batch(element)
    set_rate(rate)
    logs = model.train_on_batch(images, labels, sample_weight=weights, return_dict=True)
    if "loss" not in logs:
        raise ConfigError("The model's training step reports no `loss` to record.")
    return float(logs["loss"])
