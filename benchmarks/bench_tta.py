"""Test-time augmentation: what ``evaluate(..., tta=True)`` gains and costs per model.

For each trained model (``--model``, repeatable), on the validation split it was trained
with (``load_datasets(DIR, seed=123)``): validation accuracy and wall time of ``evaluate``
without and with ``tta=True`` (four views: the image, its mirror, a centre crop and its
mirror), one after the other in one process, each after a warm-up call.

    python benchmarks/bench_tta.py --model compact.keras --model mobilenet_v2.keras
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"


def _timed(clf: Any, data: Any, tta: bool) -> tuple[float, float]:
    started = time.perf_counter()
    accuracy = clf.evaluate(data, tta=tta).accuracy
    return round(accuracy, 4), round(time.perf_counter() - started, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args(argv)

    import flowerkit as fk

    rows = []
    for path in args.model:
        clf = fk.Classifier.load(path)
        data = fk.load_datasets(args.data, image_size=clf.image_size, seed=args.seed)
        clf.evaluate(data)  # warm-up: the cache is filled and the function traced
        plain, plain_s = _timed(clf, data, tta=False)
        tta, tta_s = _timed(clf, data, tta=True)
        rows.append(
            {
                "model": str(path),
                "preset": clf.preset,
                "accuracy": plain,
                "accuracy_tta": tta,
                "gain_points": round(100 * (tta - plain), 2),
                "seconds": plain_s,
                "seconds_tta": tta_s,
                "cost": round(tta_s / plain_s, 2),
            }
        )
    print(json.dumps({"machine": describe(), "models": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
