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


# ------------------------------------------------------------------------ precision


@pytest.fixture
def bf16_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let precision='bfloat16' through on any CPU (emulated here: slow, but tiny models)."""
    import flowerkit.models.build

    monkeypatch.setattr(flowerkit.models.build, "native_bfloat16", lambda: True)


@pytest.mark.parametrize(
    "preset", ["tutorial", pytest.param("compact", marks=pytest.mark.slow)]
)  # compact's emulated bfloat16 costs ~20 s of CPU: the same path, so slow
def test_bfloat16_models_compute_in_bfloat16_and_keep_it_when_saved(
    preset: str, bf16_allowed: None, colour_folder: Any, tmp_path: Any
) -> None:
    import keras

    data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)
    clf = fk.Classifier.from_preset(
        preset, class_names=data.class_names, image_size=32, seed=1, precision="bfloat16"
    )
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    policies = {layer.dtype_policy.name for layer in clf.model.layers if layer.weights}
    assert policies == {"mixed_bfloat16"}
    assert all(w.dtype == "float32" for w in clf.model.weights)  # weights stay float32
    history = clf.fit(data, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    probs = clf.predict_proba(np.zeros((2, 32, 32, 3), np.uint8))
    assert probs.dtype == np.float64 and np.allclose(probs.sum(axis=1), 1.0)
    clf.save(tmp_path / "m")
    again = fk.Classifier.load(tmp_path / "m")
    assert again.build_config["precision"] == "bfloat16"
    assert {lay.dtype_policy.name for lay in again.model.layers if lay.weights} == policies
    np.testing.assert_allclose(
        again.predict_proba(np.zeros((2, 32, 32, 3), np.uint8)), probs, atol=1e-6
    )


def test_bfloat16_is_refused_where_it_would_be_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    import flowerkit.models.build

    monkeypatch.setattr(flowerkit.models.build, "native_bfloat16", lambda: False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    with pytest.raises(ConfigError, match="AVX512_BF16 or AMX"):
        fk.build_model(3, precision="bfloat16")
    with pytest.raises(ConfigError, match="precision"):
        fk.build_model(3, precision="float16")  # type: ignore[arg-type]
