"""Render a :class:`~flowerkit.data.DatasetReport` as text and as JSON-ready data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowerkit.data.checking import DatasetReport, DuplicateGroup

__all__: list[str] = []  # private module

_SHORT_LIST = 10


def _rel(report: DatasetReport, path: Path) -> str:
    try:
        return path.relative_to(report.directory).as_posix()
    except ValueError:
        return str(path)


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _tally(codes: Sequence[str]) -> str:
    return ", ".join(f"{n} {code}" for code, n in sorted(Counter(codes).items()))


def summary(report: DatasetReport) -> str:
    parts = [f"{len(report.files)} images in {len(report.class_names)} classes"]
    if report.bad_files:
        detail = _tally([b.reason for b in report.bad_files])
        parts.append(f"{len(report.bad_files)} left out ({detail})")
    if report.ignored:
        parts.append(f"{_count(len(report.ignored), 'file', 'files')} ignored")
    if report.duplicates:
        conflicts = len(report.label_conflicts)
        across = f", {conflicts} across classes" if conflicts else ""
        parts.append(
            f"{_count(len(report.duplicates), 'duplicate group', 'duplicate groups')}{across}"
        )
    return "; ".join(parts)


def _group_line(report: DatasetReport, group: DuplicateGroup) -> str:
    kind = "same bytes" if group.same_bytes else "same pixels"
    paths = ", ".join(_rel(report, p) for p in group.paths)
    return f"{kind}: {paths}"


def notes(report: DatasetReport) -> list[str]:
    out: list[str] = []
    if report.bad_files:
        out.append(
            f"{_count(len(report.bad_files), 'file is', 'files are')} left out "
            f"({_tally([b.reason for b in report.bad_files])}); fix or delete them."
        )
    for group in report.label_conflicts:
        listed = ", ".join(f"{_rel(report, f.path)} ({f.class_name})" for f in group.files)
        out.append(
            f"The same picture is filed under {len(group.class_names)} classes: {listed}. "
            "Keep the copy with the right label and delete the others."
        )
    within = [g for g in report.duplicates if not g.label_conflict]
    if within:
        extra = sum(len(g.files) - 1 for g in within)
        out.append(
            f"{_count(len(within), 'picture has', 'pictures have')} duplicates in the same "
            f"class ({_count(extra, 'extra copy', 'extra copies')}); "
            "they count more than once in training and may land in both the training and "
            "validation split. Consider deleting the extras."
        )
    ratio = report.imbalance_ratio
    if ratio is not None and report.is_imbalanced:
        counts = report.counts
        big = max(counts, key=lambda k: counts[k])
        small = min(counts, key=lambda k: counts[k])
        out.append(
            f"The classes are imbalanced: {big!r} has {counts[big]} images and {small!r} has "
            f"{counts[small]} (ratio {ratio:.1f}). Add images to the small classes or use "
            "class weights."
        )
    return out


def _cut(lines: list[str], verbose: bool) -> list[str]:
    if verbose or len(lines) <= _SHORT_LIST:
        return lines
    return [*lines[:_SHORT_LIST], f"  ... and {len(lines) - _SHORT_LIST} more (use --verbose)"]


def render(report: DatasetReport, verbose: bool = False) -> str:
    problems = report.problems()
    lines = [f"Checked {report.directory}", f"  {summary(report)}", ""]
    counts = report.counts
    width = max((len(n) for n in counts), default=0)
    lines.append(f"Classes ({len(counts)}):")
    lines += [f"  {name:<{width}}  {n:>7,}" for name, n in counts.items()]
    ratio = report.imbalance_ratio
    if ratio is not None:
        verdict = "imbalanced" if report.is_imbalanced else "balanced enough"
        lines.append(f"  largest/smallest = {ratio:.2f} ({verdict})")
    if report.bad_files:
        lines += ["", f"Left out ({len(report.bad_files)}):"]
        lines += _cut([f"  [{b.reason}] {b.message}" for b in report.bad_files], verbose)
    if report.ignored:
        lines += [
            "",
            f"Ignored on purpose ({len(report.ignored)}: "
            f"{_tally([i.reason for i in report.ignored])}):",
        ]
        if verbose:
            lines += [f"  [{i.reason}] {_rel(report, i.path)}" for i in report.ignored]
        else:
            lines.append("  (use --verbose to list them)")
    if report.duplicates:
        conflicts = report.label_conflicts
        lines += [
            "",
            f"Duplicates ({_count(len(report.duplicates), 'group', 'groups')}, "
            f"{len(conflicts)} across classes; all copies are kept):",
        ]
        ordered = [*conflicts, *(g for g in report.duplicates if not g.label_conflict)]
        lines += _cut(
            [
                ("  LABEL CONFLICT " if g.label_conflict else "  ") + _group_line(report, g)
                for g in ordered
            ],
            verbose,
        )
    advice = notes(report)
    if advice:
        lines += ["", "Notes:"] + [f"  - {n}" for n in advice]
    lines.append("")
    if problems:
        lines.append("NOT USABLE for training:")
        lines += [f"  - {p}" for p in problems]
    else:
        lines.append(f"Usable for training: {len(report.files):,} images.")
    return "\n".join(lines)


def to_dict(report: DatasetReport, schema_version: int, threshold: float) -> dict[str, Any]:
    counts = report.counts
    ratio = report.imbalance_ratio
    return {
        "schema_version": schema_version,
        "directory": str(report.directory),
        "usable": report.usable,
        "problems": report.problems(),
        "notes": report.notes(),
        "summary": summary(report),
        "class_names": list(report.class_names),
        "counts": counts,
        "empty_classes": list(report.empty_classes),
        "imbalance": {
            "ratio": ratio,
            "threshold": threshold,
            "imbalanced": report.is_imbalanced,
            "largest": max(counts, key=lambda k: counts[k]) if counts else None,
            "smallest": min(counts, key=lambda k: counts[k]) if counts else None,
        },
        "files": [
            {
                "path": str(f.path),
                "class_name": f.class_name,
                "label": f.label,
                "key": f.key,
                "width": f.width,
                "height": f.height,
                "sha256": f.sha256,
                "pixel_sha256": f.pixel_sha256,
            }
            for f in report.files
        ],
        "bad_files": [
            {
                "path": str(b.path),
                "class_name": b.class_name,
                "reason": b.reason,
                "message": b.message,
            }
            for b in report.bad_files
        ],
        "ignored": [{"path": str(i.path), "reason": i.reason} for i in report.ignored],
        "duplicates": [
            {
                "same_bytes": g.same_bytes,
                "label_conflict": g.label_conflict,
                "class_names": list(g.class_names),
                "files": [{"path": str(f.path), "class_name": f.class_name} for f in g.files],
            }
            for g in report.duplicates
        ],
        "totals": {
            "used": len(report.files),
            "bad": len(report.bad_files),
            "ignored": len(report.ignored),
            "duplicate_groups": len(report.duplicates),
            "label_conflicts": len(report.label_conflicts),
        },
    }
