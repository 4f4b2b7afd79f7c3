"""``flowerkit evaluate`` and ``flowerkit predict``: a saved model (or a ``.tflite``
export) on photos."""

from __future__ import annotations

import argparse
import glob
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowerkit.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_option_flags,
    options_given,
    progress_line,
    say,
)
from flowerkit.exceptions import ConfigError
from flowerkit.options.inference import EvaluateOptions, PredictOptions

__all__: list[str] = []  # private module


def cmd_evaluate(args: argparse.Namespace) -> int:
    from flowerkit.classifier import Classifier

    clf = Classifier.load(args.model)
    report = clf.evaluate(args.directory, **options_given(args, EvaluateOptions))
    if args.report:
        report.to_html(args.report, history=clf.history_)
    if args.json:
        print(report.to_json())
    else:
        say(args, report.to_text())
        if args.report:
            say(args, f"report: {args.report}")
    return EXIT_OK


def _expand(patterns: Sequence[str]) -> list[str]:
    items: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise ConfigError(f"No files match {pattern!r}.")
            items.extend(matches)
        else:
            items.append(pattern)
    return items


def _load_predictor(model: str) -> Any:
    """A ``LiteClassifier`` for a ``.tflite`` file (no TensorFlow import), else a
    ``Classifier``."""
    if Path(model).suffix.lower() == ".tflite":
        from flowerkit.lite import LiteClassifier

        return LiteClassifier(model)
    from flowerkit.classifier import Classifier

    return Classifier.load(model)


#: The longest side of an overlay ``predict --explain`` writes: a Grad-CAM map has a few
#: cells a side (5 x 5 for mobilenet_v2), so a larger overlay would show nothing more.
_OVERLAY_SIDE = 1024


def _overlay_names(sources: Sequence[str], folder: Path) -> list[Path]:
    """One ``<stem>.gradcam.png`` in ``folder`` per source, in order; a stem that comes
    again is numbered (``<stem>-2.gradcam.png``), so no overlay overwrites another."""
    taken: set[str] = set()
    names = []
    for source in sources:
        stem = Path(source).stem or "image"
        name, n = f"{stem}.gradcam.png", 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}.gradcam.png"
        taken.add(name)
        names.append(folder / name)
    return names


def _write_overlays(preds: Sequence[Any], folder: Path) -> list[str]:
    """Write each prediction's Grad-CAM overlay over its photo into ``folder``; return
    the paths written, in prediction order."""
    import numpy as np
    from PIL import Image

    from flowerkit.images import load_image
    from flowerkit.images.overlay import overlay

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for p, path in zip(preds, _overlay_names([p.source for p in preds], folder), strict=True):
        photo = Image.fromarray(load_image(p.source))
        photo.thumbnail((_OVERLAY_SIDE, _OVERLAY_SIDE), Image.Resampling.LANCZOS)
        Image.fromarray(overlay(np.asarray(photo), p.explanation)).save(path)
        written.append(str(path))
    return written


def _write_csv(clf: Any, preds: Any, flagged: bool, overlays: list[str]) -> None:
    """One CSV row per prediction on stdout; the ``uncertain`` column when ``flagged`` (it
    can only say yes with ``--min-confidence``), the ``explanation`` one with overlays."""
    import csv

    writer = csv.writer(sys.stdout)
    uncertain = ["uncertain"] if flagged else []
    explanation = ["explanation"] if overlays else []
    writer.writerow(["source", "label", "confidence", *uncertain, *clf.class_names, *explanation])
    for i, p in enumerate(preds):
        writer.writerow(
            [
                p.source,
                p.label,
                f"{p.confidence:.6f}",
                *([int(p.uncertain)] if flagged else []),
                *(f"{p.probabilities[c]:.6f}" for c in clf.class_names),
                *overlays[i : i + 1],
            ]
        )


def _print_predictions(
    args: argparse.Namespace, clf: Any, preds: Any, options: PredictOptions, overlays: list[str]
) -> None:
    """The predictions in the chosen format, naming the overlay written for each one."""
    fmt = "json" if args.json else args.format
    if fmt == "json":
        data = preds.to_dict()
        for item, path in zip(data["predictions"], overlays, strict=False):
            item["explanation"] = path  # overlays: one per prediction, or none
        print(json.dumps(data, indent=2))
    elif fmt == "csv":
        _write_csv(clf, preds, options.min_confidence is not None, overlays)
    else:
        width = max([len(p.source) for p in preds] + [6])
        say(args, f"{'source':<{width}}  {'label':<14} confidence  top-{options.top_k}")
        for p in preds:
            top = ", ".join(f"{lbl} {prob:.1%}" for lbl, prob in p.top_k)
            label = "uncertain" if p.uncertain else p.label
            say(args, f"{p.source:<{width}}  {label:<14} {p.confidence:>10.1%}  {top}")
        if overlays:
            say(args, "Grad-CAM overlays (where the model found its evidence):")
            for p, path in zip(preds, overlays, strict=True):
                say(args, f"  {p.source:<{width}}  {path}")


def cmd_predict(args: argparse.Namespace) -> int:
    explain = args.explain_dir is not None
    if explain and Path(args.model).suffix.lower() == ".tflite":
        raise ConfigError(
            "--explain needs the .keras model: a .tflite export has no gradients, and "
            "Grad-CAM is computed from them."
        )
    clf = _load_predictor(args.model)
    options = PredictOptions(**options_given(args, PredictOptions))
    if options.tta and not hasattr(clf, "fit"):
        raise ConfigError("--tta needs the .keras model; a .tflite export predicts plain.")
    given = {**options.given(), "errors": "skip", "progress": progress_line(args, "predicting")}
    preds = clf.predict(_expand(args.inputs), **given, **({"explain": True} if explain else {}))
    overlays = _write_overlays(preds, Path(args.explain_dir)) if explain else []
    _print_predictions(args, clf, preds, options, overlays)
    for failure in preds.failures:
        print(f"flowerkit: skipped {failure.source}: {failure.message}", file=sys.stderr)
    return EXIT_FAILURE if preds.failures else EXIT_OK


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model saved by 'flowerkit train' or Classifier.save")
    p.add_argument("directory", help="folder with one sub-folder per class")
    p.add_argument("--report", help="also write a self-contained HTML report here")
    add_option_flags(p, EvaluateOptions)


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        help="a model saved by 'flowerkit train' or Classifier.save, or a .tflite export",
    )
    p.add_argument("inputs", nargs="+", metavar="FILE|DIR|GLOB")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument(
        "--explain",
        dest="explain_dir",
        metavar="OUT_DIR",
        help="also write each photo's Grad-CAM overlay (where the model found its evidence) "
        "into OUT_DIR as <stem>.gradcam.png (.keras models only)",
    )
    add_option_flags(p, PredictOptions)
