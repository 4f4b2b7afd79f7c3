"""The audit's gallery: one self-contained HTML page (private: use
``AuditReport.to_html``).

Each finding shows its photos side by side: a suspected label error next to typical
photos of its given and of its suggested class, a near-duplicate group together, an
outlier with its caption. Inline CSS, no scripts, thumbnails as base64 JPEG ``data:``
URIs under a Content-Security-Policy that forbids anything else; every name from the
folder goes through :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from flowerkit._version import __version__
from flowerkit.images import jpeg_data_uri, thumbnail

if TYPE_CHECKING:
    from flowerkit.auditing.report import AuditReport, LabelIssue, NearDuplicateGroup, Outlier

__all__ = ["SHOWN", "render_html"]

_T = TypeVar("_T")

#: Findings of each kind shown in the gallery (all of them are in the JSON).
SHOWN = 60
_SIDE = 128
_EXAMPLES = 3
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = """
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: #1f2328; }
main { max-width: 1150px; margin: 0 auto; padding: 24px; }
h2 { margin-top: 36px; border-bottom: 1px solid #d1d9e0; padding-bottom: 4px; }
p.note { background: #f6f8fa; border-left: 3px solid #1f6feb; padding: 8px 12px; }
.finding { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start;
           border: 1px solid #d1d9e0; border-radius: 8px; padding: 10px; margin: 10px 0; }
.finding.leak { border-color: #b00020; }
figure { margin: 0; width: 136px; font-size: 12px; color: #59636e; overflow-wrap: anywhere; }
figure img { max-width: 128px; max-height: 128px; display: block; border-radius: 4px; }
figure.subject img { outline: 3px solid #b00020; }
.caption { flex-basis: 100%; font-size: 14px; }
.group { display: flex; gap: 6px; padding-left: 10px; border-left: 2px solid #d1d9e0; }
.group .title { writing-mode: vertical-rl; font-size: 12px; color: #59636e; }
table { border-collapse: collapse; } td, th { padding: 3px 12px; text-align: left; }
.missing { width: 128px; height: 96px; background: #eee; }
"""


class _Thumbs:
    """Each photo's thumbnail as a data URI, made once per page."""

    def __init__(self) -> None:
        self._seen: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path not in self._seen:
            pixels = thumbnail(path, _SIDE)
            self._seen[path] = "" if pixels is None else jpeg_data_uri(pixels)
        return self._seen[path]


def _figure(thumbs: _Thumbs, path: Path, caption: str, subject: bool = False) -> str:
    uri = thumbs(path)
    image = (
        f'<img src="{uri}" alt="{escape(str(path))}">'
        if uri
        else '<div class="missing" role="img" aria-label="missing"></div>'
    )
    kind = ' class="subject"' if subject else ""
    return f"<figure{kind}>{image}<figcaption>{escape(caption)}</figcaption></figure>"


def _group(title: str, figures: Iterable[str]) -> str:
    return f'<div class="group"><span class="title">{escape(title)}</span>{"".join(figures)}</div>'


def _label_issue(report: AuditReport, thumbs: _Thumbs, issue: LabelIssue) -> str:
    def typical(name: str) -> str:
        shown = [p for p in report.examples.get(name, ()) if p != issue.file][:_EXAMPLES]
        return _group(f"typical {name}", (_figure(thumbs, p, p.name) for p in shown))

    return (
        '<div class="finding">'
        + _figure(thumbs, issue.file, f"{issue.file} (filed: {issue.given})", subject=True)
        + typical(issue.given)
        + typical(issue.suggested)
        + f'<div class="caption">score {issue.score:.2f}: {escape(issue.reason)}</div></div>'
    )


def _duplicates(thumbs: _Thumbs, group: NearDuplicateGroup) -> str:
    figures = "".join(
        _figure(thumbs, f, f"{f} [{c}, {s}]")
        for f, c, s in zip(group.files, group.classes, group.splits, strict=True)
    )
    kind = "finding leak" if group.leak else "finding"
    return f'<div class="{kind}">{figures}<div class="caption">{escape(group.reason)}</div></div>'


def _outlier(thumbs: _Thumbs, outlier: Outlier) -> str:
    return (
        '<div class="finding">'
        + _figure(thumbs, outlier.file, f"{outlier.file} (filed: {outlier.class_name})", True)
        + f'<div class="caption">{escape(outlier.reason)}</div></div>'
    )


def _section(title: str, findings: Sequence[_T], render: Callable[[_T], str]) -> str:
    """The first :data:`SHOWN` findings, and how many more the JSON has."""
    if not findings:
        return f"<h2>{escape(title)}</h2><p>None found.</p>"
    more = len(findings) - SHOWN
    tail = f'<p class="note">{more} more in the JSON (--json).</p>' if more > 0 else ""
    blocks = "".join(render(f) for f in findings[:SHOWN])
    return f"<h2>{escape(title)} ({len(findings)})</h2>{blocks}{tail}"


def _balance(report: AuditReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{count}</td></tr>" for name, count in report.counts.items()
    )
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in report.notes)
    return f"<h2>Classes</h2><table><tr><th>class</th><th>photos</th></tr>{rows}</table>{notes}"


def render_html(report: AuditReport) -> str:
    """The whole page."""
    thumbs = _Thumbs()
    effect = report.leak_effect
    leak_line = (
        ""
        if effect is None
        else f'<p class="note">The model\'s validation accuracy is {effect.accuracy:.3f} on all '
        f"{effect.total} validation photos and {effect.accuracy_without:.3f} without the "
        f"{effect.leaked} that have a copy across the split.</p>"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>Audit of {escape(str(report.directory))}</title><style>{_CSS}</style></head>",
        f"<body><main><h1>Audit of {escape(str(report.directory))}</h1>",
        f"<p>{escape(report.summary())}. Features: {escape(report.features)}.</p>",
        _section(
            "Likely label errors",
            report.label_issues,
            lambda issue: _label_issue(report, thumbs, issue),
        ),
        _section("Near-duplicates", report.duplicate_groups, lambda g: _duplicates(thumbs, g)),
        leak_line,
        _section("Outliers", report.outliers, lambda o: _outlier(thumbs, o)),
        _balance(report),
        f"<footer><p>flowerkit {escape(__version__)}; audited in {report.seconds:.1f} s.</p>"
        "</footer></main></body></html>",
    ]
    return "\n".join(parts)
