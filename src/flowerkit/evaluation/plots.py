"""Pictures of a classifier and its data (optional extra: ``pip install 'flowerkit[plot]'``).

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot`` global
state, nothing is shown), returns it, and writes it to ``save_path`` when one is given
(``.png``, ``.svg`` or ``.pdf``, chosen by the suffix). They work with any backend,
including the headless ``Agg``. matplotlib is imported only when a function is called;
without it they raise :class:`ModuleNotFoundError` naming the extra to install.

Nothing here imports TensorFlow: sample images are read from the file lists of a
:class:`~flowerkit.data.Datasets` with :func:`~flowerkit.images.load_image`.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from flowerkit.core import validation as v
from flowerkit.evaluation.history import as_history
from flowerkit.evaluation.report import EvaluationReport
from flowerkit.exceptions import ConfigError
from flowerkit.images import load_image, thumbnail

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import NDArray

    from flowerkit.data.loading import Datasets
    from flowerkit.training.lr_finder import LearningRateFinding

__all__ = [
    "plot_calibration",
    "plot_confusion_matrix",
    "plot_history",
    "plot_lr_find",
    "plot_mistakes",
    "plot_samples",
]

_INSTALL_HINT = "pip install 'flowerkit[plot]'"
_SAVE_FORMATS = (".png", ".svg", ".pdf")
_THUMBNAIL = 256  # longest side of images drawn in grids, in pixels
_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


# --------------------------------------------------------------------------- helpers


def _figure(figsize: tuple[float, float]) -> Figure:
    """A new pyplot-free Figure, or a ModuleNotFoundError naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"flowerkit.evaluation.plots needs matplotlib, which is not installed: {_INSTALL_HINT}",
            name="matplotlib",
        ) from exc
    return Figure(figsize=figsize, layout="constrained")


def _check_save_path(save_path: str | os.PathLike[str] | None) -> Path | None:
    if save_path is None:
        return None
    if not isinstance(save_path, str | os.PathLike):
        raise ConfigError(f"`save_path` must be a file path. Received: save_path={save_path!r}")
    path = Path(os.fspath(save_path)).expanduser()
    if path.suffix.lower() not in _SAVE_FORMATS:
        raise ConfigError(
            f"`save_path` must end in {', '.join(_SAVE_FORMATS)}. Received: save_path={str(path)!r}"
        )
    return path


def _finish(fig: Figure, save_path: Path | None) -> Figure:
    if save_path is not None:
        fig.savefig(save_path, format=save_path.suffix.lower()[1:], dpi=100, bbox_inches="tight")
    return fig


def _text(value: object) -> str:
    """A user string made safe for matplotlib text (no accidental $math$)."""
    return str(value).replace("$", r"\$")


def _grid(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def _thumbnail(
    path: str | os.PathLike[str] | None, size: tuple[int, int] | None = None
) -> NDArray[np.uint8] | None:
    """The image at ``path`` at ``size`` (or shrunk to ``_THUMBNAIL``); None if unreadable."""
    if path is None:
        return None
    if size is None:
        return thumbnail(path, _THUMBNAIL)
    try:
        return load_image(path, size)
    except Exception:  # a gallery must never fail because of one bad or missing file
        return None


def _draw_image(ax: Axes, image: NDArray[np.uint8] | None, caption: str, color: str) -> None:
    if image is None:
        ax.set_facecolor("#e5e5e5")
        ax.text(
            0.5,
            0.5,
            "image not\navailable",
            ha="center",
            va="center",
            color="#666666",
            transform=ax.transAxes,
            fontsize=9,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.imshow(image)
        ax.axis("off")
    ax.set_title(caption, fontsize=9, color=color)


def _pick(history: Mapping[str, list[float]], names: Sequence[str]) -> str | None:
    return next((n for n in names if history.get(n)), None)


# --------------------------------------------------------------------------- plots


def _check_report(report: object) -> None:
    if not isinstance(report, EvaluationReport):
        raise ConfigError(
            f"`report` must be an EvaluationReport. Received {type(report).__name__}."
        )


def plot_history(
    history: object,
    *,
    save_path: str | os.PathLike[str] | None = None,
    figsize: tuple[float, float] = (8.0, 4.0),
) -> Figure:
    """The tutorial's training curves: accuracy (left) and loss (right) per epoch.

    Training and validation curves are drawn when present (``accuracy``/``val_accuracy``,
    ``loss``/``val_loss``; ``acc`` and ``sparse_categorical_accuracy`` are recognised too).

    Args:
        history: a Keras ``History``, its ``.history`` dict, a fitted ``Classifier``
            (anything with a ``history_`` attribute holding such a dict), or the path of a
            model saved by ``Classifier.save`` (its history is read without loading the
            model).
        save_path: where to write the figure too (``.png``, ``.svg`` or ``.pdf``).
        figsize: the figure's ``(width, height)`` in inches.

    Returns:
        The figure.

    Raises:
        ~flowerkit.ConfigError: ``history`` is not a history or has no accuracy
            or loss values, or ``save_path`` is not a path with a supported suffix.
    """
    data = as_history(history)
    path = _check_save_path(save_path)
    acc = _pick(data, _ACCURACY_KEYS)
    panels = [
        ("Accuracy", acc, f"val_{acc}" if acc else None, "lower right"),
        ("Loss", "loss" if data.get("loss") else None, "val_loss", "upper right"),
    ]
    if not any(train or (val and data.get(val)) for _, train, val, _ in panels):
        raise ConfigError(
            f"`history` has no accuracy or loss values to plot. Received keys: {sorted(data)!r}."
        )
    fig = _figure(figsize)
    axes = fig.subplots(1, 2)
    for ax, (what, train, val, legend_loc) in zip(axes, panels, strict=True):
        for key, label in ((train, f"Training {what}"), (val, f"Validation {what}")):
            values = data.get(key) if key else None
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        ax.set_title(f"Training and Validation {what}")
        ax.set_xlabel("Epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc=legend_loc)
        else:
            ax.text(
                0.5,
                0.5,
                f"no {what.lower()} recorded",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="#666666",
            )
    return _finish(fig, path)


def plot_confusion_matrix(
    report: EvaluationReport,
    normalize: bool = False,
    *,
    ax: Axes | None = None,
    save_path: str | os.PathLike[str] | None = None,
    cmap: str = "Blues",
) -> Figure:
    """The confusion matrix of ``report``: rows are true classes, columns predictions.

    Cells are annotated when there are at most 30 classes.

    Args:
        report: the evaluation report to draw.
        normalize: divide each row by its class's support (so the diagonal is the recall;
            an empty class's row stays 0).
        ax: draw into these axes (and return their figure) instead of a new figure.
        save_path: where to write the figure too (``.png``, ``.svg`` or ``.pdf``).
        cmap: the name of the matplotlib colour map.

    Returns:
        The figure.
    """
    _check_report(report)
    path = _check_save_path(save_path)
    counts = report.confusion_matrix.astype(np.float64)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    else:
        values = counts
    c = report.num_classes
    if ax is None:
        side = min(3.5 + 0.5 * c, 24.0)
        fig = _figure((side + 1.0, side))
        ax = fig.add_subplot()
    else:
        fig = cast("Figure", ax.figure)
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if not normalize:
        from matplotlib.ticker import MaxNLocator

        colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    labels = [_text(n) for n in report.class_names]
    ax.set_xticks(range(c), labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(c), labels)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title("Confusion matrix" + (" (normalized by true class)" if normalize else ""))
    if c <= 30:
        for t in range(c):
            for p in range(c):
                value = values[t, p]
                text = f"{value:.2f}" if normalize else f"{int(value)}"
                ax.text(
                    p,
                    t,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8 if c > 12 else 10,
                    color="white" if value > vmax / 2 else "black",
                )
    return _finish(fig, path)


def plot_samples(
    data: Datasets | tuple[Sequence[str | os.PathLike[str]], Sequence[int]],
    class_names: Sequence[str] | None = None,
    n: int = 9,
    *,
    subset: str = "train",
    seed: int | None = 123,
    save_path: str | os.PathLike[str] | None = None,
) -> Figure:
    """A labelled grid of ``n`` sample images, as in the tutorial.

    Files that cannot be read are shown as grey placeholders.

    Args:
        data: a :class:`~flowerkit.data.Datasets` (its ``subset`` file list is used and
            images are shown at the training ``image_size``; ``class_names`` defaults to
            its own) or a ``(paths, labels)`` pair with ``class_names`` given.
        class_names: the name of each label; required with a ``(paths, labels)`` pair.
        n: how many images to show.
        subset: ``"train"`` or ``"validation"``, for a :class:`~flowerkit.data.Datasets`.
        seed: the samples are drawn at random with ``seed`` (``None`` keeps the first
            ``n`` in order).
        save_path: where to write the figure too (``.png``, ``.svg`` or ``.pdf``).

    Returns:
        The figure.
    """
    n = v.check_positive_int(n, "n")
    seed = v.check_seed(seed)
    path = _check_save_path(save_path)
    size: tuple[int, int] | None = None
    files: Sequence[Any]
    labels: Sequence[int]
    if isinstance(data, tuple | list):
        if len(data) != 2:
            raise ConfigError(
                f"`data` must be a (paths, labels) pair. Received a sequence of {len(data)} items."
            )
        files, labels = data
        if class_names is None:
            raise ConfigError("`class_names` is required when `data` is a (paths, labels) pair.")
        names = v.check_class_names(class_names)
    elif hasattr(data, "train_files") and hasattr(data, "class_names"):
        v.check_choice(subset, "subset", ("train", "validation"))
        files = getattr(data, f"{subset}_files")
        labels = getattr(data, f"{subset}_labels")
        names = v.check_class_names(data.class_names if class_names is None else class_names)
        size = getattr(data, "image_size", None)
    else:
        raise ConfigError(
            "`data` must be a Datasets or a (paths, labels) pair. "
            f"Received an object of type {type(data).__name__}."
        )
    if len(files) != len(labels):
        raise ConfigError(
            f"`data` must have one label per path: got {len(files)} paths and {len(labels)} labels."
        )
    if not files:
        raise ConfigError(f"`data` has no images to show (subset={subset!r}).")
    indices = list(range(len(files)))
    if seed is not None:
        random.Random(seed).shuffle(indices)
    chosen = indices[:n]
    rows, cols = _grid(len(chosen))
    fig = _figure((2.2 * cols, 2.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, i in zip(axes, chosen, strict=False):
        label = int(labels[i])
        if not 0 <= label < len(names):
            raise ConfigError(
                f"Label {label} of {str(files[i])!r} is not a valid index into class_names "
                f"({len(names)} classes)."
            )
        _draw_image(ax, _thumbnail(files[i], size), _text(names[label]), "black")
    for ax in axes[len(chosen) :]:
        ax.axis("off")
    return _finish(fig, path)


def plot_mistakes(
    report: EvaluationReport,
    n: int = 16,
    *,
    save_path: str | os.PathLike[str] | None = None,
) -> Figure:
    """A gallery of the ``n`` worst mistakes, captioned ``true → predicted (confidence)``.

    Images come from the mistakes' file paths; a missing file is a grey placeholder. A
    report without mistakes gives a figure that says so.

    Args:
        report: the evaluation report whose mistakes to show.
        n: the most mistakes to show.
        save_path: where to write the figure too (``.png``, ``.svg`` or ``.pdf``).

    Returns:
        The figure.
    """
    _check_report(report)
    n = v.check_positive_int(n, "n")
    path = _check_save_path(save_path)
    mistakes = report.top_losses(n)
    if not mistakes:
        fig = _figure((4.0, 1.5))
        fig.text(0.5, 0.5, "No mistakes to show", ha="center", va="center", fontsize=12)
        return _finish(fig, path)
    rows, cols = _grid(len(mistakes))
    fig = _figure((2.4 * cols, 2.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, m in zip(axes, mistakes, strict=False):
        caption = f"{_text(m.true_label)} → {_text(m.predicted_label)} ({m.confidence:.2f})"
        _draw_image(ax, _thumbnail(m.file_path), caption, "#b00020")
    for ax in axes[len(mistakes) :]:
        ax.axis("off")
    fig.suptitle("Worst mistakes: true → predicted (confidence)")
    return _finish(fig, path)


def plot_calibration(
    report: EvaluationReport,
    *,
    ax: Axes | None = None,
    save_path: str | os.PathLike[str] | None = None,
) -> Figure:
    """A reliability diagram: accuracy per confidence bin against the diagonal.

    Bars show the accuracy of each non-empty confidence bin of the report
    (:attr:`~flowerkit.evaluation.EvaluationReport.calibration_bins`); outlines show the
    bin's mean confidence. A calibrated model's bars follow the diagonal;
    the title gives the expected calibration error.

    Args:
        report: the evaluation report to draw.
        ax: draw into these axes (and return their figure) instead of a new figure.
        save_path: where to write the figure too (``.png``, ``.svg`` or ``.pdf``).

    Returns:
        The figure.
    """
    _check_report(report)
    path = _check_save_path(save_path)
    if ax is None:
        fig = _figure((4.8, 4.4))
        ax = fig.add_subplot()
    else:
        fig = cast("Figure", ax.figure)
    bins = report.calibration_bins
    centers = [(b.lower + b.upper) / 2 for b in bins]
    widths = [b.upper - b.lower for b in bins]
    ax.bar(
        centers,
        [b.accuracy for b in bins],
        width=widths,
        color="#4c72b0",
        edgecolor="white",
        label="Accuracy",
    )
    ax.bar(
        centers,
        [b.confidence for b in bins],
        width=widths,
        fill=False,
        edgecolor="#dd8452",
        linewidth=1.2,
        label="Mean confidence",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="#555555", linewidth=1, label="Perfect")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Accuracy")
    ax.set_title(f"Reliability diagram (ECE = {report.ece:.3f})")
    ax.legend(loc="upper left")
    return _finish(fig, path)


def plot_lr_find(
    finding: LearningRateFinding,
    *,
    ax: Axes | None = None,
    save_path: str | os.PathLike[str] | None = None,
) -> Figure:
    """The learning-rate range test: loss against learning rate, on a log rate axis.

    The raw loss of each step is drawn faintly, the smoothed loss over it, and the
    suggested rate (if any) as a marker on the smoothed curve with a dashed line. When the
    test stopped on divergence, the loss axis stops a little above the smoothed curve's
    highest point before its last five steps, so the blow-up does not flatten the rest;
    non-finite losses are left out.

    Args:
        finding: what :func:`~flowerkit.training.lr_finder.find_learning_rate` returned.
        ax: draw into these axes (and return their figure) instead of a new figure.
        save_path: where to write the figure too (``.png``, ``.svg`` or ``.pdf``).

    Returns:
        The figure.

    Raises:
        ~flowerkit.ConfigError: ``finding`` is not a ``LearningRateFinding`` or has no
            steps, or ``save_path`` is not a path with a supported suffix.
    """
    from flowerkit.training.lr_finder import LearningRateFinding

    if not isinstance(finding, LearningRateFinding):
        raise ConfigError(
            f"`finding` must be a LearningRateFinding. Received {type(finding).__name__}."
        )
    if not finding.rates:
        raise ConfigError("`finding` has no steps to plot.")
    path = _check_save_path(save_path)
    if ax is None:
        fig = _figure((6.0, 4.0))
        ax = fig.add_subplot()
    else:
        fig = cast("Figure", ax.figure)
    rates = np.asarray(finding.rates, dtype=np.float64)
    raw = np.asarray(finding.losses, dtype=np.float64)
    smooth = np.asarray(finding.smoothed, dtype=np.float64)
    raw = np.where(np.isfinite(raw), raw, np.nan)
    smooth = np.where(np.isfinite(smooth), smooth, np.nan)
    ax.plot(rates, raw, color="#4c72b0", alpha=0.3, linewidth=1, label="Loss")
    ax.plot(rates, smooth, color="#4c72b0", linewidth=2, label="Smoothed loss")
    if finding.suggestion is not None:
        i = int(np.argmin(np.abs(np.log(rates) - math.log(finding.suggestion))))
        ax.axvline(finding.suggestion, color="#c44e52", linestyle="--", linewidth=1)
        ax.plot(
            [finding.suggestion],
            [smooth[i]],
            marker="o",
            markersize=8,
            color="#c44e52",
            linestyle="none",
            label=f"Suggestion: {finding.suggestion:.2g}",
        )
    ax.set_xscale("log")
    kept = smooth[: max(1, len(smooth) - 5)] if finding.stopped_early else smooth
    kept = kept[np.isfinite(kept)]
    shown = np.concatenate([raw[np.isfinite(raw)], smooth[np.isfinite(smooth)]])
    if kept.size and shown.size:
        low, high = float(shown.min()), float(kept.max())
        margin = 0.1 * (high - low) or 0.1 * abs(high) or 0.1
        ax.set_ylim(low - margin, high + margin)
    ax.set_xlabel("Learning rate (log scale)")
    ax.set_ylabel("Loss")
    title = "Learning-rate range test"
    if finding.suggestion is None:
        title += " (no suggestion)"
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower left")
    return _finish(fig, path)
