"""Run by test_distribute.py in a fresh process: the CPU split into two logical devices.

    python distributed_run.py FOLDER OUT [PRESET...]

Prints one JSON line: the loss curve of the same seeded run on one device and on two
replicas, data sizes that leave a replica a batch of one, and (when presets are named:
built-in ones, or the tiny stand-ins of tests/tiny_presets.py) what training them with
every ``fit`` option under two replicas gave.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from flowerkit.training import distribute

# First, before TensorFlow's runtime starts: the CPU split into two logical devices, as
# `flowerkit train --devices 2` does it. One two-device strategy per process: a second
# one over the same devices reuses the first one's collective keys, and their all-reduces
# clash.
TWO = distribute.make_strategy("mirrored", devices=2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import flowerkit as fk  # noqa: E402
import tiny_presets  # noqa: E402  (beside this script)

tiny_presets.register()


def _plain_model() -> keras.Model:
    """No batch norm, augmentation or dropout: one device and two replicas do the same sums."""
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )


def curve(folder: str, two: tf.distribute.Strategy) -> dict[str, Any]:
    one = tf.distribute.MirroredStrategy([tf.config.list_logical_devices("CPU")[0].name])
    losses, replicas = {}, []
    for name, strategy in (("one", one), ("two", two)):
        data = fk.load_datasets(folder, image_size=16, batch_size=8, seed=1)
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = _plain_model()
        clf = fk.Classifier(model, data.class_names)  # the strategy comes with the model
        replicas.append(clf.strategy.num_replicas_in_sync)
        losses[name] = clf.fit(data, epochs=4, seed=1, verbose=0).history["loss"]
    return {**losses, "replicas": replicas}


class _StopAfterFirstEpoch(keras.callbacks.Callback):  # type: ignore[misc]
    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == 0:
            raise KeyboardInterrupt


class _FirstEpoch(keras.callbacks.Callback):  # type: ignore[misc]
    first: int | None = None

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if self.first is None:
            self.first = epoch


PRESETS = {"tutorial": {}, "compact": {}, "mobilenet_v2": {"weights": None}}
#: The transfer presets, trained with fine-tuning, class weights, early stopping and
#: calibration: mobilenet_v2 itself in the slow run, its recipe on a tiny backbone in the
#: default one (tests/tiny_presets.py).
TRANSFER = {"mobilenet_v2", tiny_presets.TINY_TRANSFER}


def options(
    folder: str, out: Path, strategy: tf.distribute.Strategy, presets: list[str]
) -> dict[str, Any]:
    data = fk.load_datasets(folder, image_size=32, batch_size=8, seed=1)
    names = data.class_names
    trained = []
    fine_tuned, temperature = None, None
    for preset in presets:
        extra: dict[str, Any] = PRESETS.get(preset, {})
        clf = fk.Classifier.from_preset(
            preset, class_names=names, image_size=32, seed=1, strategy=strategy, **extra
        )
        if preset in TRANSFER:  # fine-tuning, class weights, early stopping, calibration
            history = clf.fit(
                data,
                epochs=1,
                fine_tune_epochs=1,
                class_weight="balanced",
                early_stopping=3,
                calibrate=True,
                verbose=0,
            )
            fine_tuned = len(history.history["loss"])
            temperature = clf.temperature_
        else:
            clf.fit(data, epochs=1, verbose=0)
        trained.append(preset)

    checkpoint = out / "run.checkpoint"

    def tutorial() -> fk.Classifier:
        return fk.Classifier.from_preset(
            "tutorial", class_names=names, image_size=32, seed=1, strategy=strategy
        )

    with contextlib.suppress(KeyboardInterrupt):
        tutorial().fit(
            data, epochs=3, checkpoint_dir=checkpoint, callbacks=[_StopAfterFirstEpoch()], verbose=0
        )
    again = tutorial()
    record = _FirstEpoch()
    resumed = again.fit(data, epochs=3, checkpoint_dir=checkpoint, callbacks=[record], verbose=0)

    budget = again.fit(data, epochs=1000, time_budget=1.0, verbose=0)

    path = again.save(out / "two-replicas.keras")
    loaded = fk.Classifier.load(path)
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    same = np.allclose(again.predict_proba(images), loaded.predict_proba(images), atol=1e-5)
    return {
        "replicas": strategy.num_replicas_in_sync,
        "trained": trained,
        "fine_tuned_epochs": fine_tuned,
        "temperature": temperature,
        "resumed_from": record.first,
        "epochs_after_resume": len(resumed.history["loss"]),
        "budget_stopped": len(budget.history["loss"]) < 1000,
        "same_predictions": bool(same) and loaded.strategy is None,
    }


def _photos(folder: Path, per_class: int) -> Path:
    rng = np.random.default_rng(per_class)
    for name, colour in (("red", (200, 30, 30)), ("green", (30, 200, 30)), ("blue", (30, 30, 200))):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 40, (40, 40, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"{i}.png")
    return folder


def uneven(out: Path, strategy: tf.distribute.Strategy) -> dict[str, Any]:
    """Sizes one past a multiple of the batch (8) on two replicas, so a last batch of one
    photo: training, validation, evaluate and predict."""
    # The folder of the report: 3 classes of 20 photos, a quarter for validation.
    data = fk.load_datasets(
        _photos(out / "sixty", 20),
        image_size=(64, 64),
        batch_size=8,
        validation_split=0.25,
        seed=3,
    )
    clf = fk.Classifier.from_preset(
        "tutorial", class_names=data.class_names, image_size=(64, 64), strategy=strategy
    )
    clf.fit(data, epochs=1, verbose=0)
    sizes = {"folder": [len(data.train_files), len(data.validation_files)]}
    rng = np.random.default_rng(0)
    for n in (9,):
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = np.arange(n) % 3
        train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
        small = fk.Classifier.from_preset(
            "tutorial", class_names=["a", "b", "c"], image_size=32, strategy=strategy, seed=1
        )
        history = small.fit(train, validation_data=train, epochs=1, verbose=0)
        report = small.evaluate(train)
        predicted = small.predict(images)
        sizes[str(n)] = [len(history.history["val_loss"]), report.num_samples, len(predicted)]
    return sizes


if __name__ == "__main__":
    folder, out = sys.argv[1], Path(sys.argv[2])
    presets = sys.argv[3:]  # none: the loss curve and the uneven sizes only
    result = {"curve": curve(folder, TWO), "uneven": uneven(out, TWO)}
    if presets:
        result["options"] = options(folder, out, TWO, presets)
    print(json.dumps(result))
