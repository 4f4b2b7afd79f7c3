"""The random-resized-crop layer and the learning-rate schedule driven by ``fit``."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import flowerkit as fk
from flowerkit.exceptions import ConfigError
from flowerkit.models.layers import RandomResizedCrop
from flowerkit.training.callbacks import TimeBudget, WarmupCosine


def _images(n: int = 4, size: int = 12) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3)).astype("float32")


# --------------------------------------------------------------------------- crop layer


def test_crop_is_identity_at_inference() -> None:
    x = _images()
    out = keras.ops.convert_to_numpy(RandomResizedCrop(seed=1)(x, training=False))
    np.testing.assert_array_equal(out, x)


def test_a_full_area_square_crop_returns_the_image() -> None:
    """scale=(1, 1), ratio=(1, 1) is the whole image: checks the pixel-centre mapping."""
    x = _images()
    layer = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=1)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(out, x, atol=1e-3)


def test_a_quarter_crop_zooms_in_two_times_at_a_random_place() -> None:
    """On a horizontal ramp (pixel value = 10 x column), a 1/4-area square crop resized to
    the full width shows a ramp of slope 5 (a 2x zoom), starting at a random column."""
    ramp = np.broadcast_to(10.0 * np.arange(16, dtype="float32")[None, :, None], (16, 16, 3))
    x = np.repeat(ramp[None], 32, axis=0)
    layer = RandomResizedCrop(scale=(0.25, 0.25), ratio=(1.0, 1.0), seed=3)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape
    inner = out[:, :, 1:15, 0]  # away from the edges, where sampling is never clamped
    np.testing.assert_allclose(np.diff(inner, axis=-1), 5.0, atol=1e-3)
    starts = out[:, 0, 1, 0]
    assert starts.min() >= 2.5 - 1e-3 and starts.max() <= 82.5 + 1e-3  # 10 * (left + 1/4)
    assert starts.max() - starts.min() > 20.0  # different places for different images


def test_crop_is_repeatable_with_a_seed_and_round_trips_its_config() -> None:
    x = _images()
    a = keras.ops.convert_to_numpy(RandomResizedCrop(seed=5)(x, training=True))
    b = keras.ops.convert_to_numpy(RandomResizedCrop(seed=5)(x, training=True))
    np.testing.assert_array_equal(a, b)
    layer = RandomResizedCrop(scale=(0.4, 0.9), ratio=(0.5, 2.0), seed=5)
    clone = RandomResizedCrop.from_config(layer.get_config())
    assert (clone.scale, clone.ratio, clone.seed) == ((0.4, 0.9), (0.5, 2.0), 5)


def test_a_crop_of_a_larger_image_is_resized_to_size() -> None:
    """With ``size``, a training crop is resampled straight to that size: on a 32 px ramp
    (value = 10 x column), a quarter-area square crop (16 px wide) resized to 8 px has a
    slope of 20, from a random column; at inference the whole image is resized."""
    ramp = np.broadcast_to(10.0 * np.arange(32, dtype="float32")[None, :, None], (32, 32, 3))
    x = np.repeat(ramp[None], 16, axis=0)
    layer = RandomResizedCrop(scale=(0.25, 0.25), ratio=(1.0, 1.0), seed=4, size=8)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == (16, 8, 8, 3)
    assert layer.compute_output_shape((None, 32, 32, 3)) == (None, 8, 8, 3)
    np.testing.assert_allclose(np.diff(out[..., 0], axis=-1), 20.0, atol=1e-3)
    starts = out[:, 0, 0, 0]  # 10 * (left + 1/2 * 16/8 - 1/2)
    assert starts.min() >= 5.0 - 1e-3 and starts.max() <= 165.0 + 1e-3
    assert starts.max() - starts.min() > 40.0
    whole = keras.ops.convert_to_numpy(layer(x, training=False))
    expected = keras.ops.convert_to_numpy(keras.ops.image.resize(x, (8, 8)))
    np.testing.assert_allclose(whole, expected, atol=1e-3)
    full = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=4, size=(8, 12))
    np.testing.assert_allclose(  # a crop of the whole image is the same resize
        keras.ops.convert_to_numpy(full(x, training=True)),
        keras.ops.convert_to_numpy(keras.ops.image.resize(x, (8, 12))),
        atol=1e-3,
    )


def test_enlarged_crops_never_sample_outside_the_image() -> None:
    """Small crops enlarged to the output size, many of them at an edge, read only image
    pixels (``crop_and_resize`` would fill outside points with zeros)."""
    x = np.full((64, 10, 10, 3), 100.0, dtype="float32")
    layer = RandomResizedCrop(scale=(0.1, 0.2), ratio=(0.5, 2.0), seed=2, size=16)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(out, 100.0, atol=1e-3)


def test_crop_size_round_trips_and_is_checked() -> None:
    layer = RandomResizedCrop(size=(24, 32), seed=1)
    clone = RandomResizedCrop.from_config(layer.get_config())
    assert clone.size == (24, 32)
    assert RandomResizedCrop.from_config(RandomResizedCrop().get_config()).size is None
    with pytest.raises(ConfigError, match="size"):
        RandomResizedCrop(size=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"scale": (0.8, 0.5)}, "scale"),
        ({"scale": (0.5, 1.5)}, "scale"),
        ({"ratio": (0.0, 1.0)}, "ratio"),
        ({"ratio": (2.0, 1.0)}, "ratio"),
    ],
)
def test_crop_rejects_bad_ranges(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RandomResizedCrop(**kwargs)


def test_augmentation_block_crop_option() -> None:
    block = fk.augmentation_block(crop=0.3, rotation=0, zoom=0)
    assert isinstance(block.layers[0], RandomResizedCrop)
    assert block.layers[0].scale == (0.3, 1.0)
    assert [type(layer).__name__ for layer in block.layers] == ["RandomResizedCrop", "RandomFlip"]
    with pytest.raises(ConfigError, match="crop"):
        fk.augmentation_block(crop=1.0)
    sized = fk.augmentation_block(crop=0.3, crop_size=24, rotation=0, zoom=0, contrast=0.2)
    assert sized.layers[0].size == (24, 24)
    assert sized.compute_output_shape((None, 40, 40, 3)) == (None, 24, 24, 3)
    out = keras.ops.convert_to_numpy(sized(_images(2, 40), training=False))
    assert out.shape == (2, 24, 24, 3)
    with pytest.raises(ConfigError, match="needs `crop`"):
        fk.augmentation_block(crop_size=24)


# --------------------------------------------------------------------------- schedule


class _FakeBudget(TimeBudget):
    def __init__(self, share: float) -> None:
        super().__init__(100.0)
        self.share = share

    def fraction(self) -> float:
        return self.share


def test_warmup_then_cosine_to_zero() -> None:
    s = WarmupCosine(1.0, first_epoch=0, last_epoch=10, warmup_epochs=2, cosine=True)
    assert s.rate(1.0) == pytest.approx(0.5)  # half-way through warm-up
    assert s.rate(2.0) == pytest.approx(1.0)
    assert s.rate(6.0) == pytest.approx(0.5)  # half-way through the decay
    assert s.rate(10.0) == pytest.approx(0.0, abs=1e-12)
    constant = WarmupCosine(1.0, first_epoch=0, last_epoch=10, warmup_epochs=0, cosine=False)
    assert constant.rate(7.3) == 1.0


def test_linear_decay_reaches_zero_along_a_straight_line() -> None:
    s = WarmupCosine(1.0, first_epoch=0, last_epoch=10, warmup_epochs=2, cosine=True, linear=True)
    assert s.rate(2.0) == pytest.approx(1.0)
    assert s.rate(4.0) == pytest.approx(0.75)
    assert s.rate(6.0) == pytest.approx(0.5)
    assert s.rate(10.0) == pytest.approx(0.0, abs=1e-12)


def test_warmup_is_at_most_half_the_run() -> None:
    s = WarmupCosine(1.0, first_epoch=5, last_epoch=7, warmup_epochs=5, cosine=True)
    assert s.warmup == 1.0
    assert s.rate(1.0) == pytest.approx(1.0)


def test_time_budget_decays_the_rate_when_it_ends_first() -> None:
    s = WarmupCosine(
        1.0, first_epoch=0, last_epoch=100, warmup_epochs=0, cosine=True, budget=_FakeBudget(0.5)
    )
    # Epoch 10 of 100 alone would give ~0.976; half the budget used gives 0.5.
    assert s.rate(10.0) == pytest.approx(0.5)
    s.budget = _FakeBudget(1.0)
    assert s.rate(10.0) == pytest.approx(0.0, abs=1e-12)
    s.budget = _FakeBudget(0.0)
    assert s.rate(50.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_time_budget_clock_spans_every_phase() -> None:
    budget = TimeBudget(1000.0)
    budget.on_train_begin()
    start = budget._start
    budget.on_train_begin()  # a second phase (fine-tuning) of the same fit call
    assert budget._start == start


def test_time_budget_keeps_the_longest_epoch_end_in_reserve() -> None:
    budget = TimeBudget(10.0, start=time.monotonic() - 4.0)
    assert budget.fraction() == pytest.approx(0.4, abs=0.01)
    budget._steady_reserve = 2.0  # an epoch's end (validation etc.) took 2 s: 8 s are usable
    assert budget.fraction() == pytest.approx(0.5, abs=0.01)

    # The first epoch's end also traces the validation step: it counts only until a
    # later epoch's end has been measured; after that the longest later one counts.
    fresh = TimeBudget(10.0)
    for seconds, reserve in ((5.0, 5.0), (1.0, 1.0), (2.0, 2.0), (1.5, 2.0)):
        fresh._batch_end = time.monotonic() - seconds  # seconds since the last batch
        fresh.on_epoch_end(0)
        assert fresh._reserve == pytest.approx(reserve, abs=0.05)
    fresh.on_train_begin()  # a second phase (fine-tuning): its first epoch traces again
    fresh._batch_end = time.monotonic() - 6.0
    fresh.on_epoch_end(0)
    assert fresh._reserve == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize(("batch_seconds", "stops"), [(2.0, True), (1.0, False)])
def test_time_budget_stops_when_the_next_batch_would_not_fit(
    monkeypatch: Any, batch_seconds: float, stops: bool
) -> None:
    """A 10 s budget, 2 s reserved for the epoch's end, 6.5 s used: with 2 s batches the
    next one would end at 8.5 s and the epoch's end at 10.5 s, so training stops now; with
    1 s batches it would end at 9.5 s, so training goes on."""
    clock = itertools.chain([6.5 - batch_seconds], itertools.repeat(6.5))
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    budget = TimeBudget(10.0, start=0.0)
    budget.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    budget.model.stop_training = False
    budget._steady_reserve = 2.0
    budget.on_epoch_begin(0)
    budget.on_train_batch_end(0)
    assert budget.stopped is stops
    assert budget.model.stop_training is stops


def test_fit_follows_the_recipe_schedule_and_ends_at_zero(
    make_folder: Any, tmp_path: Path, tiny_compact: str
) -> None:
    """The ``compact`` recipe's warm-up and cosine schedule, on the tiny preset that has
    that recipe (tests/tiny_presets.py): a fifth of the residual network's tracing time."""
    folder = make_folder(per_class=6, size=(32, 32))
    data = fk.load_datasets(folder, image_size=32, batch_size=4, seed=1)
    assert fk.get_preset(tiny_compact).recipe == fk.get_preset("compact").recipe
    clf = fk.Classifier.from_preset(tiny_compact, class_names=data.class_names, image_size=32)
    seen: list[float] = []

    class Spy(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    clf.fit(data, epochs=4, callbacks=[Spy()], verbose=0)
    peak = fk.get_preset("compact").recipe.learning_rate
    assert max(seen) == pytest.approx(peak, rel=1e-5)
    assert seen[0] < peak / 2  # warm-up
    assert seen[-1] < peak * 0.02  # decayed to (nearly) zero on the last batch
    # A second fit call runs its own schedule rather than staying at zero.
    seen.clear()
    clf.fit(data, epochs=2, callbacks=[Spy()], verbose=0)
    assert max(seen) == pytest.approx(peak, rel=1e-5)
    # So does a model loaded from disk (its saved optimizer ended at a rate near zero).
    loaded = fk.Classifier.load(clf.save(tmp_path / "m.keras"))
    seen.clear()
    loaded.fit(data, epochs=2, callbacks=[Spy()], verbose=0)
    assert max(seen) == pytest.approx(peak, rel=1e-5)


def test_fit_leaves_a_user_optimizer_alone(make_folder: Any, tiny_compact: str) -> None:
    """On the tiny preset with the ``compact`` recipe (its scheduled optimizer)."""
    folder = make_folder(per_class=4, size=(32, 32))
    data = fk.load_datasets(folder, image_size=32, batch_size=4, seed=1)
    clf = fk.Classifier.from_preset(tiny_compact, class_names=data.class_names, image_size=32)
    clf.fit(data, epochs=2, optimizer=keras.optimizers.SGD(0.0123), verbose=0)
    rate = float(keras.ops.convert_to_numpy(clf.model.optimizer.learning_rate))
    assert rate == pytest.approx(0.0123)
    # Compiled by the user after flowerkit compiled it: the schedule leaves that alone too.
    clf.fit(data, epochs=1, verbose=0)  # the recipe's optimizer and schedule
    clf.model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    clf.fit(data, epochs=1, verbose=0)
    rate = float(keras.ops.convert_to_numpy(clf.model.optimizer.learning_rate))
    assert rate == pytest.approx(0.5)
