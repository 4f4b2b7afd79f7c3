"""Distillation: a ``compact`` student of a trained ``mobilenet_v2`` teacher.

On flower_photos with the default split (stratified, 20%, seed 123), in one process:

1. the teacher (``--teacher``, a model trained on that split, e.g. by
   ``flowerkit train flower_photos --out teacher.keras --weights <file>``): its
   validation accuracy;
2. ``Classifier.from_preset("compact").distill(teacher, data)`` with compact's recipe
   (30 epochs) and the defaults ``temperature=2, alpha=0.5``: its validation accuracy and
   its wall time (the teacher's one pass over the images included, the teacher's own
   training not);
3. the predict latency of one photo (p50 of ``--rounds`` calls, after a warm-up) for the
   student and the teacher.

Goal: the student >= 0.91, in no more than the tutorial's 15-epoch time (measure that with
``bench_generalise.py --sets flowers --legs tutorial`` on the same machine).

    python benchmarks/bench_distill.py --teacher teacher.keras
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"


def _latency_ms(clf: object, photo: Path, rounds: int) -> float:
    clf.predict(photo)  # type: ignore[attr-defined]  # warm-up: traces the function
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        clf.predict(photo)  # type: ignore[attr-defined]
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--teacher", type=Path, required=True, help="a trained .keras model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)

    import flowerkit as fk

    teacher = fk.Classifier.load(args.teacher)
    data = fk.load_datasets(args.data, image_size=(160, 160), seed=args.seed)
    student = fk.Classifier.from_preset("compact", class_names=data.class_names, seed=args.seed)
    started = time.perf_counter()
    student.distill(
        teacher, data, temperature=args.temperature, alpha=args.alpha, seed=args.seed, verbose=2
    )
    seconds = time.perf_counter() - started
    photo = data.validation_files[0]
    result = {
        "machine": describe(),
        "teacher": {
            "model": str(args.teacher),
            "preset": teacher.preset,
            "accuracy": round(teacher.evaluate(data).accuracy, 4),
            "parameters": int(teacher.model.count_params()),
            "predict_ms_p50": _latency_ms(teacher, photo, args.rounds),
        },
        "student": {
            "preset": "compact",
            "temperature": args.temperature,
            "alpha": args.alpha,
            "accuracy": round(student.evaluate(data).accuracy, 4),
            "seconds": round(seconds, 1),
            "parameters": int(student.model.count_params()),
            "predict_ms_p50": _latency_ms(student, photo, args.rounds),
        },
        "goal_accuracy": 0.91,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
