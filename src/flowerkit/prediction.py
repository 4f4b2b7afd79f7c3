"""Typed prediction results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FailedInput", "Prediction", "Predictions"]


@dataclass(frozen=True)
class Prediction:
    """The classifier's answer for one image.

    ``source`` names the input (a file path, or ``"<array 0>"``, ``"<bytes 0>"``,
    ``"<PIL 0>"`` for in-memory inputs, numbered by position). ``probabilities`` maps every
    class name to its probability; ``top_k`` lists the ``k`` most likely ``(label,
    probability)`` pairs, best first.
    """

    source: str
    label: str
    index: int
    confidence: float
    probabilities: dict[str, float]
    top_k: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "label": self.label,
            "index": self.index,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
            "top_k": [{"label": lbl, "probability": p} for lbl, p in self.top_k],
        }

    def __str__(self) -> str:
        return f"{self.source}: {self.label} ({self.confidence:.1%})"


@dataclass(frozen=True)
class FailedInput:
    """An input that could not be predicted (with ``errors="skip"``), and why."""

    source: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "reason": self.reason, "message": self.message}


class Predictions(list[Prediction]):
    """A list of :class:`Prediction`, in input order, plus the inputs that failed.

    ``failures`` is empty unless ``predict(..., errors="skip")`` left bad inputs out.
    """

    def __init__(self, items: list[Prediction], failures: tuple[FailedInput, ...] = ()):
        super().__init__(items)
        self.failures = failures

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "predictions": [p.to_dict() for p in self],
            "failures": [f.to_dict() for f in self.failures],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _source_name(item: object, position: int) -> str:
    if isinstance(item, str | Path):
        return str(item)
    kinds = {"bytes": "bytes", "bytearray": "bytes", "memoryview": "bytes", "ndarray": "array"}
    fallback = "PIL" if hasattr(item, "getpixel") else "input"
    return f"<{kinds.get(type(item).__name__, fallback)} {position}>"
