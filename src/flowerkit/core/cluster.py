"""Where this process stands in a ``tf.distribute`` training run: which worker it is, and
whether it is the chief (the one that writes the model, the report and the checkpoints).

Read from a strategy's cluster resolver, without importing TensorFlow: the models layer
asks it too (batch norm is synchronized across workers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Cluster", "cluster_of", "multi_worker"]


@dataclass(frozen=True)
class Cluster:
    """Where this process stands in a (possibly one-process) training run.

    Attributes:
        num_workers: worker processes taking part (1 without a multi-worker strategy).
        task_type: ``"chief"``, ``"worker"`` or ``None`` (one process).
        task_index: this process's index among its ``task_type``.
        has_chief: whether the cluster has a ``chief`` task besides its workers.
    """

    num_workers: int = 1
    task_type: str | None = None
    task_index: int = 0
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the model, the report and the checkpoints: the
        ``chief`` task, or worker 0 when the cluster names no chief."""
        return self.task_type in (None, "chief") or (
            self.task_type == "worker" and self.task_index == 0 and not self.has_chief
        )


def cluster_of(strategy: Any) -> Cluster:
    """The :class:`Cluster` of ``strategy`` (one process for ``None`` or a one-machine
    strategy)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if strategy is None or resolver is None or not resolver.task_type:
        return Cluster()
    spec = resolver.cluster_spec().as_dict()
    workers = sum(len(spec.get(job, ())) for job in ("chief", "worker"))
    return Cluster(
        num_workers=max(workers, 1),
        task_type=str(resolver.task_type),
        task_index=int(resolver.task_id or 0),
        has_chief="chief" in spec,
    )


def multi_worker(strategy: Any) -> bool:
    """Whether ``strategy`` spans more than one worker process."""
    return cluster_of(strategy).num_workers > 1
