"""Train the built-in presets side by side on flower_photos and compare accuracy and time.

Everything runs in one process, one preset after the other, on the same machine and the
same split as the TensorFlow tutorial (``split="keras"``, 80/20, seed 123, batch 32; use
``--split stratified`` for a data set with small classes):

``tutorial``
    the tutorial's regularised recipe: the ``tutorial`` preset with
    ``augmentation_block(seed=123)`` and dropout 0.2, 15 epochs at 180x180 (the baseline);
``compact``
    the ``compact`` preset as ``Classifier.from_preset("compact", ...).fit(data)`` trains
    it: its own augmentation and recipe (30 epochs), images loaded at 160x160 and cropped
    (training) or resized (validation) to its 112x112 network. With ``--budget`` its
    ``fit`` gets the tutorial's measured wall time as ``time_budget`` and up to 1,000
    epochs instead (it trains until that time is used up);
``mobilenet_v2``
    the ``mobilenet_v2`` preset at 160x160 with a local ImageNet weights file, trained by
    its recipe (``fit(data)``: 5 epochs with the backbone frozen, then 5 epochs fine-tuning
    the top 56 backbone layers).

Every preset trains by the default API call unless an option here says otherwise: no
setting is known only to this script.

Each ``fit`` is timed from the call to its return: it includes decoding the JPEGs in the
first epoch, the in-model augmentation and every epoch's validation pass. Afterwards each
model is calibrated on the validation split (not timed) and its ECE before/after reported.

    python benchmarks/bench_presets.py                      # the full run (about 45 minutes)
    python benchmarks/bench_presets.py --quick              # smoke test: 20 photos/class, 1 epoch
    python benchmarks/bench_presets.py --presets tutorial,compact --epochs 3
    python benchmarks/make_food_photos.py /tmp/food       # the second data set
    python benchmarks/bench_presets.py --data /tmp/food --split stratified

The process runs with flowerkit's runtime settings (TensorFlow's pooling CPU allocator and
glibc's malloc thresholds, see ``flowerkit.core.runtime``), which every leg shares, the
tutorial's included; ``bench_runtime.py`` measures what they change.

Results go to ``benchmarks/out/presets-<UTC time>.json`` (and the table to stdout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from folders import subset
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "weights" / "mobilenet_v2_1.0_224_no_top.weights.h5"
PRESETS = ("tutorial", "compact", "mobilenet_v2")


@dataclass
class Plan:
    """How one preset is trained in the benchmark."""

    preset: str
    image_size: int
    epochs: int | None = None  # None: the recipe's
    fine_tune_epochs: int | None = None  # None: the recipe's
    fine_tune_layers: int | None = None  # None: the recipe's
    build: dict[str, Any] = field(default_factory=dict)
    #: Train until the time budget runs out (up to 1,000 epochs) when there is one.
    until_budget: bool = False


@dataclass
class Result:
    """What the benchmark measured for one preset."""

    preset: str
    image_size: int
    epochs: int | None
    fine_tune_epochs: int | None
    params: int
    seconds: float
    val_accuracy: float
    best_val_accuracy: float
    epochs_run: int
    stopped_by_time_budget: bool
    temperature: float
    ece_before: float
    ece_after: float
    ratio_to_tutorial: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)


def plans(args: argparse.Namespace) -> list[Plan]:
    chosen = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PRESETS))
    if unknown:
        raise SystemExit(f"unknown presets {unknown}; choose from {', '.join(PRESETS)}")
    epochs = 1 if args.quick else args.epochs
    table = {
        "tutorial": Plan("tutorial", 180, epochs or 15),
        "compact": Plan("compact", 160, epochs, until_budget=args.budget and not epochs),
        "mobilenet_v2": Plan(
            "mobilenet_v2",
            160,
            epochs,
            fine_tune_epochs=1 if args.quick else args.fine_tune_epochs,
            fine_tune_layers=args.fine_tune_layers or None,
            build={"weights": args.weights or "imagenet"},
        ),
    }
    return [table[name] for name in chosen]


def run_one(
    plan: Plan,
    data_dir: Path,
    budget: float | None,
    split: Literal["keras", "stratified"],
    verbose: Literal[0, 1, 2],
    seed: int = 123,
) -> Result:
    import flowerkit as fk

    data = fk.load_datasets(
        data_dir, split=split, seed=seed, image_size=plan.image_size, batch_size=32
    )
    if budget is not None and plan.until_budget:
        plan = Plan(**{**asdict(plan), "epochs": 1000})
    if plan.preset == "tutorial":  # the tutorial's regularised network
        clf = fk.Classifier.from_preset(
            "tutorial",
            class_names=data.class_names,
            image_size=plan.image_size,
            augmentation=fk.augmentation_block(seed=seed),
            dropout=0.2,
            seed=seed,
        )
    else:
        clf = fk.Classifier.from_preset(
            plan.preset,
            class_names=data.class_names,
            image_size=plan.image_size,
            seed=seed,
            **plan.build,
        )
    recipe = clf.recipe
    planned = (plan.epochs or recipe.epochs) + (
        recipe.fine_tune_epochs if plan.fine_tune_epochs is None else plan.fine_tune_epochs
    )
    print(
        f"\n== {plan.preset}: {clf.model.count_params():,} parameters, {plan.image_size}px, "
        f"{planned} epochs" + (f", time budget {budget:.0f} s" if budget else ""),
        flush=True,
    )
    started = time.perf_counter()
    clf.fit(
        data,
        epochs=plan.epochs,
        fine_tune_epochs=plan.fine_tune_epochs,
        fine_tune_layers=plan.fine_tune_layers,
        time_budget=budget,
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    history = clf.history_
    calibration = clf.calibrate(data)
    val = history.get("val_accuracy", [float("nan")])
    return Result(
        preset=plan.preset,
        image_size=plan.image_size,
        epochs=plan.epochs,
        fine_tune_epochs=plan.fine_tune_epochs,
        params=int(clf.model.count_params()),
        seconds=round(seconds, 1),
        val_accuracy=float(val[-1]),
        best_val_accuracy=float(max(val)),
        epochs_run=len(val),
        stopped_by_time_budget=bool(
            budget is not None and (seconds >= budget or len(val) < planned)
        ),
        temperature=float(calibration["temperature"]),
        ece_before=float(calibration["ece_before"]),
        ece_after=float(calibration["ece_after"]),
        history=history,
    )


def table(results: Sequence[Result]) -> str:
    lines = [
        f"{'preset':<14}{'size':>5}{'epochs':>8}{'seconds':>9}{'x tutorial':>11}"
        f"{'val acc':>9}{'best':>7}{'ECE':>7}{'ECE(T)':>8}{'T':>6}"
    ]
    for r in results:
        epochs = f"{r.epochs}+{r.fine_tune_epochs}" if r.fine_tune_epochs else str(r.epochs_run)
        ratio = "-" if r.ratio_to_tutorial is None else f"{r.ratio_to_tutorial:.2f}"
        lines.append(
            f"{r.preset:<14}{r.image_size:>5}{epochs:>8}{r.seconds:>9.0f}{ratio:>11}"
            f"{r.val_accuracy:>9.3f}{r.best_val_accuracy:>7.3f}{r.ece_before:>7.3f}"
            f"{r.ece_after:>8.3f}{r.temperature:>6.2f}"
            + ("  (stopped by time budget)" if r.stopped_by_time_budget else "")
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of class folders")
    parser.add_argument(
        "--presets",
        default=",".join(PRESETS),
        help=f"comma-separated, from {', '.join(PRESETS)} (default: all)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs of the first phase for every preset (default: 15 for the tutorial, "
        "each recipe's for the others)",
    )
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=None,
        help="mobilenet_v2 fine-tuning epochs after the frozen ones (0: none; default: the "
        "recipe's 5)",
    )
    parser.add_argument(
        "--fine-tune-layers",
        type=int,
        default=None,
        help="top backbone layers unfrozen for fine-tuning (default: the recipe's 56)",
    )
    parser.add_argument(
        "--weights",
        default=str(DEFAULT_WEIGHTS),
        help="MobileNetV2 weights file ('' for weights='imagenet')",
    )
    parser.add_argument(
        "--budget",
        action="store_true",
        help="give compact the tutorial's measured time as a time budget instead of its "
        "recipe's epochs, and cap the others at it",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 20 photos per class and 1 epoch per phase"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument(
        "--split",
        choices=("keras", "stratified"),
        default="keras",
        help="how load_datasets splits off the 20%% validation set (default: keras, as the "
        "tutorial)",
    )
    parser.add_argument(
        "--tutorial-seconds",
        type=float,
        default=None,
        help="the tutorial's time from an earlier run on this machine, used for the budget "
        "and the ratio when the tutorial is not among --presets",
    )
    parser.add_argument(
        "--seed", type=int, default=123, help="the split's and the models' seed (default: 123)"
    )
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    info = describe()
    print(f"machine: {info}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"presets-{stamp}{'-quick' if args.quick else ''}.json"
    results: list[Result] = []

    def write() -> None:  # after every preset, so an interrupted run keeps what it measured
        document = {
            "data": str(args.data),
            "quick": args.quick,
            "split": {
                "split": args.split,
                "validation_split": 0.2,
                "seed": args.seed,
                "batch_size": 32,
            },
            "machine": info,
            "results": [asdict(r) for r in results],
        }
        path.write_text(json.dumps(document, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = subset(args.data, 20, Path(tmp) / "data") if args.quick else args.data
        tutorial_seconds: float | None = None
        for plan in plans(args):
            if tutorial_seconds is None and args.tutorial_seconds:
                tutorial_seconds = args.tutorial_seconds
            capped = args.budget and not args.quick and plan.preset != "tutorial"
            budget = tutorial_seconds if capped else None
            result = run_one(plan, data_dir, budget, args.split, args.verbose, args.seed)
            if plan.preset == "tutorial":
                tutorial_seconds = result.seconds
            if tutorial_seconds:
                result.ratio_to_tutorial = round(result.seconds / tutorial_seconds, 3)
            results.append(result)
            write()
            print(
                f"{plan.preset}: val_accuracy {result.val_accuracy:.3f} in {result.seconds:.0f} s",
                flush=True,
            )
    print("\n" + table(results))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
