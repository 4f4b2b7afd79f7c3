"""Training throughput on one device and on two replicas under ``MirroredStrategy``.

Issue 17, item 6. On a machine without a GPU, ``make_strategy("mirrored", devices=2)``
splits the CPU into two logical devices; both then share the same cores, so no speed-up is
expected: the figure shows the distributed path running end to end on real data, and what
it costs. Each leg runs in a fresh process (the CPU split must come before TensorFlow
starts):

``one``
    ``load_datasets(flower_photos)`` (default split, batch 32) and
    ``Classifier.from_preset("tutorial", ...).fit(data, epochs=E)`` on one device;
``two``
    the same with ``strategy=make_strategy("mirrored", devices=2)``: 16 images per replica
    per step.

Reported per leg: images/s of training (the median epoch after the first, validation
excluded), the final validation accuracy, and the ratio ``two / one``.

    python benchmarks/bench_devices.py            # about 6 minutes on 2 cores
    python benchmarks/bench_devices.py --epochs 2 --data /path/to/class/folders
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from child import PREFIX, run_child
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "flower_photos"

CHILD = """
import json, sys, time
devices, folder, epochs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
import flowerkit as fk
from flowerkit.training.distribute import make_strategy
strategy = make_strategy("mirrored", devices=devices) if devices > 1 else None
import keras

class Clock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train_seconds = []
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
    def on_test_begin(self, logs=None):
        self.train_seconds.append(time.perf_counter() - self.start)

data = fk.load_datasets(folder, image_size=180, batch_size=32, seed=123)
clf = fk.Classifier.from_preset(
    "tutorial", class_names=data.class_names, seed=1, strategy=strategy
)
clock = Clock()
history = clf.fit(data, epochs=epochs, seed=1, callbacks=[clock], verbose=0)
print("PREFIX" + json.dumps({
    "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
    "train_images": len(data.train_files),
    "train_seconds": clock.train_seconds,
    "validation_accuracy": history.history["val_accuracy"][-1],
}))
""".replace("PREFIX", PREFIX)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    results = {}
    for name, devices in (("one", 1), ("two", 2)):
        leg = run_child(CHILD, str(devices), args.data, str(args.epochs))
        steady = leg["train_seconds"][1:] or leg["train_seconds"]
        leg["images_per_second"] = leg["train_images"] / statistics.median(steady)
        results[name] = leg
        print(json.dumps({name: leg}), flush=True)
    ratio = results["two"]["images_per_second"] / results["one"]["images_per_second"]
    summary = {"machine": describe(), "epochs": args.epochs, "legs": results, "ratio": ratio}
    print(json.dumps(summary, indent=2))
    print(
        f"one device {results['one']['images_per_second']:.0f} img/s, two replicas "
        f"{results['two']['images_per_second']:.0f} img/s: {ratio:.2f}x",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
