"""Auditing a data folder: what is wrong with the data itself (likely label errors,
near-duplicates and leaks across the split, outliers, class balance), and acting on it
with nothing lost (a plan of moves, :mod:`flowerkit.auditing.plans`, applied and undone
by :mod:`flowerkit.auditing.moves`).

Needs the optional packages of ``pip install "flowerkit[audit]"`` (scikit-learn,
cleanlab, faiss-cpu); importing this package does not import them, nor TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowerkit.auditing.moves import ApplyResult, apply_plan, undo
from flowerkit.auditing.plans import FileMove, Move, check_plan, read_plan, write_plan
from flowerkit.auditing.report import (
    AuditReport,
    LabelIssue,
    LeakEffect,
    NearDuplicateGroup,
    Outlier,
)

if TYPE_CHECKING:
    from flowerkit.auditing.api import audit

__all__ = [
    "ApplyResult",
    "AuditReport",
    "FileMove",
    "LabelIssue",
    "LeakEffect",
    "Move",
    "NearDuplicateGroup",
    "Outlier",
    "apply_plan",
    "audit",
    "check_plan",
    "read_plan",
    "undo",
    "write_plan",
]


def __getattr__(name: str) -> Any:
    if name == "audit":  # numpy and the network code load on first use
        from flowerkit.auditing.api import audit

        return audit
    raise AttributeError(f"module 'flowerkit.auditing' has no attribute {name!r}")
