"""The ``flowerkit`` command line: the whole workflow, with the API's names.

TensorFlow is imported only inside the commands that need it, so ``flowerkit --help`` and
``flowerkit --version`` answer at once. Exit codes: 0 success, 1 the task failed (bad
data, unreadable model, ...), 2 usage error. Errors print as one line; ``-v`` adds the
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flowerkit._version import __version__
from flowerkit.core.options import RECIPE, Options
from flowerkit.core.runtime import tune_for_training
from flowerkit.exceptions import ConfigError, FlowerkitError
from flowerkit.options.audit import AuditOptions
from flowerkit.options.data import LoadOptions
from flowerkit.options.export import ExportOptions
from flowerkit.options.inference import EvaluateOptions, PredictOptions
from flowerkit.options.models import BuildOptions
from flowerkit.options.training import TrainOptions

if TYPE_CHECKING:
    from flowerkit.models import PresetSpec

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

_EPILOGS = {
    "check": """examples:
  flowerkit check photos/
  flowerkit check photos/ --json > report.json""",
    "audit": """examples:
  flowerkit audit photos/ --report audit.html        (label errors, copies, leaks, outliers)
  flowerkit audit photos/ --model flowers.keras --json > audit.json
  flowerkit audit photos/ --write-plan plan.csv      (suggested moves, for you to edit)
  flowerkit audit photos/ --apply plan.csv           (dry run: what would move)
  flowerkit audit photos/ --apply plan.csv --yes     (move; prints the log to undo with)
  flowerkit audit --undo photos.audit-20261207T101500Z.jsonl""",
    "train": """examples:
  flowerkit train photos/ --out flowers.keras        (mobilenet_v2 from ImageNet weights)
  flowerkit train photos/ --out flowers.keras --offline       (no download: compact if need be)
  flowerkit train photos/ --out flowers.keras --weights mobilenet_v2_no_top.weights.h5
  flowerkit train photos/ --out flowers.keras --preset tutorial --epochs 15 --augment
  flowerkit train photos/ --out flowers.keras --preset compact --option width=1.5 --json
  flowerkit train photos/ --out flowers.keras --preset mobilenet_v2 --fine-tune-layers all
  flowerkit train photos/ --out flowers.keras --class-weight balanced --calibrate""",
    "evaluate": """examples:
  flowerkit evaluate flowers.keras photos_test/
  flowerkit evaluate flowers.keras photos_test/ --report report.html --json""",
    "predict": """examples:
  flowerkit predict flowers.keras rose.jpg
  flowerkit predict flowers.keras 'new/*.jpg' --top-k 2 --format csv
  flowerkit predict flowers.keras new_photos/ --format json
  flowerkit predict flowers.keras rose.jpg --explain overlays/   (Grad-CAM overlays)
  flowerkit predict flowers.tflite rose.jpg        (LiteRT: no TensorFlow needed)""",
    "export": """examples:
  flowerkit export flowers.keras --format saved_model --out flowers_savedmodel
  flowerkit export flowers.keras --format tflite --out flowers.tflite
  flowerkit export flowers.keras --format tflite --quantization int8 \\
      --representative-data photos/ --validation-data photos_test/ --out flowers_int8.tflite""",
    "demo": """examples:
  flowerkit demo
  flowerkit demo --offline
  flowerkit demo --out /tmp/demo --preset tutorial --epochs 5""",
    "presets": """examples:
  flowerkit presets
  flowerkit presets --json""",
    "weights": """examples:
  flowerkit weights
  flowerkit weights --fetch
  flowerkit weights --json
  FLOWERKIT_WEIGHTS_MIRROR=https://files.example.com/weights/ flowerkit weights --fetch
  FLOWERKIT_WEIGHTS_MIRROR=/mnt/shared/weights flowerkit weights --fetch""",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with status 2."""

    def error(self, message: str) -> Any:  # usage errors exit 2 with one line
        self.print_usage(sys.stderr)
        print(f"flowerkit: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _out(args: argparse.Namespace, text: str) -> None:
    """Human-readable output: silent with -q, and with --json (stdout is for the JSON)."""
    if not args.quiet and not getattr(args, "json", False):
        print(text)


def _progress_verbose(args: argparse.Namespace) -> Literal[0, 1, 2]:
    """Keras verbosity: a progress bar on a terminal, one line per epoch in a pipe."""
    if args.quiet or getattr(args, "json", False):
        return 0
    return 1 if sys.stdout.isatty() else 2


def _progress_line(args: argparse.Namespace, label: str) -> Callable[[int, int], None] | None:
    """A one-line progress display on a terminal's stderr; nothing in a pipe, -q or --json."""
    if args.quiet or getattr(args, "json", False) or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done == total else ""
        print(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def _download_progress(
    args: argparse.Namespace, label: str
) -> Callable[[int, int | None], None] | None:
    """A one-line download display (megabytes) on a terminal's stderr; nothing in a pipe,
    -q or --json."""
    if args.quiet or getattr(args, "json", False) or not sys.stderr.isatty():
        return None

    def show(done: int, total: int | None) -> None:
        width, mb = 30, done / 1e6
        if total is None:
            line = f"{mb:.1f} MB"
        else:
            filled = width * done // max(total, 1)
            line = f"[{'#' * filled}{'.' * (width - filled)}] {mb:.1f}/{total / 1e6:.1f} MB"
        end = "\n" if done == total else ""
        print(f"\r{label} {line}", end=end, file=sys.stderr, flush=True)

    return show


@contextlib.contextmanager
def _offline(on: bool) -> Iterator[None]:
    """``--offline``: ``$FLOWERKIT_OFFLINE=1`` for this command (restored afterwards), so
    that the default preset and ``weights="imagenet"`` both see it."""
    if not on:
        yield
        return
    from flowerkit.models.download import OFFLINE_ENV

    saved = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(OFFLINE_ENV, None)
        else:
            os.environ[OFFLINE_ENV] = saved


# ---------------------------------------------------------------------------- commands
def _cmd_check(args: argparse.Namespace) -> int:
    from flowerkit.data import check_images

    report = check_images(args.directory, progress=_progress_line(args, "checking"))
    if args.json:
        print(report.to_json())
    else:
        _out(args, report.to_text(verbose=args.verbose))
    return EXIT_OK if report.usable else EXIT_FAILURE


def _cmd_audit(args: argparse.Namespace) -> int:
    from flowerkit import auditing as fa

    if args.undo is not None:
        if args.directory is not None or args.apply is not None:
            raise ConfigError("--undo LOG takes no folder and no --apply: the log names both")
        restored = fa.undo(args.undo)
        if args.json:
            print(json.dumps({"restored": [str(m.source) for m in restored]}))
        else:
            _out(args, f"restored {len(restored)} files; the folder is as before the apply")
        return EXIT_OK
    if args.directory is None:
        raise ConfigError("give the folder to audit (or --undo LOG)")
    if args.apply is not None:
        result = fa.apply_plan(
            args.apply, args.directory, yes=args.yes, quarantine=args.quarantine, log=args.log
        )
        if args.json:
            print(json.dumps(result.to_dict(), indent=2))
        else:
            _out(args, result.summary())
        return EXIT_OK
    if args.yes or args.log is not None:
        raise ConfigError("--yes and --log go with --apply PLAN")
    report = fa.audit(
        args.directory,
        model=args.model,
        **_given(args, AuditOptions),
        progress=_progress_line(args, "embedding"),
    )
    written: dict[str, str] = {}
    if args.report is not None:
        written["report_html"] = str(report.write_html(args.report))
    if args.write_plan is not None:
        plan = fa.write_plan(
            report.plan(), args.write_plan, args.directory, quarantine=args.quarantine
        )
        written["plan"] = str(plan)
    if args.json:
        print(json.dumps({**report.to_dict(), **written}, indent=2))
    else:
        _out(args, report.to_text())
        for what, path in written.items():
            _out(args, f"{what.replace('_', ' ')}: {path}")
    return EXIT_OK


def _add_audit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", nargs="?", help="folder with one sub-folder per class")
    p.add_argument(
        "--model",
        metavar="M",
        help="a model trained on the folder: its features, and its accuracy with and "
        "without the leaked photos (default: the ImageNet backbone's features)",
    )
    p.add_argument("--report", metavar="HTML", help="write the gallery of findings here")
    _add_offline(p, "the audit needs --model or --weights")
    _add_options(p, AuditOptions)
    act = p.add_argument_group("acting on the findings (nothing is ever deleted)")
    act.add_argument("--write-plan", metavar="CSV", help="write the suggested moves, to edit")
    act.add_argument("--apply", metavar="CSV", help="perform a plan (a dry run without --yes)")
    act.add_argument("--yes", action="store_true", help="with --apply: move the files")
    act.add_argument("--log", metavar="FILE", help="with --apply: where to log the moves")
    act.add_argument(
        "--quarantine",
        metavar="DIR",
        help="where set-aside files go (default: DIR.quarantine next to the folder)",
    )
    act.add_argument("--undo", metavar="LOG", help="put back every file an --apply moved")


@dataclass(frozen=True)
class _TrainPlan:
    """What ``train`` (and ``demo``) was asked for: the options the user gave, by the
    declaration they belong to (an option not given is left out: the API's default)."""

    preset: str | None = None
    preset_options: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    devices: int | None = None
    multi_worker: bool = False
    collective_timeout: float | None = None


def _option_value(text: str) -> Any:
    """``--option`` values: JSON literals (numbers, true/false, null) or plain strings."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _preset_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in args.option or ():
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(
                f"--option takes KEY=VALUE, e.g. --option width=1.5. Received: {item!r}"
            )
        options[key] = _option_value(value)
    if args.weights is not None:
        options["weights"] = None if args.weights.lower() == "none" else args.weights
    return options


def _resolve_preset(
    args: argparse.Namespace, plan: _TrainPlan
) -> tuple[PresetSpec, dict[str, Any]]:
    """The preset (looked up once) and its options, checked against what it declares;
    with no ``--preset``, the default (said in one line): the transfer preset from
    ImageNet weights found or downloaded now, else ``compact``."""
    from flowerkit.models import get_preset
    from flowerkit.models.download import KNOWN_WEIGHTS, fetch_weights
    from flowerkit.models.weights import default_preset

    options = dict(plan.preset_options)
    progress = _download_progress(args, "downloading ImageNet weights")
    if plan.preset is None:
        choice = default_preset(options.pop("weights", None), progress=progress)
        _out(args, f"training the {choice.preset!r} preset: {choice.reason} (--preset overrides)")
        name, options = choice.preset, {**choice.options, **options}
    else:
        name = plan.preset
    spec = get_preset(name)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        offered = ", ".join(spec.options) or "none"
        flags = ", ".join("--weights" if k == "weights" else f"--option {k}=..." for k in unknown)
        raise ConfigError(f"The {name!r} preset does not take {flags}; its options: {offered}.")
    if spec.name in KNOWN_WEIGHTS and options.get("weights", "imagenet") == "imagenet":
        fetch_weights(spec.name, progress=progress)  # here, to show progress; then found
    return spec, options


def _train_and_report(
    args: argparse.Namespace, directory: str | os.PathLike[str], out: Path, plan: _TrainPlan
) -> dict[str, Any]:
    """Load, train, save, and write curves + report next to the model. Returns a summary."""
    from flowerkit.training import distribute

    strategy = _strategy(args, plan)  # first: splitting a CPU must precede TF's start
    cluster = distribute.cluster_of(strategy)
    spec, preset_options = _resolve_preset(args, plan)
    clf, data = _build(directory, spec, preset_options, plan, strategy)
    started = time.monotonic()
    _fit(args, clf, data, plan.train, out)
    seconds = round(time.monotonic() - started, 1)
    if not cluster.is_chief:
        _out(args, f"worker {cluster.task_index}: trained; the chief writes the model and report")
        return {"model": None, "worker": cluster.task_index, "seconds": seconds}
    path = clf.save(out)
    summary: dict[str, Any] = {
        "model": str(path),
        "preset": spec.name,
        "classes": list(clf.class_names),
        "train_images": len(data.train_files),
        "validation_images": len(data.validation_files),
        "epochs": len(next(iter(clf.history_.values()), [])),
        "seconds": seconds,
        "metrics": clf.metrics_,
        "left_out": len(data.report.bad_files) if data.report else 0,
    }
    if clf.calibration_:
        summary["calibration"] = dict(clf.calibration_)
    summary.update(_write_extras(clf, data, path))
    return summary


def _build(
    directory: str | os.PathLike[str],
    spec: PresetSpec,
    preset_options: dict[str, Any],
    plan: _TrainPlan,
    strategy: Any,
) -> tuple[Any, Any]:
    """The data at the model's size and the preset's model, one seed for both."""
    from flowerkit.classifier import Classifier
    from flowerkit.data import load_datasets

    build = dict(plan.build)
    size = build.pop("image_size", None) or spec.image_size
    # Every worker of several loads the whole folder: they all run one process's batches.
    data = load_datasets(directory, image_size=size, **plan.load)
    clf = Classifier.from_preset(
        spec,
        class_names=data.class_names,
        image_size=size,
        seed=data.seed,  # the split's seed seeds the model too: one --seed for the run
        strategy=strategy,
        **build,
        **preset_options,
    )
    return clf, data


def _fit(args: argparse.Namespace, clf: Any, data: Any, train: dict[str, Any], out: Path) -> None:
    """Train ``clf`` with the options given (``fit`` checks them), checkpointing beside
    the model; a Ctrl-C says how to resume."""
    from flowerkit.artifact import model_path

    target = model_path(out)  # beside the file save() writes; fit removes it when done
    checkpoint = target.with_name(target.name + ".checkpoint")
    options = {**train, "seed": data.seed, "checkpoint_dir": checkpoint}
    try:
        clf.fit(data, verbose=_progress_verbose(args), **options)
    except KeyboardInterrupt:
        print(
            f"\nflowerkit: interrupted; the last completed epoch is kept in {checkpoint}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        raise SystemExit(130) from None


def _strategy(args: argparse.Namespace, plan: _TrainPlan) -> Any:
    """The ``tf.distribute`` strategy ``--devices`` / ``--multi-worker`` ask for, or None."""
    if plan.collective_timeout is not None and not plan.multi_worker:
        raise ConfigError("--collective-timeout is for --multi-worker runs.")
    if plan.devices is None and not plan.multi_worker:
        return None
    from flowerkit.training import distribute

    if plan.multi_worker:
        strategy = distribute.make_strategy(
            "multi_worker", devices=plan.devices, timeout=plan.collective_timeout
        )
    else:
        strategy = distribute.make_strategy("mirrored", devices=plan.devices)
    cluster = distribute.cluster_of(strategy)
    where = f"{cluster.num_workers} workers, " if cluster.num_workers > 1 else ""
    _out(args, f"training on {where}{strategy.num_replicas_in_sync} replicas (global batch)")
    return strategy


def _write_extras(clf: Any, data: Any, model_path: Path) -> dict[str, Any]:
    """Curves PNG and evaluation report beside the model (as far as extras allow)."""
    written: dict[str, Any] = {}
    stem = model_path.with_suffix("")
    if data.validation is not None:
        report = clf.evaluate(data)
        written["validation_accuracy"] = report.accuracy
        written["validation_ece"] = report.ece
        report_path = stem.with_name(stem.name + ".report.html")
        report.to_html(report_path, history=clf.history_)
        json_path = stem.with_name(stem.name + ".report.json")
        json_path.write_text(report.to_json())
        written["report"] = str(report_path)
        written["report_json"] = str(json_path)
    if getattr(data, "test", None) is not None:
        test = clf.evaluate(data, subset="test")
        written["test_accuracy"] = test.accuracy
        test_path = stem.with_name(stem.name + ".test-report.json")
        test_path.write_text(test.to_json())
        written["test_report_json"] = str(test_path)
    try:
        from flowerkit.evaluation.plots import plot_history

        curves = stem.with_name(stem.name + ".curves.png")
        plot_history(clf.history_, save_path=curves)
        written["curves"] = str(curves)
    except ImportError:
        written["curves"] = None
    return written


def _plan(args: argparse.Namespace) -> _TrainPlan:
    return _TrainPlan(
        preset=args.preset,
        preset_options=_preset_options(args),
        build=_given(args, BuildOptions),
        load=_given(args, LoadOptions),
        train=_given(args, TrainOptions),
        devices=args.devices,
        multi_worker=args.multi_worker,
        collective_timeout=args.collective_timeout,
    )


def _cmd_train(args: argparse.Namespace) -> int:
    summary = _train_and_report(args, args.directory, Path(args.out), _plan(args))
    if args.json:
        print(json.dumps(summary, indent=2))
    elif summary["model"] is not None:  # None: a worker that is not the chief
        _out(args, f"saved {summary['model']}")
        for split in ("validation", "test"):
            if f"{split}_accuracy" in summary:
                _out(args, f"{split} accuracy {summary[f'{split}_accuracy']:.3f}")
        if "validation_ece" in summary:
            how = "calibrated" if "calibration" in summary else "not calibrated"
            _out(args, f"validation calibration error {summary['validation_ece']:.3f} ({how})")
        for key in ("curves", "report"):
            if summary.get(key):
                _out(args, f"{key}: {summary[key]}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from flowerkit.classifier import Classifier

    clf = Classifier.load(args.model)
    report = clf.evaluate(args.directory, **_given(args, EvaluateOptions))
    if args.report:
        report.to_html(args.report, history=clf.history_)
    if args.json:
        print(report.to_json())
    else:
        _out(args, report.to_text())
        if args.report:
            _out(args, f"report: {args.report}")
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
        _out(args, f"{'source':<{width}}  {'label':<14} confidence  top-{options.top_k}")
        for p in preds:
            top = ", ".join(f"{lbl} {prob:.1%}" for lbl, prob in p.top_k)
            label = "uncertain" if p.uncertain else p.label
            _out(args, f"{p.source:<{width}}  {label:<14} {p.confidence:>10.1%}  {top}")
        if overlays:
            _out(args, "Grad-CAM overlays (where the model found its evidence):")
            for p, path in zip(preds, overlays, strict=True):
                _out(args, f"  {p.source:<{width}}  {path}")


def _cmd_predict(args: argparse.Namespace) -> int:
    explain = args.explain_dir is not None
    if explain and Path(args.model).suffix.lower() == ".tflite":
        raise ConfigError(
            "--explain needs the .keras model: a .tflite export has no gradients, and "
            "Grad-CAM is computed from them."
        )
    clf = _load_predictor(args.model)
    options = PredictOptions(**_given(args, PredictOptions))
    if options.tta and not hasattr(clf, "fit"):
        raise ConfigError("--tta needs the .keras model; a .tflite export predicts plain.")
    given = {**options.given(), "errors": "skip", "progress": _progress_line(args, "predicting")}
    preds = clf.predict(_expand(args.inputs), **given, **({"explain": True} if explain else {}))
    overlays = _write_overlays(preds, Path(args.explain_dir)) if explain else []
    _print_predictions(args, clf, preds, options, overlays)
    for failure in preds.failures:
        print(f"flowerkit: skipped {failure.source}: {failure.message}", file=sys.stderr)
    return EXIT_FAILURE if preds.failures else EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from flowerkit.classifier import Classifier

    clf = Classifier.load(args.model)
    result = clf.export(args.out, args.format, **_given(args, ExportOptions))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _out(args, f"exported {result.path} ({result.size_bytes / 1e6:.1f} MB)")
        for check in result.checks:
            _out(args, f"  {check}: {'ok' if check.passed else 'FAILED'}")
    return EXIT_OK


def _cmd_presets(args: argparse.Namespace) -> int:
    from flowerkit.models import get_preset, list_presets

    rows = [get_preset(name) for name in list_presets()]
    if args.json:
        print(
            json.dumps(
                [
                    {"name": s.name, "image_size": list(s.image_size), "description": s.description}
                    for s in rows
                ],
                indent=2,
            )
        )
    else:
        for s in rows:
            _out(args, f"{s.name:<14} {s.image_size[0]}x{s.image_size[1]}  {s.description}")
    return EXIT_OK


def _cmd_weights(args: argparse.Namespace) -> int:
    from flowerkit.models.download import KNOWN_WEIGHTS, fetch_weights, verify_weights

    if args.fetch:
        for preset in sorted(KNOWN_WEIGHTS):
            path = fetch_weights(preset, progress=_download_progress(args, f"{preset}:"))
            _out(args, f"{preset}: {path}")
    rows = verify_weights()
    bad = [row for row in rows if row.status == "mismatch"]
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        _weights_text(args, rows)
    for row in bad:
        print(
            f"flowerkit: {row.path} does not verify ({row.detail}); delete it and run "
            "'flowerkit weights --fetch'",
            file=sys.stderr,
        )
    return EXIT_FAILURE if bad else EXIT_OK


def _weights_text(args: argparse.Namespace, rows: list[Any]) -> None:
    from flowerkit.models.download import MIRROR_ENV, is_offline
    from flowerkit.models.local_weights import weights_folders

    mirror = os.environ.get(MIRROR_ENV)
    source = f"${MIRROR_ENV} ({mirror})" if mirror else "their public addresses"
    _out(args, "folders searched, in order: " + ", ".join(map(str, weights_folders())))
    _out(args, "downloads: " + ("none (offline)" if is_offline() else f"from {source}"))
    for row in rows:
        used = "  [used by default]" if row.used else ""
        where = row.path if row.path is not None else f"not here (would go to {row.target})"
        _out(args, f"{row.preset}  {row.status:<10}  {row.name}{used}")
        _out(args, f"    {where}: {row.detail}" if row.path is not None else f"    {where}")


def _cmd_demo(args: argparse.Namespace) -> int:
    from flowerkit.classifier import Classifier
    from flowerkit.data import demo_sample

    folder, heldout = demo_sample()
    out = Path(args.out) if args.out else Path.cwd() / "flowerkit-demo"
    out.mkdir(parents=True, exist_ok=True)
    which = "the default preset" if args.preset is None else f"the {args.preset!r} preset"
    _out(args, f"Training {which} on the embedded sample ({folder}) ...")
    plan = _TrainPlan(
        preset=args.preset,
        load={"seed": args.seed, "batch_size": args.batch_size},
        train={} if args.epochs is None else {"epochs": args.epochs},
    )
    summary = _train_and_report(args, folder, out / "demo.keras", plan)
    clf = Classifier.load(summary["model"])
    preds = clf.predict(heldout)
    summary["predictions"] = [p.to_dict() for p in preds]
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    _out(args, f"saved {summary['model']} ({summary['seconds']} s of training)")
    if "validation_accuracy" in summary:
        _out(
            args,
            f"validation accuracy on the sample: {summary['validation_accuracy']:.2f} "
            f"(calibration error {summary['validation_ece']:.3f})",
        )
    for p in preds:
        truth = Path(p.source).name.split("_")[0]
        _out(
            args,
            f"held-out {Path(p.source).name}: {p.label} ({p.confidence:.1%} confident; "
            f"true class {truth})",
        )
    return EXIT_OK


# ---------------------------------------------------------------------------- parser
def _add_options(group: Any, options: type[Options]) -> None:
    """A flag for every option of ``options`` that declares one. A flag not given leaves
    its option out of the namespace (``argparse.SUPPRESS``), so the API's default applies:
    no default is declared here."""
    for item, spec in options.specs():
        flag = spec.flag
        if flag is None:
            continue
        default = item.default
        hidden = default is None or default is False or default == () or default is RECIPE
        shown = "" if hidden else f" (default {'on' if default is True else default})"
        kwargs: dict[str, Any] = {"dest": item.name, "help": spec.help + shown}
        kwargs["default"] = argparse.SUPPRESS
        if flag.kind == "switch":
            kwargs["action"] = "store_true"
        elif flag.kind == "negatable":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update(metavar=flag.metavar, choices=flag.choices, type=flag.parse or str)
        group.add_argument(flag.name or "--" + item.name.replace("_", "-"), **kwargs)


def _given(args: argparse.Namespace, options: type[Options]) -> dict[str, Any]:
    """The options of ``options`` that the command line gave."""
    return {
        item.name: getattr(args, item.name)
        for item, spec in options.specs()
        if spec.flag is not None and hasattr(args, item.name)
    }


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", help="folder with one sub-folder per class")
    p.add_argument("--out", required=True, help="where to save the model (.keras)")
    model = p.add_argument_group("model")
    model.add_argument(
        "--preset",
        help="model preset (see 'flowerkit presets'); default: mobilenet_v2 from its "
        "ImageNet weights (found on this machine, else downloaded once into flowerkit's "
        "cache; see 'flowerkit weights'), or compact when they cannot be had",
    )
    model.add_argument(
        "--weights",
        metavar="imagenet|FILE|none",
        help="a transfer preset's starting weights: 'imagenet' (a local copy if found, "
        "else downloaded once and verified), a weights file, or 'none' (random)",
    )
    _add_offline(model)
    model.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="any other option the preset declares (e.g. --option width=1.5); repeatable",
    )
    _add_options(model, BuildOptions)
    _add_options(p.add_argument_group("data"), LoadOptions)
    _add_options(p.add_argument_group("training"), TrainOptions)
    devices = p.add_argument_group("several devices (tf.distribute)")
    devices.add_argument(
        "--devices",
        type=int,
        metavar="N",
        help="train on N devices of this machine under MirroredStrategy: N GPUs, or "
        "without a GPU the CPU split into N logical devices (for testing; not faster); "
        "--batch-size is the global batch",
    )
    devices.add_argument(
        "--multi-worker",
        action="store_true",
        help="train on the machines TF_CONFIG names (MultiWorkerMirroredStrategy): run "
        "the same command on each; only the chief (worker 0) writes the model, the "
        "report and the checkpoints",
    )
    devices.add_argument(
        "--collective-timeout",
        type=float,
        metavar="SECONDS",
        help="with --multi-worker: how long a step waits for every worker before the run "
        "stops with an error (default 600)",
    )


def _add_offline(group: Any, without: str = "") -> None:
    group.add_argument(
        "--offline",
        action="store_true",
        help="never download pretrained weights (as $FLOWERKIT_OFFLINE=1): without a local "
        "copy "
        + (
            without
            or "the default preset is compact, and --preset mobilenet_v2 stops with an error"
        ),
    )


def _add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model saved by 'flowerkit train' or Classifier.save")
    p.add_argument("directory", help="folder with one sub-folder per class")
    p.add_argument("--report", help="also write a self-contained HTML report here")
    _add_options(p, EvaluateOptions)


def _add_predict_arguments(p: argparse.ArgumentParser) -> None:
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
    _add_options(p, PredictOptions)


def _add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model saved by 'flowerkit train' or Classifier.save")
    p.add_argument("--format", choices=("saved_model", "tflite", "onnx"), required=True)
    p.add_argument(
        "--out", required=True, help="the SavedModel folder, .tflite or .onnx file to write"
    )
    _add_options(p, ExportOptions)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="flowerkit",
        description="Train, check, evaluate and ship image classifiers from a folder of photos.",
        epilog="Run 'flowerkit COMMAND --help' for a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"flowerkit {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    common.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks and TensorFlow's log"
    )
    common.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=_EPILOGS.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = add("check", "check every image in a folder of class sub-folders", _cmd_check)
    p.add_argument("directory", help="folder with one sub-folder per class")
    _add_audit_arguments(
        add(
            "audit",
            "find likely label errors, near-duplicates, leaks and outliers in a folder",
            _cmd_audit,
        )
    )

    _add_train_arguments(add("train", "train a classifier on a folder and save it", _cmd_train))

    _add_evaluate_arguments(
        add("evaluate", "evaluate a saved model on a folder of class sub-folders", _cmd_evaluate)
    )
    _add_predict_arguments(
        add("predict", "classify image files, folders or glob patterns", _cmd_predict)
    )
    _add_export_arguments(
        add(
            "export",
            "export a saved model as a SavedModel, a LiteRT or an ONNX file",
            _cmd_export,
        )
    )
    p = add("presets", "list the model presets", _cmd_presets)

    p = add("weights", "list and verify the pretrained weights flowerkit knows", _cmd_weights)
    p.add_argument(
        "--fetch",
        action="store_true",
        help="download what is missing first (from $FLOWERKIT_WEIGHTS_MIRROR when set)",
    )
    _add_demo_arguments(
        add("demo", "train on the embedded flower sample and predict held-out photos", _cmd_demo)
    )
    return parser


def _add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output folder (default: ./flowerkit-demo)")
    p.add_argument(
        "--preset",
        help="the preset to train (default: as 'flowerkit train' chooses: mobilenet_v2 "
        "from ImageNet weights, else compact)",
    )
    _add_offline(p)
    # 96 training photos: batches of 8 give the network 12 steps an epoch, not 3 (at the
    # tutorial's 32 it ends 10 epochs near chance; this way near 0.5 on the 22 held back).
    p.add_argument("--epochs", type=int, help="epochs to train (default: the preset's recipe)")
    p.add_argument("--batch-size", type=int, default=8, help="images a step (default: 8)")
    p.add_argument("--seed", type=int, default=123)


def _quiet_tensorflow(verbose: bool) -> None:
    # TensorFlow's C++ log (e.g. "failed call to cuInit" on every machine without a GPU)
    # is noise for CLI users; -v shows it. flowerkit's own errors are unaffected.
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or usage error (2)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _quiet_tensorflow(args.verbose)
    # The CLI trains, predicts in batches and exits: the process-wide speed settings pay
    # off in every command that runs a model (see flowerkit.core.runtime).
    tune_for_training()
    try:
        with _offline(getattr(args, "offline", False)):
            return int(args.func(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    except BrokenPipeError:  # e.g. `flowerkit check --json DIR | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except ConfigError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"flowerkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FlowerkitError, OSError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"flowerkit: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("flowerkit: interrupted", file=sys.stderr)
        return 130
