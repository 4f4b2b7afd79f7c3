"""Training throughput on one device, on two replicas under ``MirroredStrategy``, and on
two worker processes under ``MultiWorkerMirroredStrategy``.

On a machine without a GPU, ``make_strategy("mirrored", devices=2)`` splits the CPU into
two logical devices, and two workers on 127.0.0.1 share it too: no speed-up is expected.
The figures show the distributed paths running end to end on real data, what they cost,
and that they learn what one process learns. Each leg runs in fresh processes (the CPU
split and the multi-worker strategy must come before TensorFlow starts):

``one``
    ``load_datasets(flower_photos)`` (default split, batch 32) and
    ``Classifier.from_preset("tutorial", ...).fit(data, epochs=E)`` on one device;
``two``
    the same with ``strategy=make_strategy("mirrored", devices=2)``: 16 images per replica
    per step;
``workers``
    the same in two processes with ``strategy=make_strategy("multi_worker")`` and a
    ``TF_CONFIG`` of two loopback workers (figures from worker 0, the chief; worker 1
    must log the same validation accuracy).

Reported per leg: images/s of training (the median epoch after the first, validation
excluded), the final validation accuracy, the share of validation photos whose predicted
class is the one-process model's, and the ratio to ``one``.

    python benchmarks/bench_devices.py            # about 10 minutes on 2 cores
    python benchmarks/bench_devices.py --epochs 2 --data /path/to/class/folders
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from child import PREFIX, run_child
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "flower_photos"

CHILD = """
import json, sys, time
devices, folder, epochs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
import flowerkit as fk
from flowerkit.training.distribute import make_strategy
if devices == 0:
    strategy = make_strategy("multi_worker")
else:
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
import numpy as np
images = np.concatenate([np.asarray(x) for x, *_ in data.validation])
predicted = clf.predict_proba(images).argmax(axis=1).tolist()
print("PREFIX" + json.dumps({
    "predicted": predicted,
    "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
    "train_images": len(data.train_files),
    "train_seconds": clock.train_seconds,
    "validation_accuracy": history.history["val_accuracy"][-1],
}))
""".replace("PREFIX", PREFIX)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _two_workers(folder: str, epochs: int) -> dict[str, Any]:
    """The ``workers`` leg: two processes on loopback; worker 0's figures, both accuracies."""
    ports = _free_ports(2)
    procs = []
    for index in range(2):
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        task = {"type": "worker", "index": index}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
        argv = [sys.executable, "-c", CHILD, "0", folder, str(epochs)]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=7200)
        if proc.returncode:
            raise SystemExit(f"a worker failed (exit {proc.returncode})")
        line = next(x for x in out.splitlines() if x.startswith(PREFIX))
        results.append(json.loads(line[len(PREFIX) :]))
    chief = results[0]
    chief["worker_1_validation_accuracy"] = results[1]["validation_accuracy"]
    chief["replicas"] = 2
    return dict(chief)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    results = {}
    for name, devices in (("one", 1), ("two", 2), ("workers", 0)):
        if devices:
            leg = run_child(CHILD, str(devices), args.data, str(args.epochs))
        else:
            leg = _two_workers(args.data, args.epochs)
        steady = leg["train_seconds"][1:] or leg["train_seconds"]
        leg["images_per_second"] = leg["train_images"] / statistics.median(steady)
        results[name] = leg
        print(json.dumps({name: {k: v for k, v in leg.items() if k != "predicted"}}), flush=True)
    one = results["one"]["images_per_second"]
    ratios = {name: leg["images_per_second"] / one for name, leg in results.items()}
    reference = results["one"]["predicted"]
    for leg in results.values():  # how often a leg's model predicts as one process's does
        same = sum(a == b for a, b in zip(leg.pop("predicted"), reference, strict=True))
        leg["same_predictions_as_one"] = same / len(reference)
    summary = {"machine": describe(), "epochs": args.epochs, "legs": results, "ratios": ratios}
    print(json.dumps(summary, indent=2))
    for name, leg in results.items():
        print(
            f"{name}: {leg['images_per_second']:.0f} img/s ({ratios[name]:.2f}x), "
            f"validation accuracy {leg['validation_accuracy']:.3f}, "
            f"same predictions as one process {leg['same_predictions_as_one']:.4f}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
