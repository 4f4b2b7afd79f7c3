"""What flowerkit's runtime settings change: training-step time with and without them.

``import flowerkit`` turns on TensorFlow's pooling CPU allocator
(``TF_CPU_ALLOCATOR_USE_BFC=true``) and raises glibc's malloc thresholds (see
``flowerkit._tfenv``). Both are process-wide and must be set before TensorFlow allocates
anything, so they cannot be switched inside one process: this script starts one child
process per leg, alternating "default" (both opted out) and "tuned" legs, ``--repeats``
times each, and prints the median step time of each and their ratio.

Each leg loads flower_photos (``split="keras"``, seed 123), decodes the training split
once, then times ``--steps`` training steps of a network with its augmentation (after 5
warm-up steps), and reports wall, user and system CPU time and minor page faults per step.

    python benchmarks/bench_runtime.py                     # tutorial and compact, 3 repeats
    python benchmarks/bench_runtime.py --networks compact --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"

_CHILD = r"""
import json, resource, sys, time
import flowerkit as fk
import keras

network, data_dir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if network == "tutorial":
    data = fk.load_datasets(data_dir, split="keras", seed=123, image_size=180)
    clf = fk.Classifier.from_preset(
        "tutorial", class_names=data.class_names, augmentation=fk.augmentation_block(seed=1),
        dropout=0.2, seed=1)
else:
    data = fk.load_datasets(data_dir, split="keras", seed=123, image_size=112)
    clf = fk.Classifier.from_preset(network, class_names=data.class_names, seed=1)
for _ in data.train:  # decode every photo once, outside the timing
    pass


class Timer(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 4:
            self.start = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        elif batch == 4 + steps:
            wall0, r0 = self.start
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            self.result = {
                "wall_ms": 1000 * (time.perf_counter() - wall0) / steps,
                "user_ms": 1000 * (r1.ru_utime - r0.ru_utime) / steps,
                "sys_ms": 1000 * (r1.ru_stime - r0.ru_stime) / steps,
                "faults": (r1.ru_minflt - r0.ru_minflt) / steps,
            }
            self.model.stop_training = True


timer = Timer()
clf.fit(data.train, epochs=1, callbacks=[timer], verbose=0)
print("RESULT " + json.dumps(timer.result))
"""


def run_leg(network: str, tuned: bool, data: Path, steps: int) -> dict[str, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if tuned:
        env.pop("TF_CPU_ALLOCATOR_USE_BFC", None)
        env.pop("FLOWERKIT_TUNE_MALLOC", None)
    else:
        env.update(TF_CPU_ALLOCATOR_USE_BFC="false", FLOWERKIT_TUNE_MALLOC="0")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, network, str(data), str(steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line[len("RESULT ") :])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--networks", default="tutorial,compact")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'network':<10}{'settings':<9}{'wall ms':>9}{'user ms':>9}{'sys ms':>8}{'faults':>9}")
    for network in [n.strip() for n in args.networks.split(",") if n.strip()]:
        legs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for tuned in (False, True):
                legs[tuned].append(run_leg(network, tuned, args.data, args.steps))
        medians = {}
        for tuned, runs in legs.items():
            m = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            medians[tuned] = m
            label = "tuned" if tuned else "default"
            print(
                f"{network:<10}{label:<9}{m['wall_ms']:>9.0f}{m['user_ms']:>9.0f}"
                f"{m['sys_ms']:>8.0f}{m['faults']:>9.0f}",
                flush=True,
            )
        ratio = medians[False]["wall_ms"] / medians[True]["wall_ms"]
        print(f"{network:<10}step time default / tuned = {ratio:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
