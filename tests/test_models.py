"""Presets, build_model, augmentation_block."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from flowerkit.exceptions import ConfigError, UnknownPresetError
from flowerkit.models import register_preset


def test_tutorial_preset_matches_the_tutorial() -> None:
    model = fk.build_model(5)
    assert model.count_params() == 3_989_285
    assert tuple(model.input_shape) == (None, 180, 180, 3)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == [
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
    ]


def test_regularised_tutorial_has_same_parameters_plus_augmentation_and_dropout() -> None:
    model = fk.build_model(5, augmentation=fk.augmentation_block(), dropout=0.2)
    assert model.count_params() == 3_989_285
    names = [layer.name for layer in model.layers]
    assert "augmentation" in names and "dropout" in names


def test_augmentation_is_identity_at_inference_and_random_in_training() -> None:
    block = fk.augmentation_block(seed=1)
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(block(x, training=False)), x)
    assert not np.allclose(np.asarray(block(x, training=True)), x)


def test_augmentation_layers_and_errors() -> None:
    block = fk.augmentation_block(flip=None, rotation=0, zoom=0.2, contrast=0.1)
    assert [type(layer).__name__ for layer in block.layers] == ["RandomZoom", "RandomContrast"]
    with pytest.raises(ConfigError, match="flip"):
        fk.augmentation_block(flip="diagonal")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="zoom"):
        fk.augmentation_block(zoom=-1)
    with pytest.raises(ConfigError, match="empty"):
        fk.augmentation_block(flip=None, rotation=0, zoom=0)


def test_seed_makes_initial_weights_reproducible() -> None:
    a = fk.build_model(3, image_size=16, seed=5).get_weights()
    b = fk.build_model(3, image_size=16, seed=5).get_weights()
    c = fk.build_model(3, image_size=16, seed=6).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_unknown_preset_suggests_close_names() -> None:
    with pytest.raises(UnknownPresetError, match="tutorial") as info:
        fk.build_model(5, preset="tutoral")
    assert isinstance(info.value, ValueError) and "Did you mean" in str(info.value)


def test_build_model_argument_errors() -> None:
    with pytest.raises(ConfigError, match="num_classes"):
        fk.build_model(1)
    with pytest.raises(ConfigError, match="dropout"):
        fk.build_model(3, dropout=1.5)
    with pytest.raises(ConfigError, match="does not take"):
        fk.build_model(3, width=2)
    with pytest.raises(ConfigError, match="augmentation"):
        fk.build_model(3, augmentation="yes")  # type: ignore[arg-type]


def test_register_and_list_a_user_preset() -> None:
    import keras

    @register_preset(
        "tiny_test_cnn",
        description="A tiny CNN for tests.",
        image_size=(16, 16),
        options=("width",),
    )
    def _tiny(
        num_classes: int,
        *,
        image_size: tuple[int, int],
        augmentation: Any,
        dropout: float,
        width: int = 4,
    ) -> keras.Model:
        inputs = keras.Input((*image_size, 3))
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(width, 3)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(x))

    assert "tiny_test_cnn" in fk.list_presets("tiny_*")
    model = fk.build_model(2, preset="tiny_test_cnn", width=6)
    assert tuple(model.input_shape) == (None, 16, 16, 3)
    assert fk.get_preset("tiny_test_cnn").image_size == (16, 16)
    with pytest.raises(ConfigError, match="already registered"):
        register_preset("tiny_test_cnn", description="again")(_tiny)
