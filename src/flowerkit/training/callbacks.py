"""Keras callbacks used by ``Classifier.fit``.

The time budget, the learning-rate schedule, the resumable history and its checkpoints,
and the batch-norm re-estimation that closes a run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from flowerkit.core.paths import remove_stale_temporaries, temporary_prefix

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "EpochCheckpoint",
    "HistoryLog",
    "RecalibrateBatchNorm",
    "TimeBudget",
    "WarmupCosine",
    "clear_checkpoints",
    "latest_checkpoint",
    "restore",
    "write_checkpoint",
]


class TimeBudget(keras.callbacks.Callback):  # type: ignore[misc]
    """Stop training once ``seconds`` of wall time have passed (checked after every batch).

    The clock keeps running across the phases of one ``fit`` call. The epoch in progress
    ends early and Keras still runs its validation pass, so the history stays consistent.
    To finish within the budget, the longest end of an epoch seen so far (from its last
    batch to the end of its callbacks, validation included; a phase's first epoch, which
    also compiles the validation step, counts only until a later one is measured) is kept
    in reserve, and training stops when the next batch would not finish before it.

    Args:
        seconds: the budget, in seconds of wall time.
        start: when the clock starts, a ``time.monotonic()`` value (``Classifier.fit``
            passes the moment it was called); ``None`` starts it when training begins.
        closing_epochs: reserves time for work done once when training ends (batch-norm
            recalibration), as a share of the last completed epoch's training time (a
            whole epoch's, so one slow batch does not inflate it), plus how much longer a
            phase's first epoch took than the last one (tracing and filling caches; the
            closing work traces a step of its own).
        sync: after every batch, the share of the budget used is replaced by
            ``sync(share)``: in a multi-worker run, the mean over the workers, so that all
            of them stop after the same batch and follow the same schedule.

    Attributes:
        stopped: whether the budget ran out.
    """

    def __init__(
        self,
        seconds: float,
        start: float | None = None,
        closing_epochs: float = 0.0,
        sync: Callable[[float], float] | None = None,
    ):
        super().__init__()
        self.seconds = seconds
        self.closing_epochs = closing_epochs
        self.sync = sync
        self.stopped = False
        self._synced: float | None = None
        self._start = start
        self._batch_end: float | None = None
        self._batch_seconds = 0.0
        self._epoch_begin = 0.0
        self._epoch_seconds = 0.0  # the batches of the last completed epoch
        self._first_epoch_seconds = 0.0  # those of a phase's first epoch
        self._first_tail = 0.0  # the end of a phase's first epoch (includes tracing)
        self._steady_reserve = 0.0  # the longest end of any later epoch
        self._epochs_in_phase = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._start is None:
            self._start = time.monotonic()
        self._epochs_in_phase = 0

    @property
    def _reserve(self) -> float:
        """Seconds kept back for an epoch's end and for the closing work.

        An epoch's end is the longest measured after a phase's first epoch, or that first
        epoch's until a later one has been measured.
        """
        tail = self._steady_reserve or self._first_tail
        if not self.closing_epochs:
            return tail
        tracing = max(0.0, self._first_epoch_seconds - self._epoch_seconds)
        return tail + self.closing_epochs * self._epoch_seconds + tracing

    def fraction(self) -> float:
        """The share of the usable budget used so far.

        The usable budget is the budget less the reserve for an epoch's end and the
        duration of the last batch (the next one's estimate). With ``sync``, the agreed
        share as of the last batch.
        """
        if self._synced is not None:
            return self._synced
        return self._local_fraction()

    def _local_fraction(self) -> float:
        if self._start is None:
            return 0.0
        usable = self.seconds - self._reserve - self._batch_seconds
        return (time.monotonic() - self._start) / usable if usable > 0 else 1.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_end = self._epoch_begin = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        if self._batch_end is not None:
            self._batch_seconds = now - self._batch_end
        self._batch_end = now
        if self.sync is not None:
            self._synced = self.sync(self._local_fraction())
        if self.fraction() >= 1.0:
            self.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # Runs last among fit's callbacks, so this covers validation and the others.
        if self._batch_end is None:
            return
        tail = time.monotonic() - self._batch_end
        self._epoch_seconds = self._batch_end - self._epoch_begin
        self._epochs_in_phase += 1
        if self._epochs_in_phase > 1:
            self._steady_reserve = max(self._steady_reserve, tail)
        else:  # a phase's first epoch also traces the validation step (a one-off cost)
            self._first_tail = tail
            self._first_epoch_seconds = self._epoch_seconds


class RecalibrateBatchNorm(keras.callbacks.Callback):  # type: ignore[misc]
    """Re-estimate the model's batch-norm statistics on ``dataset`` once, when training ends.

    The statistics are re-estimated by
    :func:`flowerkit.training.batchnorm.recalibrate_batchnorm` just before the last
    epoch's validation pass, so that epoch's validation figures are the returned model's,
    or at the end of training when there is no such pass or ``before_validation`` is False
    (with early stopping, whose restored weights are the ones to recalibrate: put this
    callback after it).

    Args:
        dataset: the training batches, of raw pixels (at most an epoch's worth is used,
            should the pipeline repeat).
        final_phase: False for a phase that another (fine-tuning) follows; such a phase
            recalibrates only if ``budget`` runs out in it.
        budget: the run's time budget, if any.
        before_validation: recalibrate just before the last epoch's validation pass
            rather than at the end of training.

    Attributes:
        done: whether the statistics have been re-estimated.
    """

    def __init__(
        self,
        dataset: Any,
        *,
        final_phase: bool,
        budget: TimeBudget | None = None,
        before_validation: bool = True,
    ):
        super().__init__()
        self.dataset = dataset
        self.before_validation = before_validation
        self.final_phase = final_phase
        self.budget = budget
        self.done = False
        self._epoch = 0

    def _stopped(self) -> bool:
        return self.budget is not None and self.budget.stopped

    def _recalibrate(self) -> None:
        from flowerkit.training.batchnorm import recalibrate_batchnorm

        steps = (self.params or {}).get("steps")  # an epoch's worth, should it repeat
        dataset = self.dataset if steps is None else self.dataset.take(steps)
        recalibrate_batchnorm(self.model, dataset)
        self.done = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self.before_validation:
            return
        last_epoch = self._epoch + 1 >= (self.params or {}).get("epochs", 0)
        if not self.done and (self._stopped() or (self.final_phase and last_epoch)):
            self._recalibrate()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.done and (self.final_phase or self._stopped()):
            self._recalibrate()


class WarmupCosine(keras.callbacks.Callback):  # type: ignore[misc]
    """Set the optimizer's learning rate before every batch: warm-up, then cosine decay.

    A linear warm-up over ``warmup_epochs``, then (``cosine=True``) a cosine decay to zero
    at the end of the phase ``[first_epoch, last_epoch)``, or at the end of the time budget
    if that comes first, so a run cut short by its budget still ends with a fully decayed
    rate.

    The rate depends only on the epoch number, the batch number and the clock, so a run
    resumed from a checkpoint picks up the schedule where it left off.

    Args:
        base_rate: the rate reached at the end of the warm-up.
        first_epoch: the phase's first epoch.
        last_epoch: the epoch the phase stops before.
        warmup_epochs: epochs of linear warm-up (at most half the phase).
        cosine: decay the rate after the warm-up; otherwise it stays at ``base_rate``.
        budget: the run's time budget, if any.
        linear: decay linearly to zero rather than along a cosine.
    """

    def __init__(
        self,
        base_rate: float,
        *,
        first_epoch: int,
        last_epoch: int,
        warmup_epochs: float,
        cosine: bool,
        budget: TimeBudget | None = None,
        linear: bool = False,
    ):
        super().__init__()
        self.base_rate = base_rate
        self.linear = linear
        self.first_epoch = first_epoch
        self.epochs = max(1, last_epoch - first_epoch)
        self.warmup = min(float(warmup_epochs), self.epochs / 2)
        self.cosine = cosine
        self.budget = budget
        self._epoch = first_epoch

    def rate(self, epochs_done: float) -> float:
        """The learning rate after ``epochs_done`` epochs of this phase."""
        if epochs_done < self.warmup:
            return self.base_rate * epochs_done / self.warmup
        if not self.cosine:
            return self.base_rate
        progress = (epochs_done - self.warmup) / max(self.epochs - self.warmup, 1e-9)
        if self.budget is not None:
            progress = max(progress, self.budget.fraction())
        progress = min(max(progress, 0.0), 1.0)
        if self.linear:
            return self.base_rate * (1.0 - progress)
        return self.base_rate * 0.5 * (1.0 + math.cos(math.pi * progress))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps = (self.params or {}).get("steps") or 0
        done = self._epoch - self.first_epoch + ((batch + 1) / steps if steps else 1.0)
        self.model.optimizer.learning_rate = self.rate(done)


class HistoryLog(keras.callbacks.Callback):  # type: ignore[misc]
    """Collect every finished epoch's logs across fit calls, for resuming.

    Args:
        previous: the history of the epochs already done (from the checkpoint resumed).

    Attributes:
        history: every finished epoch's logs, by metric name (the learning rate left out).
    """

    def __init__(self, previous: dict[str, list[float]]):
        super().__init__()
        self.history = {k: list(v) for k, v in previous.items()}

    @property
    def epochs_done(self) -> int:
        """How many epochs the log holds (resumed ones included)."""
        return len(next(iter(self.history.values()), []))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            if key == "learning_rate":
                continue
            values = self.history.setdefault(key, [])
            del values[epoch:]  # an epoch re-run after a resume replaces its old entry
            values.append(float(value))


@contextlib.contextmanager
def _defer_sigint() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block is done, then deliver it.

    It goes to the handler that was in place (Python's default raises
    ``KeyboardInterrupt``).

    Only possible in the main thread; elsewhere the block runs unprotected. A process that
    ignores SIGINT (e.g. started in the background by a shell) keeps ignoring it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):
            previous(signal.SIGINT, None)
        else:  # SIG_DFL: what the signal would have done
            signal.raise_signal(signal.SIGINT)


CHECKPOINT_FORMAT = "flowerkit.checkpoint"
_PREFIX = "checkpoint-"
_WEIGHTS = "weights.weights.h5"
_STATE = "state.json"


@dataclass(frozen=True)
class Checkpoint:
    """One complete checkpoint: a folder ``checkpoint-<epochs done>`` holding the model's
    weights with its optimizer's state, and the run's history, written as one unit.

    Attributes:
        path: the folder.
        epochs_done: epochs finished when it was written (all phases).
        phase: the phase it was written in (``"train"``, ``"frozen"``, ``"fine_tune"``).
        history: every finished epoch's logs.
    """

    path: Path
    epochs_done: int
    phase: str
    history: dict[str, list[float]]

    @property
    def weights(self) -> Path:
        """The weights file (``model.save_weights``: layers and optimizer)."""
        return self.path / _WEIGHTS


def _read_checkpoint(path: Path) -> Checkpoint | None:
    try:
        doc = json.loads((path / _STATE).read_text())
        if doc.get("format") != CHECKPOINT_FORMAT or not (path / _WEIGHTS).is_file():
            return None
        history = {str(k): [float(x) for x in v] for k, v in doc["history"].items()}
        return Checkpoint(path, int(doc["epochs_done"]), str(doc["phase"]), history)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The newest complete checkpoint in ``folder``, or ``None``.

    A checkpoint is complete once its folder has its final name: it is written under a
    temporary name and renamed, so a process killed at any moment leaves either the new
    checkpoint or the one before it.
    """
    found = []
    for child in folder.glob(_PREFIX + "*"):
        suffix = child.name[len(_PREFIX) :]
        if suffix.isdigit():
            found.append((int(suffix), child))
    for _, child in sorted(found, reverse=True):
        checkpoint = _read_checkpoint(child)
        if checkpoint is not None:
            return checkpoint
    return None


def write_checkpoint(
    folder: Path, model: Any, *, epochs_done: int, phase: str, history: dict[str, list[float]]
) -> Checkpoint:
    """Write a checkpoint of ``model`` and ``history`` into ``folder`` atomically, then
    remove the older ones and what killed writers left.

    The weights and the state go into a temporary folder, which is renamed into place
    when both are complete (Ctrl-C is held back meanwhile).
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{_PREFIX}{epochs_done:05d}"
    with _defer_sigint():
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(final), dir=folder))
        try:
            model.save_weights(str(tmp / _WEIGHTS))
            state = {
                "format": CHECKPOINT_FORMAT,
                "format_version": 1,
                "epochs_done": epochs_done,
                "phase": phase,
                "history": history,
            }
            (tmp / _STATE).write_text(json.dumps(state))
            if final.exists():  # an epoch re-run after a resume
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    for child in folder.glob(_PREFIX + "*"):
        if child != final:
            shutil.rmtree(child, ignore_errors=True)
    remove_stale_temporaries(folder)
    return Checkpoint(final, epochs_done, phase, history)


class EpochCheckpoint(keras.callbacks.Callback):  # type: ignore[misc]
    """Write a :class:`Checkpoint` (weights, optimizer state and the :class:`HistoryLog`)
    at the end of every epoch, as one atomic unit.

    Keras' ``BackupAndRestore`` writes its weights file in place and its epoch number
    separately, so a kill in between, or in the middle of the weights, could leave a
    checkpoint that did not resume; this writes a new folder and renames it into place.

    Args:
        folder: the run's checkpoint folder.
        phase: the phase being trained (recorded, so a resume knows where it is).
        log: the history log written with it.
        saved: the model whose weights it writes, when not the one being fit (a frozen
            phase trains a head that shares the whole model's layers and optimizer).
    """

    def __init__(self, folder: Path, phase: str, log: HistoryLog, saved: Any = None):
        super().__init__()
        self.folder = folder
        self.phase = phase
        self.log = log
        self.saved = saved

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self.log.set_model(model)

    def set_params(self, params: Any) -> None:
        super().set_params(params)
        self.log.set_params(params)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.log.on_epoch_end(epoch, logs)
        write_checkpoint(
            self.folder,
            self.model if self.saved is None else self.saved,
            epochs_done=epoch + 1,
            phase=self.phase,
            history=self.log.history,
        )


def restore(model: Any, checkpoint: Checkpoint) -> None:
    """Load ``checkpoint``'s weights and optimizer state into ``model`` (compiled)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    model.load_weights(str(checkpoint.weights))


def clear_checkpoints(folder: Path) -> None:
    """Remove what ``Classifier.fit`` wrote to a checkpoint folder (after a finished run).

    The folder itself goes too when nothing else is left in it.
    """
    legacy = [*folder.glob("backup-*"), folder / "history.json"]  # flowerkit <= 0.1's
    for child in [*folder.glob(_PREFIX + "*"), *folder.glob("worker-*"), *legacy]:
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    remove_stale_temporaries(folder)
    with contextlib.suppress(OSError):  # not empty: the user keeps other files there
        folder.rmdir()
