"""Start-up: how long ``flowerkit --help`` and a cold ``flowerkit predict`` take.

Each command runs in a fresh process, ``--repeats`` times (median reported):

* ``flowerkit --help`` (goal: under 1 s; it must not import TensorFlow);
* ``flowerkit predict MODEL photo.jpg`` on a saved tutorial-preset model (180x180),
  from process start to the answer, TensorFlow's import included;
* the same with that model exported to ``.tflite`` (LiteRT, no TensorFlow import), and
  the ratio (goal: >= 5x faster to the answer).

    python benchmarks/bench_startup.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"


def _seconds(argv: Sequence[str], repeats: int) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import flowerkit as fk

    photo = sorted(args.data.rglob("*.jpg"))[0]
    cli = [sys.executable, "-m", "flowerkit"]
    with tempfile.TemporaryDirectory() as tmp:
        clf = fk.Classifier(
            fk.build_model(5, preset="tutorial", seed=1), list("abcde"), trained=True
        )
        model = clf.save(Path(tmp) / "model")
        lite = clf.export(Path(tmp) / "model.tflite", "tflite").path
        keras_s = _seconds([*cli, "predict", str(model), str(photo)], args.repeats)
        lite_s = _seconds([*cli, "predict", str(lite), str(photo)], args.repeats)
        results = {
            "machine": describe(),
            "help_s": _seconds([*cli, "--help"], args.repeats),
            "help_goal_s": 1.0,
            "cold_predict_s": keras_s,
            "cold_predict_tflite_s": lite_s,
            "tflite_speedup": round(keras_s / lite_s, 1),
            "tflite_speedup_goal": 5.0,
        }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
