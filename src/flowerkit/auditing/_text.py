"""The audit report as text for a terminal (private: use ``AuditReport.to_text``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowerkit.auditing.report import AuditReport

__all__: list[str] = []


def _section(title: str, lines: list[str], total: int, limit: int) -> list[str]:
    if not total:
        return [f"{title}: none found"]
    more = [f"  ... and {total - limit} more (--json or --report for all)"] if total > limit else []
    return [f"{title} ({total}):", *lines[:limit], *more]


def render_text(report: AuditReport, limit: int) -> str:
    """Summary, then the first ``limit`` findings of each kind, then the notes."""
    out = [report.summary(), f"features: {report.features}", ""]
    out += _section(
        "Likely label errors (score: how likely the label is wrong)",
        [
            f"  {i.score:.2f}  {i.file}  {i.given} -> {i.suggested} ({i.confidence:.0%})"
            for i in report.label_issues
        ],
        len(report.label_issues),
        limit,
    )
    out += _section(
        "Near-duplicate groups",
        [
            f"  {g.score:.3f}  "
            + ", ".join(f"{f} [{s}]" for f, s in zip(g.files, g.splits, strict=True))
            + ("  LEAK" if g.leak else "")
            for g in report.duplicate_groups
        ],
        len(report.duplicate_groups),
        limit,
    )
    out += _section(
        "Outliers (far from every class)",
        [f"  {o.score:.3f}  {o.file}  (nearest class {o.nearest})" for o in report.outliers],
        len(report.outliers),
        limit,
    )
    effect = report.leak_effect
    if effect is not None:
        out.append(
            f"Validation accuracy {effect.accuracy:.3f} on all {effect.total} photos, "
            f"{effect.accuracy_without:.3f} without the {effect.leaked} with a copy across "
            "the split"
        )
    out.append("Photos per class: " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
    out += [f"note: {n}" for n in report.notes]
    return "\n".join(out)
