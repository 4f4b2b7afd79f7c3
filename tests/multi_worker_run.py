"""One worker of test_multi_worker.py's two-worker run, or its one-process reference.

    python multi_worker_run.py FOLDER OUT PRESET EPOCHS

Under ``TF_CONFIG`` it trains as one worker of the cluster, else as one process. It
writes what the test compares into OUT (this script's own files, not flowerkit's: a
worker that is not the chief writes nothing of flowerkit's): every variable of the model,
of a student distilled from it and of a fine-tuned transfer model, as
``weights-<worker index or "one">.npz``, and a JSON line with the history, the
calibrated temperature and whether the batch norms are synchronized.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import flowerkit as fk
from flowerkit.training import distribute

# First, before TensorFlow's runtime starts.
SEVERAL = "TF_CONFIG" in os.environ
STRATEGY = distribute.make_strategy("multi_worker", timeout=60) if SEVERAL else None

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tiny_presets  # noqa: E402  (beside this script)


def main(folder: str, out: Path, preset: str, epochs: int) -> None:
    data = fk.load_datasets(folder, image_size=32, batch_size=6, validation_split=0.4, seed=1)
    options = {"width": 0.25} if preset == "compact" else {}  # a small one: fast
    clf = fk.Classifier.from_preset(
        preset,
        **options,
        class_names=data.class_names,
        image_size=32,
        augmentation=False,
        dropout=0.0,
        seed=1,
        strategy=STRATEGY,
    )
    history = clf.fit(data, epochs=epochs, seed=1, verbose=0)
    # Distillation too: a small student of the model just trained, one epoch.
    student = fk.Classifier.from_preset(
        "tutorial", class_names=data.class_names, image_size=32, seed=2, strategy=STRATEGY
    )
    student.distill(clf, data, epochs=1, seed=2, verbose=0)
    # And the rest of fit: fine-tuning with its recompile, class weights, early stopping,
    # a time budget (its clock agreed between workers) and calibration.
    tiny_presets.register()
    transfer = fk.Classifier.from_preset(
        # mobilenet_v2's recipe on a three-layer backbone, its frozen phase on the images
        # in one process too (under a strategy it is never on features)
        tiny_presets.TINY_TRANSFER_ON_IMAGES,
        class_names=data.class_names,
        image_size=32,
        augmentation=False,
        dropout=0.0,
        seed=3,
        strategy=STRATEGY,
    )
    finding = transfer.find_learning_rate(data, steps=6, seed=3)  # leaves the model as it was
    transfer.fit(
        data,
        epochs=1,
        fine_tune_epochs=1,
        class_weight="balanced",
        early_stopping=2,
        time_budget=600,
        calibrate=True,
        seed=3,
        verbose=0,
    )
    name = str(distribute.cluster_of(STRATEGY).task_index) if SEVERAL else "one"
    weights = {f"{i}": np.asarray(w) for i, w in enumerate(clf.model.weights)}
    for prefix, other in (("student", student), ("transfer", transfer)):
        weights |= {f"{prefix}-{i}": np.asarray(w) for i, w in enumerate(other.model.weights)}
    np.savez(out / f"weights-{name}.npz", **weights)
    synchronized = [
        layer.synchronized
        for layer in clf.model._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    record = {
        "temperature": transfer.temperature_,
        "range_test": list(finding.losses),
        "history": history.history,
        "synchronized": synchronized,
        "train": len(data.train_files),
    }
    (out / f"run-{name}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
