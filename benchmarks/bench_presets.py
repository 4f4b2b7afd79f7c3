"""Train the built-in presets side by side on flower_photos and compare accuracy and time.

Everything runs in one process, one preset after the other, on the same machine and the
same split as the TensorFlow tutorial (``split="keras"``, 80/20, seed 123, batch 32):

``tutorial``
    the tutorial's regularised recipe: the ``tutorial`` preset with
    ``augmentation_block(seed=123)`` and dropout 0.2, 15 epochs at 180x180 (the baseline);
``compact``
    the ``compact`` preset at 128x128 with its own augmentation and recipe, 17 epochs;
    its ``fit`` gets the tutorial's measured wall time as ``time_budget`` (when the
    tutorial ran first), so it can never take longer;
``mobilenet_v2``
    the ``mobilenet_v2`` preset at 160x160 with a local ImageNet weights file: 5 epochs
    with the backbone frozen, then 5 epochs fine-tuning the top 54 backbone layers.

Each ``fit`` is timed from the call to its return: it includes decoding the JPEGs in the
first epoch, the in-model augmentation and every epoch's validation pass. Afterwards each
model is calibrated on the validation split (not timed) and its ECE before/after reported.

    python benchmarks/bench_presets.py                      # the full run (about an hour)
    python benchmarks/bench_presets.py --quick              # smoke test: 20 photos/class, 1 epoch
    python benchmarks/bench_presets.py --presets tutorial,compact --epochs 3

Results go to ``benchmarks/out/presets-<UTC time>.json`` (and the table to stdout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "weights" / "mobilenet_v2_1.0_224_no_top.weights.h5"
PRESETS = ("tutorial", "compact", "mobilenet_v2")


@dataclass
class Plan:
    """How one preset is trained in the benchmark."""

    preset: str
    image_size: int
    epochs: int
    fine_tune_epochs: int = 0
    fine_tune_layers: int | None = None
    build: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """What the benchmark measured for one preset."""

    preset: str
    image_size: int
    epochs: int
    fine_tune_epochs: int
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


def machine() -> dict[str, Any]:
    """CPU model, core count and library versions."""
    import keras
    import tensorflow as tf

    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def subset(data_dir: Path, per_class: int, into: Path) -> Path:
    """A folder of symbolic links to the first ``per_class`` photos of every class."""
    for class_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        target = into / class_dir.name
        target.mkdir(parents=True)
        for photo in sorted(class_dir.iterdir())[:per_class]:
            (target / photo.name).symlink_to(photo.resolve())
    return into


SHAPES = ("circle", "cross", "square", "star", "triangle")


def _shape_polygon(
    kind: str, cx: float, cy: float, r: float, angle: float
) -> list[tuple[float, float]]:
    import math

    if kind == "square":
        corners = [
            (
                math.cos(angle + math.pi / 4 + i * math.pi / 2),
                math.sin(angle + math.pi / 4 + i * math.pi / 2),
            )
            for i in range(4)
        ]
    elif kind == "triangle":
        corners = [
            (math.cos(angle + i * 2 * math.pi / 3), math.sin(angle + i * 2 * math.pi / 3))
            for i in range(3)
        ]
    elif kind == "star":
        corners = [
            (
                (1.0 if i % 2 == 0 else 0.45) * math.cos(angle + i * math.pi / 5),
                (1.0 if i % 2 == 0 else 0.45) * math.sin(angle + i * math.pi / 5),
            )
            for i in range(10)
        ]
    elif kind == "cross":
        w = 0.33
        base = [
            (w, 1),
            (w, w),
            (1, w),
            (1, -w),
            (w, -w),
            (w, -1),
            (-w, -1),
            (-w, -w),
            (-1, -w),
            (-1, w),
            (-w, w),
            (-w, 1),
        ]
        c, s = math.cos(angle), math.sin(angle)
        corners = [(x * c - y * s, x * s + y * c) for x, y in base]
    else:
        raise ValueError(kind)
    return [(cx + r * x, cy + r * y) for x, y in corners]


def make_shapes(out: Path, backgrounds: Path, per_class: int = 240, seed: int = 0) -> Path:
    """A second benchmark data set: five shape classes drawn on photo backgrounds.

    Each image is a random crop of a random photo under ``backgrounds`` (all classes mixed,
    so the photo says nothing about the label), of a random size between 120 and 320
    pixels a side (any aspect ratio), with one shape (circle, cross, square, star or
    triangle) of random colour, size (15-40% of the short side), position, rotation and
    opacity (0.55-1) drawn on it; a third of the images are then slightly blurred. The
    label is the shape, so colour (which carries much of flower_photos) does not help.
    Written as JPEG (quality 90) to ``out/<shape>/``.
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    photos = sorted(p for p in backgrounds.rglob("*.jpg"))
    for kind in SHAPES:
        (out / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = (int(v) for v in rng.integers(120, 321, 2))
            with Image.open(photos[int(rng.integers(len(photos)))]) as source:
                photo = source.convert("RGB")
                scale = max(w / photo.width, h / photo.height) * float(rng.uniform(1.0, 1.6))
                photo = photo.resize(
                    (max(w, round(photo.width * scale)), max(h, round(photo.height * scale)))
                )
                x0 = int(rng.integers(0, photo.width - w + 1))
                y0 = int(rng.integers(0, photo.height - h + 1))
                image = photo.crop((x0, y0, x0 + w, y0 + h))
            overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
            draw = ImageDraw.Draw(overlay)
            r = float(rng.uniform(0.15, 0.40)) * min(w, h)
            cx = float(rng.uniform(r, w - r))
            cy = float(rng.uniform(r, h - r))
            colour = (*(int(c) for c in rng.integers(0, 256, 3)), int(255 * rng.uniform(0.55, 1.0)))
            if kind == "circle":
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
            else:
                draw.polygon(
                    _shape_polygon(kind, cx, cy, r, float(rng.uniform(0, 6.283))), fill=colour
                )
            image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
            if rng.random() < 1 / 3:
                image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.5))))
            image.save(out / kind / f"{kind}_{i:04d}.jpg", quality=90)
    return out


def plans(args: argparse.Namespace) -> list[Plan]:
    chosen = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PRESETS))
    if unknown:
        raise SystemExit(f"unknown presets {unknown}; choose from {', '.join(PRESETS)}")
    epochs = 1 if args.quick else args.epochs
    table = {
        "tutorial": Plan("tutorial", 180, epochs or 15),
        "compact": Plan("compact", 128, epochs or 17),
        "mobilenet_v2": Plan(
            "mobilenet_v2",
            160,
            epochs or 5,
            fine_tune_epochs=1 if args.quick else (args.fine_tune_epochs),
            fine_tune_layers=args.fine_tune_layers,
            build={"weights": args.weights or "imagenet"},
        ),
    }
    return [table[name] for name in chosen]


def run_one(plan: Plan, data_dir: Path, budget: float | None, verbose: Literal[0, 1, 2]) -> Result:
    import flowerkit as fk

    data = fk.load_datasets(
        data_dir, split="keras", seed=123, image_size=plan.image_size, batch_size=32
    )
    if plan.preset == "tutorial":  # the tutorial's regularised network
        clf = fk.Classifier.from_preset(
            "tutorial",
            class_names=data.class_names,
            image_size=plan.image_size,
            augmentation=fk.augmentation_block(seed=123),
            dropout=0.2,
            seed=123,
        )
    else:
        clf = fk.Classifier.from_preset(
            plan.preset,
            class_names=data.class_names,
            image_size=plan.image_size,
            seed=123,
            **plan.build,
        )
    options: dict[str, Any] = {}
    if plan.fine_tune_epochs:
        options.update(
            fine_tune_epochs=plan.fine_tune_epochs, fine_tune_layers=plan.fine_tune_layers
        )
    print(
        f"\n== {plan.preset}: {clf.model.count_params():,} parameters, {plan.image_size}px, "
        f"{plan.epochs}+{plan.fine_tune_epochs} epochs"
        + (f", time budget {budget:.0f} s" if budget else ""),
        flush=True,
    )
    started = time.perf_counter()
    history = clf.fit(data, epochs=plan.epochs, time_budget=budget, verbose=verbose, **options)
    seconds = time.perf_counter() - started
    calibration = clf.calibrate(data)
    val = history.get("val_accuracy", [float("nan")])
    planned = plan.epochs + plan.fine_tune_epochs
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
        epochs = f"{r.epochs}+{r.fine_tune_epochs}" if r.fine_tune_epochs else str(r.epochs)
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
        help="epochs for every preset (default: 15 / 18 / 5 frozen)",
    )
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=5,
        help="mobilenet_v2 fine-tuning epochs after the frozen ones (0: none)",
    )
    parser.add_argument(
        "--fine-tune-layers",
        type=int,
        default=54,
        help="top backbone layers unfrozen for fine-tuning",
    )
    parser.add_argument(
        "--weights",
        default=str(DEFAULT_WEIGHTS),
        help="MobileNetV2 weights file ('' for weights='imagenet')",
    )
    parser.add_argument(
        "--no-budget",
        action="store_true",
        help="do not cap the other presets' time at the tutorial's",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 20 photos per class and 1 epoch per phase"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument(
        "--make-shapes",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the synthetic shapes-on-photos data set (backgrounds from "
        "--data) to DIR and exit",
    )
    parser.add_argument(
        "--tutorial-seconds",
        type=float,
        default=None,
        help="the tutorial's time from an earlier run on this machine, used for the budget "
        "and the ratio when the tutorial is not among --presets",
    )
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.make_shapes is not None:
        print(f"wrote {make_shapes(args.make_shapes, args.data)}")
        return 0
    info = machine()
    print(f"machine: {info}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"presets-{stamp}{'-quick' if args.quick else ''}.json"
    results: list[Result] = []

    def write() -> None:  # after every preset, so an interrupted run keeps what it measured
        document = {
            "data": str(args.data),
            "quick": args.quick,
            "split": {"split": "keras", "validation_split": 0.2, "seed": 123, "batch_size": 32},
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
            capped = not (args.no_budget or args.quick) and plan.preset != "tutorial"
            budget = tutorial_seconds if capped else None
            result = run_one(plan, data_dir, budget, args.verbose)
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
