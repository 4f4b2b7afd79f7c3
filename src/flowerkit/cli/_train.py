"""``flowerkit train`` and ``flowerkit demo``: a folder in, a saved model with its
curves and report beside it out."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowerkit.cli._common import (
    EXIT_OK,
    add_offline_flag,
    add_option_flags,
    download_progress,
    options_given,
    progress_verbose,
    say,
)
from flowerkit.exceptions import ConfigError
from flowerkit.options.data import LoadOptions
from flowerkit.options.models import BuildOptions
from flowerkit.options.training import TrainOptions

if TYPE_CHECKING:
    from flowerkit.models import PresetSpec

__all__: list[str] = []  # private module


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
    progress = download_progress(args, "downloading ImageNet weights")
    if plan.preset is None:
        choice = default_preset(options.pop("weights", None), progress=progress)
        say(args, f"training the {choice.preset!r} preset: {choice.reason} (--preset overrides)")
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
        say(args, f"worker {cluster.task_index}: trained; the chief writes the model and report")
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
        clf.fit(data, verbose=progress_verbose(args), **options)
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
    say(args, f"training on {where}{strategy.num_replicas_in_sync} replicas (global batch)")
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
        build=options_given(args, BuildOptions),
        load=options_given(args, LoadOptions),
        train=options_given(args, TrainOptions),
        devices=args.devices,
        multi_worker=args.multi_worker,
        collective_timeout=args.collective_timeout,
    )


def cmd_train(args: argparse.Namespace) -> int:
    summary = _train_and_report(args, args.directory, Path(args.out), _plan(args))
    if args.json:
        print(json.dumps(summary, indent=2))
    elif summary["model"] is not None:  # None: a worker that is not the chief
        say(args, f"saved {summary['model']}")
        for split in ("validation", "test"):
            if f"{split}_accuracy" in summary:
                say(args, f"{split} accuracy {summary[f'{split}_accuracy']:.3f}")
        if "validation_ece" in summary:
            how = "calibrated" if "calibration" in summary else "not calibrated"
            say(args, f"validation calibration error {summary['validation_ece']:.3f} ({how})")
        for key in ("curves", "report"):
            if summary.get(key):
                say(args, f"{key}: {summary[key]}")
    return EXIT_OK


def add_train_arguments(p: argparse.ArgumentParser) -> None:
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
    add_offline_flag(model)
    model.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="any other option the preset declares (e.g. --option width=1.5); repeatable",
    )
    add_option_flags(model, BuildOptions)
    add_option_flags(p.add_argument_group("data"), LoadOptions)
    add_option_flags(p.add_argument_group("training"), TrainOptions)
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


def cmd_demo(args: argparse.Namespace) -> int:
    from flowerkit.classifier import Classifier
    from flowerkit.data import demo_sample

    folder, heldout = demo_sample()
    out = Path(args.out) if args.out else Path.cwd() / "flowerkit-demo"
    out.mkdir(parents=True, exist_ok=True)
    which = "the default preset" if args.preset is None else f"the {args.preset!r} preset"
    say(args, f"Training {which} on the embedded sample ({folder}) ...")
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
    say(args, f"saved {summary['model']} ({summary['seconds']} s of training)")
    if "validation_accuracy" in summary:
        say(
            args,
            f"validation accuracy on the sample: {summary['validation_accuracy']:.2f} "
            f"(calibration error {summary['validation_ece']:.3f})",
        )
    for p in preds:
        truth = Path(p.source).name.split("_")[0]
        say(
            args,
            f"held-out {Path(p.source).name}: {p.label} ({p.confidence:.1%} confident; "
            f"true class {truth})",
        )
    return EXIT_OK


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output folder (default: ./flowerkit-demo)")
    p.add_argument(
        "--preset",
        help="the preset to train (default: as 'flowerkit train' chooses: mobilenet_v2 "
        "from ImageNet weights, else compact)",
    )
    add_offline_flag(p)
    # 96 training photos: batches of 8 give the network 12 steps an epoch, not 3 (at the
    # tutorial's 32 it ends 10 epochs near chance; this way near 0.5 on the 22 held back).
    p.add_argument("--epochs", type=int, help="epochs to train (default: the preset's recipe)")
    p.add_argument("--batch-size", type=int, default=8, help="images a step (default: 8)")
    p.add_argument("--seed", type=int, default=123)
