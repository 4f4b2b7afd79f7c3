"""The result of an audit: its findings, each ranked with a score and a reason, and what
to do about them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowerkit.auditing.plans import Move

__all__ = ["AuditReport", "LabelIssue", "LeakEffect", "NearDuplicateGroup", "Outlier"]


@dataclass(frozen=True)
class LabelIssue:
    """A photo whose class a model that never saw it disputes.

    Attributes:
        file: the photo (under the folder as it was given).
        given: the class it is filed under.
        suggested: the class the cross-validated model finds most likely.
        score: how likely the label is wrong, in [0, 1] (one minus the probability
            of ``given``); the issues are sorted by it, highest first.
        confidence: the probability of ``suggested``.
        split: ``"train"``, ``"validation"`` or ``"test"``.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.auditing import LabelIssue
        >>> issue = LabelIssue(Path("photos/roses/r1.jpg"), "roses", "tulips", 0.96, 0.9, "train")
        >>> issue.reason
        "filed under 'roses', but a model that never saw it gives 'roses' 4% and 'tulips' 90%"
        >>> issue.to_dict()["file"]
        'photos/roses/r1.jpg'
    """

    file: Path
    given: str
    suggested: str
    score: float
    confidence: float
    split: str

    @property
    def reason(self) -> str:
        """One line for people."""
        return (
            f"filed under {self.given!r}, but a model that never saw it gives "
            f"{self.given!r} {1 - self.score:.0%} and {self.suggested!r} {self.confidence:.0%}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``file``, ``given``, ``suggested``, ``score``, ``confidence``,
        ``split`` and ``reason``."""
        return {
            "file": str(self.file),
            "given": self.given,
            "suggested": self.suggested,
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 4),
            "split": self.split,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class NearDuplicateGroup:
    """Photos that are copies of one picture: resized, re-encoded, slightly cropped or
    shifted in colour (exact copies too).

    Attributes:
        files: the copies.
        classes: each copy's class.
        splits: each copy's split.
        score: the weakest match that joined the group (1: the same picture).

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.auditing import NearDuplicateGroup
        >>> files = (Path("photos/roses/a.jpg"), Path("photos/tulips/a_small.jpg"))
        >>> group = NearDuplicateGroup(files, ("roses", "tulips"), ("train", "validation"), 0.99)
        >>> group.leak, group.label_conflict
        (True, True)
        >>> print(group.reason)
        2 copies of one picture (match 0.990), filed under roses and tulips, across the
        split (train / validation): a leak
    """

    files: tuple[Path, ...]
    classes: tuple[str, ...]
    splits: tuple[str, ...]
    score: float

    @property
    def leak(self) -> bool:
        """Whether the copies lie on both sides of the split (a leak)."""
        return len(set(self.splits)) > 1

    @property
    def label_conflict(self) -> bool:
        """Whether the copies are filed under different classes."""
        return len(set(self.classes)) > 1

    @property
    def reason(self) -> str:
        """One line for people."""
        what = f"{len(self.files)} copies of one picture (match {self.score:.3f})"
        if self.label_conflict:
            what += ", filed under " + " and ".join(sorted(set(self.classes)))
        if self.leak:
            what += ", across the split (" + " / ".join(sorted(set(self.splits))) + "): a leak"
        return what

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``files``, ``classes``, ``splits``, ``score``, ``leak``,
        ``label_conflict`` and ``reason``."""
        return {
            "files": [str(f) for f in self.files],
            "classes": list(self.classes),
            "splits": list(self.splits),
            "score": round(self.score, 4),
            "leak": self.leak,
            "label_conflict": self.label_conflict,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Outlier:
    """A photo far from every class.

    Attributes:
        file: the photo.
        class_name: the class it is filed under.
        score: one minus its best similarity to a class's mean photo.
        nearest: the class whose mean photo is nearest.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.auditing import Outlier
        >>> Outlier(Path("photos/roses/screenshot.png"), "roses", 0.61, "tulips").to_dict()["score"]
        0.61
    """

    file: Path
    class_name: str
    score: float
    nearest: str

    @property
    def reason(self) -> str:
        """One line for people."""
        return (
            f"far from every class (score {self.score:.3f}; nearest {self.nearest!r}): "
            "another subject, a screenshot or a blank?"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``file``, ``class_name``, ``score``, ``nearest`` and ``reason``."""
        return {
            "file": str(self.file),
            "class_name": self.class_name,
            "score": round(self.score, 4),
            "nearest": self.nearest,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LeakEffect:
    """The given model's validation accuracy with and without the leaked photos.

    Attributes:
        accuracy: on every validation photo.
        accuracy_without: on the validation photos that have no copy in training.
        leaked: the validation photos with a copy on another side of the split.
        total: the validation photos.

    Example:
        >>> from flowerkit.auditing import LeakEffect
        >>> LeakEffect(0.91, 0.88, leaked=12, total=734).to_dict()
        {'accuracy': 0.91, 'accuracy_without': 0.88, 'leaked': 12, 'total': 734}
    """

    accuracy: float
    accuracy_without: float
    leaked: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "accuracy": round(self.accuracy, 4),
            "accuracy_without": round(self.accuracy_without, 4),
            "leaked": self.leaked,
            "total": self.total,
        }


@dataclass(frozen=True)
class AuditReport:
    """What :func:`~flowerkit.auditing.audit` found.

    Attributes:
        directory: the audited folder, as given.
        class_names: its classes.
        counts: photos per class.
        label_issues: likely label errors, most likely first.
        duplicate_groups: near-duplicate groups, closest first.
        outliers: photos far from every class, farthest first.
        leak_effect: the given model's validation accuracy with and without the
            leaked photos (``None`` without a model, or with no leak).
        notes: what the audit advises or could not do.
        features: where the feature vectors came from.
        bad_files: the files the check found unusable (see ``flowerkit check``).
        examples: the most typical photos of each class (for the gallery).
        seconds: how long the audit took.
        sources: for :meth:`plan`, each photo's path inside the folder and the SHA-256 of
            its bytes, by the file as named in the findings.

    Example:
        >>> import flowerkit as fk
        >>> report = fk.audit("photos", model="flowers.keras")
        >>> report.counts, report.num_images
        ({'daisy': 12, 'roses': 12, 'tulips': 12}, 36)
        >>> sorted(report.to_dict())
        ['bad_files', 'class_names', 'counts', 'directory', 'duplicate_groups', 'features',
         'label_issues', 'leak_effect', 'notes', 'outliers', 'seconds']
        >>> print(report.to_text().splitlines()[0])
        36 photos in 3 classes: ...
        >>> report.write_html("audit.html").name
        'audit.html'
    """

    directory: Path
    class_names: tuple[str, ...]
    counts: dict[str, int]
    label_issues: tuple[LabelIssue, ...]
    duplicate_groups: tuple[NearDuplicateGroup, ...]
    outliers: tuple[Outlier, ...]
    leak_effect: LeakEffect | None
    notes: tuple[str, ...]
    features: str
    bad_files: int = 0
    examples: dict[str, tuple[Path, ...]] = field(default_factory=dict, repr=False)
    seconds: float = 0.0
    sources: dict[Path, tuple[str, str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_images(self) -> int:
        """The photos audited."""
        return sum(self.counts.values())

    @property
    def leaks(self) -> tuple[NearDuplicateGroup, ...]:
        """The near-duplicate groups that cross the split."""
        return tuple(g for g in self.duplicate_groups if g.leak)

    def summary(self) -> str:
        """One line: the photos and what was found."""
        return (
            f"{self.num_images} photos in {len(self.class_names)} classes: "
            f"{len(self.label_issues)} likely label errors, {len(self.duplicate_groups)} "
            f"near-duplicate groups ({len(self.leaks)} across the split), "
            f"{len(self.outliers)} outliers"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; files are named by the path of the folder as given."""
        return {
            "directory": str(self.directory),
            "class_names": list(self.class_names),
            "counts": dict(self.counts),
            "label_issues": [i.to_dict() for i in self.label_issues],
            "duplicate_groups": [g.to_dict() for g in self.duplicate_groups],
            "outliers": [o.to_dict() for o in self.outliers],
            "leak_effect": None if self.leak_effect is None else self.leak_effect.to_dict(),
            "notes": list(self.notes),
            "features": self.features,
            "bad_files": self.bad_files,
            "seconds": round(self.seconds, 2),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self, limit: int = 10) -> str:
        """A readable summary with the first ``limit`` findings of each kind."""
        from flowerkit.auditing._text import render_text

        return render_text(self, limit)

    def to_html(self) -> str:
        """The gallery: one self-contained HTML page (no scripts, no external files)."""
        from flowerkit.auditing.html import render_html

        return render_html(self)

    def write_html(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_html` to ``path``; returns the path."""
        target = Path(path)
        target.write_text(self.to_html(), encoding="utf-8")
        return target

    def plan(self) -> list[Move]:
        """The suggested moves, one per file at most: copies beyond the first of each
        group set aside (the training copy kept), likely label errors relabelled, outliers
        set aside. Write them with :func:`flowerkit.auditing.write_plan` for a person to
        edit."""
        moves: dict[str, Move] = {}

        def add(file: Path, action: str, to: str, reason: str) -> None:
            key, sha256 = self.sources.get(file, ("", ""))
            if key and key not in moves:
                moves[key] = Move(key, action, to, sha256, reason)  # type: ignore[arg-type]

        for group in self.duplicate_groups:
            order = sorted(range(len(group.files)), key=lambda i: group.splits[i] != "train")
            for i in order[1:]:
                add(group.files[i], "quarantine", "", f"copy of {group.files[order[0]]}")
        for issue in self.label_issues:
            add(issue.file, "relabel", issue.suggested, "label issue: " + issue.reason)
        for outlier in self.outliers:
            add(outlier.file, "quarantine", "", "outlier: " + outlier.reason)
        return list(moves.values())
