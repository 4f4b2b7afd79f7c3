"""Render an :class:`~flowerkit.evaluation.EvaluationReport` as one self-contained HTML page.

Private: use :meth:`EvaluationReport.to_html`. The page has inline CSS, no scripts and no
external references (a Content-Security-Policy forbids them): plots are base64 PNG and
thumbnails base64 JPEG ``data:`` URIs, and so are the Grad-CAM overlays drawn beside the
thumbnails of mistakes that carry one (:attr:`Mistake.explanation
<flowerkit.evaluation.Mistake.explanation>`). Every user-supplied string goes through
:func:`html.escape`.
"""

from __future__ import annotations

import base64
import io
import os
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from flowerkit._version import __version__
from flowerkit.evaluation.history import as_history
from flowerkit.evaluation.report import register_renderer
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    from flowerkit.evaluation.report import EvaluationReport, Mistake

__all__: list[str] = []  # private module

#: Longest side of an embedded mistake thumbnail, in pixels.
THUMBNAIL_SIZE = 128

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff;
        --panel: #f6f8fa; --accent: #1f6feb; --bad: #b00020; --good: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px;
     border-bottom: 1px solid var(--line); }
p.sub, p.note, footer { color: var(--muted); }
p.note { background: var(--panel); border-left: 3px solid var(--accent); padding: 8px 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr));
         gap: 12px; margin-top: 20px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
        padding: 12px 16px; }
.card .value { font-size: 26px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: var(--panel); }
tr.avg td { color: var(--muted); font-style: italic; }
.scroll { overflow-x: auto; }
table.cm td { text-align: center; min-width: 44px; border: 1px solid #ffffff; }
table.cm td.diag { font-weight: 700; }
table.cm th.corner { color: var(--muted); font-weight: 400; font-size: 12px; }
img.plot { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
           gap: 14px; }
figure.mistake { margin: 0; background: var(--panel); border: 1px solid var(--line);
                 border-radius: 8px; padding: 10px; text-align: center; }
figure.mistake .thumb { height: 128px; display: flex; align-items: center;
                        justify-content: center; gap: 6px; }
figure.mistake.explained { grid-column: span 2; }
figure.mistake img { max-width: 128px; max-height: 128px; border-radius: 4px; }
.placeholder { width: 128px; height: 96px; border: 2px dashed var(--line); border-radius: 4px;
               color: var(--muted); font-size: 12px; display: flex; align-items: center;
               justify-content: center; }
figcaption { margin-top: 8px; font-size: 13px; overflow-wrap: anywhere; }
figcaption .pair { font-weight: 600; }
figcaption .true { color: var(--good); }
figcaption .pred { color: var(--bad); }
figcaption .meta, figcaption .file { color: var(--muted); font-size: 12px; }
ul.confused { padding-left: 20px; }
footer { margin-top: 40px; font-size: 12px; }
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _png_data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnails(mistake: Mistake) -> tuple[str | None, str | None]:
    """Data URIs of the mistake's thumbnail and of its Grad-CAM overlay (``None`` for
    what there is not: no file, or no explanation)."""
    from flowerkit.images import jpeg_data_uri, thumbnail
    from flowerkit.images.overlay import overlay

    pixels = thumbnail(mistake.file_path, THUMBNAIL_SIZE)
    if pixels is None:  # a report must never fail because one image moved or broke
        return None, None
    shown = None
    if mistake.explanation is not None:
        shown = jpeg_data_uri(overlay(pixels, mistake.explanation))
    return jpeg_data_uri(pixels), shown


def _matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def _cards(report: EvaluationReport) -> str:
    items = [
        (_percent(report.accuracy), "Accuracy"),
        (_percent(report.top_k_accuracy), f"Top-{report.top_k} accuracy"),
        (f"{report.num_errors} / {report.num_samples}", "Wrong predictions"),
        (f"{report.loss:.3f}", "Loss (cross-entropy)"),
    ]
    if report.loss_before_calibration is not None:
        items.append((f"{report.loss_before_calibration:.3f}", "Loss before calibration"))
    items.append((f"{report.ece:.3f}", "Calibration error (ECE)"))
    if report.ece_before_calibration is not None:
        items.append((f"{report.ece_before_calibration:.3f}", "ECE before calibration"))
    if report.min_confidence is not None and report.coverage is not None:
        threshold = f"confidence >= {report.min_confidence:g}"
        items.append((_percent(report.coverage), f"Answered at {threshold}"))
        if report.selective_accuracy is not None:
            items.append((_percent(report.selective_accuracy), f"Accuracy at {threshold}"))
    cards = "".join(
        f'<div class="card"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
        for value, label in items
    )
    return f'<section class="cards">{cards}</section>'


def _per_class_table(report: EvaluationReport) -> str:
    rows = [
        f"<tr><td>{escape(m.name)}</td><td>{m.precision:.3f}</td><td>{m.recall:.3f}</td>"
        f"<td>{m.f1:.3f}</td><td>{m.support}</td></tr>"
        for m in report.per_class
    ]
    averages = (("macro average", report.macro_avg), ("weighted average", report.weighted_avg))
    for label, a in averages:
        rows.append(
            f'<tr class="avg"><td>{label}</td><td>{a.precision:.3f}</td><td>{a.recall:.3f}</td>'
            f"<td>{a.f1:.3f}</td><td>{a.support}</td></tr>"
        )
    return (
        '<div class="scroll"><table><thead><tr><th>Class</th><th>Precision</th><th>Recall</th>'
        "<th>F1</th><th>Support</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _confusion_table(report: EvaluationReport) -> str:
    matrix = report.confusion_matrix
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    head = "".join(f"<th>{escape(n)}</th>" for n in report.class_names)
    body = []
    for t, name in enumerate(report.class_names):
        cells = []
        for p in range(report.num_classes):
            alpha = 0.08 + 0.8 * float(share[t, p]) if matrix[t, p] else 0.0
            color = "#ffffff" if alpha > 0.55 else "inherit"
            css = "diag" if t == p else ""
            cells.append(
                f'<td class="{css}" style="background: rgba(31, 111, 235, {alpha:.2f}); '
                f'color: {color}">{int(matrix[t, p])}</td>'
            )
        body.append(f"<tr><th>{escape(name)}</th>{''.join(cells)}</tr>")
    return (
        '<div class="scroll"><table class="cm"><thead><tr>'
        '<th class="corner">true \u2193 / predicted \u2192</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _history_table(history: dict[str, list[float]]) -> str:
    keys = list(history)
    epochs = max((len(v) for v in history.values()), default=0)
    head = "".join(f"<th>{escape(k)}</th>" for k in keys)
    rows = []
    for e in range(epochs):
        cells = "".join(
            f"<td>{history[k][e]:.4f}</td>" if e < len(history[k]) else "<td></td>" for k in keys
        )
        rows.append(f"<tr><td>{e + 1}</td>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr><th>Epoch</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _calibration_table(report: EvaluationReport) -> str:
    rows = "".join(
        f"<tr><td>{b.lower:.2f} \u2013 {b.upper:.2f}</td><td>{b.count}</td>"
        f"<td>{b.accuracy:.3f}</td><td>{b.confidence:.3f}</td></tr>"
        for b in report.calibration_bins
    )
    return (
        '<div class="scroll"><table><thead><tr><th>Confidence</th><th>Images</th>'
        f"<th>Accuracy</th><th>Mean confidence</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _curves(history: dict[str, list[float]], plots: bool) -> str:
    if plots:
        from flowerkit.evaluation.plots import plot_history

        try:
            figure = plot_history(history)
        except ConfigError:  # no accuracy or loss recorded: the table shows what there is
            pass
        else:
            return _img(_png_data_uri(figure), "Training and validation accuracy and loss")
    return _history_table(history)


def _img(uri: str, alt: str) -> str:
    return f'<img class="plot" src="{uri}" alt="{escape(alt)}">'


def _mistakes(report: EvaluationReport) -> str:
    if not report.mistakes:
        return "<p>No mistakes: every image was classified correctly.</p>"
    figures = []
    for m in report.mistakes:
        uri, explained = _thumbnails(m)
        alt = f"{m.true_label} predicted as {m.predicted_label}"
        if uri is not None:
            thumb = f'<img src="{uri}" alt="{escape(alt)}">'
            if explained is not None:
                where = f"Grad-CAM overlay: where the model saw {m.predicted_label}"
                thumb += f'<img class="gradcam" src="{explained}" alt="{escape(where)}">'
        elif m.file_path is None:
            thumb = '<div class="placeholder">no file</div>'
        else:
            thumb = '<div class="placeholder">image not found</div>'
        if m.file_path is not None:
            name = os.path.basename(m.file_path) or m.file_path
            file_line = f'<div class="file" title="{escape(m.file_path)}">{escape(name)}</div>'
        else:
            file_line = f'<div class="file">sample #{m.index}</div>'
        css = "mistake explained" if explained is not None else "mistake"
        figures.append(
            f'<figure class="{css}"><div class="thumb">{thumb}</div><figcaption>'
            f'<div class="pair"><span class="true">{escape(m.true_label)}</span> \u2192 '
            f'<span class="pred">{escape(m.predicted_label)}</span></div>'
            f'<div class="meta">confidence {_percent(m.confidence)} \u00b7 loss {m.loss:.2f}'
            f"</div>{file_line}</figcaption></figure>"
        )
    shown = len(report.mistakes)
    intro = (
        f"<p>The {shown} wrong predictions with the highest loss"
        f"{f' (of {report.num_errors})' if report.num_errors > shown else ''}: "
        "true class \u2192 predicted class, with the model's confidence."
    )
    if any(m.explanation is not None for m in report.mistakes):
        intro += (
            " Beside a photo, its Grad-CAM overlay shows where the model found the evidence "
            "for the class it predicted: red where it was strongest, blue where there was none."
        )
    intro += "</p>"
    return intro + '<div class="gallery">' + "".join(figures) + "</div>"


@register_renderer("html")
def render_report(
    report: EvaluationReport, *, history: Any = None, title: str | None = None
) -> str:
    """The complete HTML document for ``report`` (see :meth:`EvaluationReport.to_html`)."""
    heading = title if title is not None else "Evaluation report"
    curves = as_history(history) if history is not None else None
    plots = _matplotlib_available()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(heading)}</h1>",
        f'<p class="sub">{report.num_samples} images'
        + ("" if report.split is None else f" of the {escape(report.split)} split")
        + f" in {report.num_classes} classes: "
        + ", ".join(escape(n) for n in report.class_names)
        + "</p>",
        _cards(report),
    ]
    if not plots:
        parts.append(
            '<p class="note">Plots are not included because matplotlib is not installed: '
            "<code>pip install 'flowerkit[plot]'</code></p>"
        )
    if curves:  # a model loaded without history has {}: leave the section out
        parts += ["<h2>Training curves</h2>", _curves(curves, plots)]
    parts += ["<h2>Per-class metrics</h2>", _per_class_table(report)]
    parts.append("<h2>Confusion matrix</h2>")
    parts.append("<p>Rows are the true classes, columns the predicted ones.</p>")
    if plots:
        from flowerkit.evaluation.plots import plot_calibration, plot_confusion_matrix

        parts.append(_img(_png_data_uri(plot_confusion_matrix(report)), "Confusion matrix"))
    else:
        parts.append(_confusion_table(report))
    confused = report.most_confused()[:10]
    if confused:
        parts.append('<h3>Most confused</h3><ul class="confused">')
        parts += [f"<li>{escape(t)} \u2192 {escape(p)}: {n}</li>" for t, p, n in confused]
        parts.append("</ul>")
    parts.append("<h2>Calibration</h2>")
    parts.append(
        f"<p>Expected calibration error: <strong>{report.ece:.3f}</strong> "
        "(0 means the confidence matches the accuracy; computed over "
        f"{report.n_bins} equal-width confidence bins).</p>"
    )
    if plots:
        parts.append(_img(_png_data_uri(plot_calibration(report)), "Reliability diagram"))
    else:
        parts.append(_calibration_table(report))
    parts += ["<h2>Worst mistakes</h2>", _mistakes(report)]
    parts.append(f"<footer>Generated by flowerkit {escape(__version__)}.</footer>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
