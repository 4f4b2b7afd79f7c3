"""Classifier.fit and fine_tune conveniences: seeds, early stopping, time budget, class
weights, fine-tuning and resume after a killed process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from conftest import COLOURS, write_colour_image
from flowerkit.exceptions import ConfigError
from flowerkit.training.callbacks import latest_checkpoint


@pytest.fixture(scope="module")
def small_data(colour_folder: Path) -> fk.Datasets:
    return fk.load_datasets(colour_folder, image_size=16, batch_size=16, seed=4)


def _fresh(data: fk.Datasets, seed: int = 3, **kwargs: Any) -> fk.Classifier:
    return fk.Classifier.from_preset(
        "tutorial", class_names=data.class_names, image_size=16, seed=seed, **kwargs
    )


def test_same_seed_same_run(colour_folder: Path) -> None:
    """Re-running the same script (fresh data pipeline, same seeds) repeats the run exactly."""
    runs = []
    for _ in range(2):
        data = fk.load_datasets(colour_folder, image_size=16, batch_size=16, seed=4)
        clf = _fresh(data, augmentation=True, dropout=0.2)
        runs.append(clf.fit(data, epochs=2, seed=9, verbose=0).history)
    assert runs[0] == runs[1]


def test_early_stopping_restores_best_weights(small_data: fk.Datasets) -> None:
    clf = _fresh(small_data)
    history = clf.fit(
        small_data, epochs=30, early_stopping=1, learning_rate=0.05, verbose=0
    ).history
    assert len(history["loss"]) < 30
    best = min(history["val_loss"])
    report = clf.evaluate(small_data)  # calibrated by default: the loss before it is fit's
    assert report.loss_before_calibration == pytest.approx(best, rel=1e-3, abs=1e-4)


def test_time_budget_stops_training(small_data: fk.Datasets) -> None:
    clf = _fresh(small_data)
    history = clf.fit(small_data, epochs=50, time_budget=0.0, verbose=0).history
    assert len(history["loss"]) == 1
    assert clf.is_fitted


def test_balanced_class_weight(make_folder: Any) -> None:
    folder = make_folder(per_class=6, size=(8, 8))
    for extra in range(6, 30):  # make "red" 5x larger than the others
        path = folder / "red" / f"x{extra}.png"
        write_colour_image(path, COLOURS["red"], size=(8, 8), seed=extra)
    data = fk.load_datasets(folder, image_size=16, seed=1)
    clf = _fresh(data)
    weights = data.class_weights()
    counts = data.counts["train"]
    n = sum(counts.values())
    for i, name in enumerate(data.class_names):
        assert weights is not None
        assert weights[i] == pytest.approx(n / (3 * counts[name]))
    assert weights[2] < weights[0]
    clf.fit(data, epochs=1, class_weight="balanced", verbose=0)


def test_fine_tuning_unfreezes_top_of_backbone(small_data: fk.Datasets) -> None:
    import keras

    backbone = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
        ],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = backbone(x, training=False)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    clf = fk.Classifier(model, small_data.class_names)
    frozen_first = backbone.layers[0].get_weights()[0].copy()
    clf.fit(small_data, epochs=1, verbose=0)
    history = clf.fine_tune(small_data, epochs=2, layers=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert len(clf.history_["loss"]) == 3
    # top 2 layers (Conv2D, pooling) unfrozen; batch norm stays frozen
    assert [layer.trainable for layer in backbone.layers] == [False, False, True, True]
    np.testing.assert_array_equal(backbone.layers[0].get_weights()[0], frozen_first)
    clf.fine_tune(small_data, epochs=1, verbose=0)  # then all layers: the first one learns
    assert [layer.trainable for layer in backbone.layers] == [True, False, True, True]
    assert not np.array_equal(backbone.layers[0].get_weights()[0], frozen_first)


def test_fine_tuning_needs_a_backbone(small_data: fk.Datasets) -> None:
    with pytest.raises(ConfigError, match="backbone"):
        _fresh(small_data).fine_tune(small_data, epochs=1, verbose=0)


def test_calibrate_option_needs_validation(colour_folder: Path) -> None:
    data = fk.load_datasets(colour_folder, image_size=16, validation_split=0)
    with pytest.raises(ConfigError, match="validation"):
        _fresh(data).fit(data, epochs=1, calibrate=True, verbose=0)


_KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import keras
    import flowerkit as fk

    folder, ckpt, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Killer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    data = fk.load_datasets(folder, image_size=16, batch_size=16, seed=4)
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=16,
                                    seed=3)
    clf.fit(data, epochs=4, checkpoint_dir=ckpt, callbacks=[Killer()], verbose=0)
    """
)


def test_resume_after_a_killed_process(colour_folder: Path, tmp_path: Path) -> None:
    import keras

    ckpt = tmp_path / "ckpt"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    proc = subprocess.run(
        [sys.executable, str(script), str(colour_folder), str(ckpt), "2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    saved = latest_checkpoint(ckpt)
    assert saved is not None and saved.epochs_done == 2
    assert len(saved.history["loss"]) == 2
    assert [p.name for p in ckpt.iterdir()] == ["checkpoint-00002"]  # one unit, no leftovers

    class Epochs(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[int] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.seen.append(epoch)

    data = fk.load_datasets(colour_folder, image_size=16, batch_size=16, seed=4)
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=16, seed=3)
    recorder = Epochs()
    history = clf.fit(data, epochs=4, checkpoint_dir=ckpt, callbacks=[recorder], verbose=0).history
    assert recorder.seen == [2, 3]  # only the epochs the killed run did not finish
    assert len(history["loss"]) == 4
    assert history["loss"][:2] == saved.history["loss"]
    assert history["loss"][3] < history["loss"][0]
    assert not ckpt.exists()  # a finished run clears its checkpoints


def test_ctrl_c_during_a_checkpoint_write_waits_until_it_is_complete() -> None:
    import os
    import signal

    from flowerkit.training.callbacks import _defer_sigint

    finished: list[str] = []

    def write_checkpoint() -> None:
        with _defer_sigint():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("checkpoint written")

    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_checkpoint()
        assert finished == ["checkpoint written"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # A process that ignores SIGINT (started in the background) keeps ignoring it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        write_checkpoint()
        assert finished == ["checkpoint written"] * 2
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)


def test_fit_without_epochs_runs_the_recipe_phases(small_data: fk.Datasets) -> None:
    import keras

    from flowerkit.models import registry

    def tiny_transfer(num_classes: int, *, image_size: Any, **_: Any) -> Any:
        backbone = keras.Sequential(
            [keras.Input((*image_size, 3)), keras.layers.Conv2D(4, 3), keras.layers.Conv2D(4, 3)],
            name="backbone",
        )
        backbone.trainable = False
        inputs = keras.Input((*image_size, 3))
        x = keras.layers.GlobalAveragePooling2D()(backbone(keras.layers.Rescaling(1 / 255)(inputs)))
        return keras.Model(inputs, keras.layers.Dense(num_classes)(x))

    recipe = fk.TrainingRecipe(epochs=2, fine_tune_epochs=1, fine_tune_layers=1)
    fk.register_preset("tiny_transfer", description="test", image_size=16, recipe=recipe)(
        tiny_transfer  # type: ignore[arg-type]
    )
    try:
        clf = fk.Classifier.from_preset("tiny_transfer", class_names=small_data.class_names)
        history = clf.fit(small_data, verbose=0)
        assert len(history.history["loss"]) == 3  # 2 frozen + 1 fine-tuning
        layers = clf.model.get_layer("backbone").layers
        assert [layer.trainable for layer in layers] == [False, True]
        again = clf.fine_tune(small_data, verbose=0)  # the recipe's 1 epoch, top layer
        assert len(again.history["loss"]) == 1 and len(clf.history_["loss"]) == 4
        with pytest.raises(ConfigError, match="epochs"):
            _fresh(small_data).fit(small_data, epochs=0, verbose=0)
        with pytest.raises(ConfigError, match=r"`epochs` must be an integer >= 1"):
            clf.fine_tune(small_data, epochs=0, verbose=0)
        with pytest.raises(TypeError, match="early_stoping"):
            clf.fine_tune(small_data, early_stoping=1)
    finally:
        registry._REGISTRY.pop("tiny_transfer", None)


def test_resume_in_the_fine_tuning_phase_skips_the_frozen_one(
    colour_folder: Path, tmp_path: Path, tiny_transfer: str
) -> None:
    """On a transfer preset with mobilenet_v2's recipe and a tiny backbone (the phases are
    the recipe's and the loop's, not the architecture's)."""
    import keras

    data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=4)
    ckpt = tmp_path / "ckpt"

    class Stop(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:  # the first fine-tuning epoch is checkpointed, then Ctrl-C
                raise KeyboardInterrupt

    class Epochs(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[int] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.seen.append(epoch)

    def fresh() -> fk.Classifier:
        return fk.Classifier.from_preset(
            tiny_transfer, class_names=data.class_names, image_size=32, seed=3
        )

    with pytest.raises(KeyboardInterrupt):
        fresh().fit(data, epochs=1, fine_tune_epochs=2, checkpoint_dir=ckpt, callbacks=[Stop()])
    saved = latest_checkpoint(ckpt)
    assert saved is not None and (saved.epochs_done, saved.phase) == (2, "fine_tune")
    recorder = Epochs()
    history = fresh().fit(
        data, epochs=1, fine_tune_epochs=2, checkpoint_dir=ckpt, callbacks=[recorder], verbose=0
    )
    assert recorder.seen == [2]  # neither the frozen epoch nor the first fine-tuning one again
    assert len(history.history["loss"]) == 3
    assert history.history["loss"][:2] == saved.history["loss"]


def test_fit_calibrates_on_the_validation_split_by_default(small_data: fk.Datasets) -> None:
    clf = _fresh(small_data)
    clf.fit(small_data, epochs=2, verbose=0)
    assert set(clf.calibration_) == {"temperature", "ece_before", "ece_after"}
    assert clf.temperature_ == clf.calibration_["temperature"] != 1.0
    plain = _fresh(small_data)
    plain.fit(small_data, epochs=2, calibrate=False, verbose=0)
    assert (plain.calibration_, plain.temperature_) == ({}, 1.0)


def test_auto_calibration_needs_no_validation_data_but_true_does(
    small_data: fk.Datasets,
) -> None:
    train_only = small_data.train
    clf = _fresh(small_data)
    clf.fit(train_only, epochs=1, verbose=0)  # "auto": nothing to calibrate on, no error
    assert clf.calibration_ == {}
    with pytest.raises(ConfigError, match="calibrate=True"):
        clf.fit(train_only, epochs=1, calibrate=True, verbose=0)
    with pytest.raises(ConfigError, match="calibrate"):
        clf.fit(small_data, epochs=1, calibrate="yes", verbose=0)  # type: ignore[arg-type]
