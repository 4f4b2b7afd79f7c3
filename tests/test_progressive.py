"""Progressive resizing: small training crops in the first epochs, full size at the end."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

import flowerkit as fk
from flowerkit.models.layers import RandomResizedCrop
from flowerkit.training.progressive import STEP, crop_layers, size_at


@given(
    smallest=st.integers(16, 200),
    full=st.integers(16, 256),
    until=st.floats(0.05, 1.0),
    a=st.floats(0.0, 1.0),
    b=st.floats(0.0, 1.0),
)
def test_size_grows_from_smallest_to_full_in_steps(
    smallest: int, full: int, until: float, a: float, b: float
) -> None:
    lo, hi = sorted((a, b))
    first, later = (size_at(d, smallest=smallest, full=full, until=until) for d in (lo, hi))
    assert first <= later or smallest >= full  # never shrinks
    for size in (first, later):
        assert size in (full, smallest) or (smallest < size < full and size % STEP == 0)
    assert size_at(until, smallest=smallest, full=full, until=until) == full
    assert size_at(0.0, smallest=smallest, full=full, until=until) == min(full, smallest)


@keras.saving.register_keras_serializable(package="flowerkit_tests")
class _SizeProbe(keras.layers.Layer):  # type: ignore[misc]
    """Records the side of every batch it is traced or run with, in training."""

    seen: ClassVar[list[int]] = []

    def call(self, x: Any, training: bool | None = None) -> Any:
        if training:
            _SizeProbe.seen.append(int(x.shape[1]))
        return x


def _batches(x: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((x, np.arange(len(x)) % 2)).batch(4)


def _model(size: int = 32) -> keras.Model:
    inputs = keras.Input((size, size, 3))
    x = RandomResizedCrop(seed=1, size=(size, size), name="crop")(inputs)
    x = _SizeProbe()(x)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_fit_trains_small_crops_first_then_full_size_and_infers_at_full_size() -> None:
    _SizeProbe.seen.clear()
    recipe = fk.TrainingRecipe(epochs=4, progressive_from=16, progressive_until=0.5)
    clf = fk.Classifier(_model(), ["a", "b"], recipe=recipe)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3)).astype("uint8")
    clf.fit(_batches(x), verbose=0, calibrate=False)
    # Each size is traced once, in order: epochs 0-1 grow from 16 (until half the run),
    # epochs 2-3 at the full 32; nothing trains at any other size.
    assert [s for i, s in enumerate(_SizeProbe.seen) if s != _SizeProbe.seen[i - 1] or i == 0] == [
        16,
        32,
    ]
    assert all(layer.training_size is None for layer in crop_layers(clf.model))
    assert clf.predict_proba(x).shape == (8, 2)  # inference at the full 32: the model runs


def test_without_a_fixed_crop_size_progressive_resizing_changes_nothing() -> None:
    inputs = keras.Input((16, 16, 3))
    x = RandomResizedCrop(seed=1)(inputs)  # no size: crops keep the input's size
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    assert crop_layers(model) == []
    recipe = fk.TrainingRecipe(epochs=2, progressive_from=8)
    clf = fk.Classifier(model, ["a", "b"], recipe=recipe)
    x = np.zeros((4, 16, 16, 3), "uint8")
    history = clf.fit(_batches(x), verbose=0, calibrate=False)
    assert len(history.history["loss"]) == 2


def test_the_recipe_fields_are_saved_with_the_model(tmp_path: Any) -> None:
    recipe = dataclasses.replace(
        fk.get_preset("compact").recipe, progressive_from=64, progressive_until=0.7
    )
    clf = fk.Classifier(_model(), ["a", "b"], recipe=recipe, trained=True)
    clf.save(tmp_path / "m.keras")
    loaded = fk.Classifier.load(tmp_path / "m.keras")
    assert (loaded.recipe.progressive_from, loaded.recipe.progressive_until) == (64, 0.7)


@pytest.mark.parametrize("until", [0.25, 1.0])
def test_size_at_examples(until: float) -> None:
    sizes = [size_at(e / 8, smallest=64, full=112, until=until) for e in range(8)]
    assert sizes[0] == (64 if until > 0.125 else 112)
    assert sizes == sorted(sizes)
