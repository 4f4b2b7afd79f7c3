"""Re-estimating batch-norm statistics after training (the ``compact`` recipe does it)."""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import flowerkit as fk
from flowerkit.exceptions import DatasetError
from flowerkit.training.batchnorm import recalibrate_batchnorm
from flowerkit.training.callbacks import TimeBudget


class _AddInTraining(keras.layers.Layer):  # type: ignore[misc]
    """A stand-in augmentation: shifts every pixel by 100, in training only."""

    def call(self, x: Any, training: bool | None = None) -> Any:
        return x + 100.0 if training else x


def _model(frozen: bool = False) -> keras.Model:
    inputs = keras.Input((4, 4, 2))
    x = _AddInTraining(name="augmentation")(inputs)
    bn = keras.layers.BatchNormalization(name="bn")
    bn.trainable = not frozen
    x = bn(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _pixels(n: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 5.0], "float32")  # channel 1 varies more
    return (rng.normal(size=(n, 4, 4, 2)) * scale + [3.0, -2.0]).astype("float32")


def test_statistics_become_the_training_set_average_without_augmentation() -> None:
    x = _pixels(10)
    labels = np.zeros(10, "int32")
    dataset = tf.data.Dataset.from_tensor_slices((x, labels)).batch(4)  # 4 + 4 + 2
    model = _model()
    gamma = model.get_layer("bn").gamma.numpy().copy()

    assert recalibrate_batchnorm(model, dataset) == 1

    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    # The average of the batches' variances, each weighted by its size.
    batches = [x[:4], x[4:8], x[8:]]
    expected = sum(len(b) * b.var(axis=(0, 1, 2)) for b in batches) / 10
    np.testing.assert_allclose(bn.moving_variance.numpy(), expected, rtol=1e-4)
    np.testing.assert_array_equal(bn.gamma.numpy(), gamma)  # weights are left alone
    assert bn.momentum == pytest.approx(0.99)  # restored


def test_an_augmentation_that_resizes_runs_in_inference_mode() -> None:
    """A crop layer that outputs another size (as ``compact``'s does) still resizes the
    whole image during the pass: the statistics are those of the resized images."""
    from flowerkit.models.layers import RandomResizedCrop

    inputs = keras.Input((16, 16, 2))
    x = keras.Sequential([RandomResizedCrop(size=8, seed=1)], name="augmentation")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    rng = np.random.default_rng(1)
    pixels = (rng.normal(size=(6, 16, 16, 2)) * [1.0, 4.0] + [2.0, -1.0]).astype("float32")

    assert recalibrate_batchnorm(model, tf.data.Dataset.from_tensor_slices(pixels).batch(6)) == 1

    resized = keras.ops.convert_to_numpy(keras.ops.image.resize(pixels, (8, 8)))
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), resized.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), resized.var(axis=(0, 1, 2)), rtol=1e-4)


def test_frozen_batchnorm_is_left_alone() -> None:
    model = _model(frozen=True)
    before = model.get_layer("bn").moving_mean.numpy().copy()
    dataset = tf.data.Dataset.from_tensor_slices(_pixels(4)).batch(2)
    assert recalibrate_batchnorm(model, dataset) == 0
    np.testing.assert_array_equal(model.get_layer("bn").moving_mean.numpy(), before)


def test_an_empty_dataset_is_an_error_and_changes_nothing() -> None:
    model = _model()
    bn = model.get_layer("bn")
    bn.moving_mean.assign([1.0, 2.0])
    empty = tf.data.Dataset.from_tensor_slices(_pixels(4)).take(0).batch(2)
    with pytest.raises(DatasetError, match="empty"):
        recalibrate_batchnorm(model, empty)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), [1.0, 2.0])
    assert bn.momentum == pytest.approx(0.99)


def test_time_budget_keeps_the_closing_pass_in_reserve() -> None:
    """Half of the last epoch's training time is kept for the closing pass, measured over
    the whole epoch: one batch slowed by the host does not multiply into the reserve."""
    budget = TimeBudget(100.0, start=time.monotonic(), closing_epochs=0.5)
    budget._steady_reserve = 3.0
    assert budget._reserve == pytest.approx(3.0)  # no epoch measured yet
    budget.on_epoch_begin(0)
    budget._epoch_begin -= 20.0  # the epoch's batches took 20 s ...
    budget._batch_seconds = 15.0  # ... the last of them 15 s
    budget.on_epoch_end(0)
    assert budget._reserve == pytest.approx(3.0 + 0.5 * 20.0, abs=0.05)
    # The closing pass traces a step of its own: how much longer the phase's first epoch
    # took than the last one (tracing, filling caches) is kept as well.
    budget.on_epoch_begin(1)
    budget._epoch_begin -= 12.0  # a later epoch's batches: 12 s
    budget.on_epoch_end(1)
    assert budget._reserve == pytest.approx(3.0 + 0.5 * 12.0 + (20.0 - 12.0), abs=0.05)


def _stem_is_recalibrated(clf: fk.Classifier, train: tf.data.Dataset) -> None:
    """The stem's batch norm sees the un-augmented images through one convolution, so its
    recalibrated mean does not depend on how the (reshuffled) batches are made up."""
    stem = clf.model.get_layer("stem_bn")
    mean = stem.moving_mean.numpy().copy()
    recalibrate_batchnorm(clf.model, train)
    np.testing.assert_allclose(stem.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def compact_data(make_folder: Any) -> fk.Datasets:
    folder = make_folder(per_class=6, size=(32, 32))
    return fk.load_datasets(folder, image_size=32, batch_size=4, seed=1)


def _compact(data: fk.Datasets, preset: str) -> fk.Classifier:
    """A classifier trained with the ``compact`` recipe: ``preset`` is the tiny stand-in
    with that recipe and augmentation (tests/tiny_presets.py), since what is tested is the
    recipe's recalibration, not the residual network (5 s of tracing a fit)."""
    assert fk.get_preset("compact").recipe.recalibrate_batchnorm
    assert fk.get_preset(preset).recipe == fk.get_preset("compact").recipe
    return fk.Classifier.from_preset(preset, class_names=data.class_names, image_size=32, seed=2)


def test_fit_recalibrates_before_the_last_validation_pass(
    compact_data: fk.Datasets, tiny_compact: str
) -> None:
    """The last epoch's validation loss is the returned, recalibrated model's."""
    clf = _compact(compact_data, tiny_compact)
    history = clf.fit(compact_data, epochs=2, verbose=0).history
    final = clf.model.evaluate(compact_data.validation, verbose=0, return_dict=True)
    assert final["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-4)
    _stem_is_recalibrated(clf, compact_data.train)


@pytest.mark.parametrize("case", ["early stopping", "no validation data"])
def test_fit_recalibrates_at_the_end_otherwise(
    compact_data: fk.Datasets, tiny_compact: str, case: str
) -> None:
    """With early stopping the weights it restores are recalibrated; without validation
    data the recalibration happens when training ends."""
    clf = _compact(compact_data, tiny_compact)
    if case == "early stopping":
        clf.fit(compact_data, epochs=3, early_stopping=1, verbose=0)
    else:
        clf.fit(compact_data.train, epochs=2, verbose=0)
    _stem_is_recalibrated(clf, compact_data.train)
