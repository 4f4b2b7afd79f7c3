"""What flowerkit's runtime settings change: training-step time with and without them.

``import flowerkit`` turns on TensorFlow's pooling CPU allocator
(``TF_CPU_ALLOCATOR_USE_BFC=true``); glibc's malloc thresholds are raised when training
work starts (``load_datasets``, ``fit``, the CLI; see ``flowerkit.core.runtime``). Both are
process-wide, so they cannot be switched inside one process: this script starts one child
process per leg, ``--repeats`` times each (each repeat starting with the next leg), and
prints the median step time of each leg and the ratios:

* ``default``: both opted out (``TF_CPU_ALLOCATOR_USE_BFC=false``, ``FLOWERKIT_TUNE_MALLOC=0``);
* ``at-import``: malloc tuned right after ``import flowerkit``, as flowerkit did before
  0.2 (the child calls ``tune_malloc()`` itself);
* ``tuned``: what flowerkit does now, with no call from the user.

Each leg loads flower_photos (``split="keras"``, seed 123), decodes the training split
once, then times ``--steps`` training steps of a network with its augmentation (after 5
warm-up steps), and reports wall, user and system CPU time and minor page faults per step.

    python benchmarks/bench_runtime.py                     # tutorial and compact, 3 repeats
    python benchmarks/bench_runtime.py --networks compact --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

from child import run_child

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"

_CHILD = r"""
import json, resource, sys, time
import flowerkit as fk
import keras

network, data_dir, steps, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode == "at-import":
    from flowerkit.core.runtime import tune_malloc
    tune_malloc()
if network == "tutorial":
    data = fk.load_datasets(data_dir, split="keras", seed=123, image_size=180)
    clf = fk.Classifier.from_preset(
        "tutorial", class_names=data.class_names, augmentation=fk.augmentation_block(seed=1),
        dropout=0.2, seed=1)
else:
    size = fk.get_preset(network).image_size
    data = fk.load_datasets(data_dir, split="keras", seed=123, image_size=size)
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


LEGS = ("default", "at-import", "tuned")


def run_leg(network: str, mode: str, data: Path, steps: int) -> dict[str, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if mode == "default":
        env.update(TF_CPU_ALLOCATOR_USE_BFC="false", FLOWERKIT_TUNE_MALLOC="0")
    else:
        env.pop("TF_CPU_ALLOCATOR_USE_BFC", None)
        env.pop("FLOWERKIT_TUNE_MALLOC", None)
    return run_child(_CHILD, network, str(data), str(steps), mode, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--networks", default="tutorial,compact")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'network':<10}{'settings':<10}{'wall ms':>9}{'user ms':>9}{'sys ms':>8}{'faults':>9}")
    for network in [n.strip() for n in args.networks.split(",") if n.strip()]:
        legs: dict[str, list[dict[str, float]]] = {mode: [] for mode in LEGS}
        for repeat in range(args.repeats):
            # Each repeat starts with another leg, so a drift of the host over a repeat
            # does not always land on the same leg.
            order = LEGS[repeat % len(LEGS) :] + LEGS[: repeat % len(LEGS)]
            for mode in order:
                legs[mode].append(run_leg(network, mode, args.data, args.steps))
        medians = {}
        for mode, runs in legs.items():
            m = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            medians[mode] = m
            print(
                f"{network:<10}{mode:<10}{m['wall_ms']:>9.0f}{m['user_ms']:>9.0f}"
                f"{m['sys_ms']:>8.0f}{m['faults']:>9.0f}",
                flush=True,
            )
        tuned = medians["tuned"]["wall_ms"]
        default, at_import = medians["default"]["wall_ms"], medians["at-import"]["wall_ms"]
        print(
            f"{network:<10}step time default / tuned = {default / tuned:.2f}x,"
            f" at-import / tuned = {at_import / tuned:.2f}x",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
