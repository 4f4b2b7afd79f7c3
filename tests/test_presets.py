"""The built-in presets beyond "tutorial", and the documented custom-layer example."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from flowerkit.exceptions import ConfigError
from flowerkit.models.layers import InferenceBatchNormalization
from loopback import SHARED_WEIGHTS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "presets.rst"
FLOWERS = Path(
    os.environ.get(
        "FLOWERKIT_FLOWERS",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "flower_photos",
    )
)

#: Every built-in preset with the extra options a test build needs (no downloads).
PRESET_OPTIONS: dict[str, dict[str, Any]] = {
    "tutorial": {},
    "compact": {},
    "mobilenet_v2": {"weights": None},
}


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_builtin_presets_are_listed() -> None:
    assert {"tutorial", "compact", "mobilenet_v2"} <= set(fk.list_presets())
    assert fk.list_presets("mobile*") == ["mobilenet_v2"]
    assert fk.get_preset("compact").image_size == (160, 160)
    assert fk.get_preset("mobilenet_v2").image_size == (160, 160)


@pytest.mark.parametrize("preset", ["compact", "mobilenet_v2"])
def test_preset_builds_takes_uint8_and_returns_logits(preset: str) -> None:
    import keras

    model = fk.build_model(3, preset=preset, image_size=32, seed=0, **PRESET_OPTIONS[preset])
    assert tuple(model.input_shape) == (None, 32, 32, 3)
    assert tuple(model.output_shape) == (None, 3)
    layers = list(_all_layers(model))
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in layers)
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Dense) and last.activation is keras.activations.linear
    out = np.asarray(model(_images(4, 32), training=False))
    assert out.shape == (4, 3) and np.all(np.isfinite(out))
    # Augmentation is on by default and is the identity at inference.
    assert any(layer.name == "augmentation" for layer in model.layers)


def test_compact_preset_recipe_and_size() -> None:
    spec = fk.get_preset("compact")
    recipe = spec.recipe
    assert (recipe.optimizer, recipe.schedule) == ("adam", "linear")
    assert recipe.weight_decay > 0 and recipe.label_smoothing > 0 and recipe.warmup_epochs > 0
    model = fk.build_model(5, preset="compact", augmentation=False)
    assert model.count_params() == 858_837
    augmented = fk.build_model(5, preset="compact")
    augmentation = augmented.get_layer("augmentation")
    assert [type(layer).__name__ for layer in augmentation.layers] == [
        "RandomResizedCrop",
        "RandomFlip",
        "RandomContrast",
        "RandomBrightness",
    ]
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"BatchNormalization", "Add", "GlobalAveragePooling2D"} <= kinds
    assert "Flatten" not in kinds
    narrow = fk.build_model(5, preset="compact", augmentation=False, width=0.5)
    assert narrow.count_params() < model.count_params() / 3
    with pytest.raises(ConfigError, match="width"):
        fk.build_model(5, preset="compact", width=0)
    with pytest.raises(ConfigError, match="at least 32x32"):
        fk.build_model(5, preset="compact", image_size=16)


def _network_input(model: Any) -> tuple[int, int]:
    """The spatial size the first convolution sees."""
    shape = model.get_layer("stem_conv").input.shape
    return int(shape[1]), int(shape[2])


def test_compact_sees_112_pixels_of_larger_images() -> None:
    """Fed at its default 160x160, ``compact`` crops (training) or resizes (inference) to
    112x112 in its augmentation; without augmentation a Resizing layer does it; images of
    112 pixels or less are used as they are."""
    augmented = fk.build_model(5, preset="compact", seed=0)
    assert tuple(augmented.input_shape) == (None, 160, 160, 3)
    assert augmented.get_layer("augmentation").layers[0].size == (112, 112)
    assert _network_input(augmented) == (112, 112)
    assert "resize" not in [layer.name for layer in augmented.layers]
    plain = fk.build_model(5, preset="compact", augmentation=False)
    assert plain.get_layer("resize").get_config()["height"] == 112
    assert _network_input(plain) == (112, 112)
    own_block = fk.build_model(5, preset="compact", augmentation=fk.augmentation_block())
    assert _network_input(own_block) == (112, 112)
    small = fk.build_model(5, preset="compact", image_size=(64, 200))
    assert _network_input(small) == (64, 112)
    images = _images(2, 160)
    for model in (augmented, plain):
        out = np.asarray(model(images, training=False))
        assert out.shape == (2, 5) and np.all(np.isfinite(out))


def _random_backbone_weights(folder: Path, size: int = 32) -> Path:
    """A local MobileNetV2 weights file (random values), standing in for ImageNet's."""
    import keras

    source = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, weights=None, alpha=1.0
    )
    path = folder / "backbone.weights.h5"
    source.save_weights(path)
    return path


@pytest.fixture(scope="module")
def backbone_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One random weights file for the module's tests (read-only for them)."""
    return _random_backbone_weights(tmp_path_factory.mktemp("backbone"))


def test_mobilenet_v2_has_a_frozen_backbone_with_fixed_batch_norm(backbone_weights: Path) -> None:
    import keras

    path = backbone_weights
    model = fk.build_model(3, preset="mobilenet_v2", image_size=32, weights=path, seed=0)
    backbone = model.get_layer("backbone")
    assert isinstance(backbone, keras.Model) and not backbone.trainable
    assert [layer.name for layer in model.layers[1:3]] == ["augmentation", "preprocess"]
    assert len(model.trainable_weights) == 2  # the Dense layer only
    # Even with the whole backbone unfrozen, its pretrained batch norms use (and never
    # update) their moving statistics.
    bns = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 52 and all(isinstance(layer, InferenceBatchNormalization) for layer in bns)
    backbone.trainable = True
    assert len(model.trainable_weights) > 100
    before = [layer.moving_mean.numpy() for layer in bns]
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(_images(8, 32), np.arange(8) % 3, epochs=1, batch_size=8, verbose=0)
    for layer, mean in zip(bns, before, strict=True):
        np.testing.assert_array_equal(layer.moving_mean.numpy(), mean)


def test_mobilenet_v2_without_weights_keeps_ordinary_batch_norm() -> None:
    import keras

    model = fk.build_model(3, preset="mobilenet_v2", image_size=32, weights=None)
    backbone = model.get_layer("backbone")
    assert not backbone.trainable
    kinds = {type(layer) for layer in backbone.layers}
    assert keras.layers.BatchNormalization in kinds and InferenceBatchNormalization not in kinds


def test_inference_batch_normalization_ignores_the_training_flag() -> None:
    import keras

    layer = InferenceBatchNormalization.from_batch_normalization(
        keras.layers.BatchNormalization(momentum=0.5, name="bn")
    )
    assert layer.name == "bn" and layer.momentum == 0.5
    x = np.random.default_rng(0).normal(3.0, 2.0, (16, 4)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(layer(x, training=True)), np.asarray(layer(x, training=False))
    )
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(4, "float32"))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is InferenceBatchNormalization and restored.momentum == 0.5


def test_mobilenet_v2_preprocessing_maps_pixels_to_minus_one_one() -> None:
    model = fk.build_model(3, preset="mobilenet_v2", image_size=32, weights=None)
    pre = model.get_layer("preprocess")
    out = np.asarray(pre(np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")))
    np.testing.assert_allclose(out.reshape(-1), [-1.0, 0.0, 1.0], atol=1e-6)


def test_mobilenet_v2_loads_a_local_weights_file(backbone_weights: Path) -> None:
    import keras

    path = backbone_weights
    source = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), include_top=False, weights=path, alpha=1.0
    )
    model = fk.build_model(3, preset="mobilenet_v2", image_size=32, weights=path)
    loaded = model.get_layer("backbone").get_weights()
    for a, b in zip(source.get_weights(), loaded, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mobilenet_v2_weight_option_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        fk.build_model(3, preset="mobilenet_v2", weights=tmp_path / "missing.weights.h5")
    with pytest.raises(ConfigError, match="weights"):
        fk.build_model(3, preset="mobilenet_v2", weights=3)
    with pytest.raises(ConfigError, match="at least 32x32"):  # checked before any download
        fk.build_model(3, preset="mobilenet_v2", image_size=(16, 200), weights="imagenet")
    with pytest.raises(fk.DownloadError, match="offline"):  # the tests run offline
        fk.build_model(3, preset="mobilenet_v2", image_size=(150, 200), weights="imagenet")
    with pytest.raises(ConfigError, match="does not take"):
        fk.build_model(3, preset="mobilenet_v2", width=2)


@pytest.mark.parametrize("preset", ["compact", "mobilenet_v2_local_weights"])
def test_preset_trains_and_round_trips_through_save_and_load(
    preset: str, colour_folder: Path, tmp_path: Path, backbone_weights: Path
) -> None:
    data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)
    options = dict(PRESET_OPTIONS.get(preset, {}))
    if preset == "mobilenet_v2_local_weights":
        preset, options = "mobilenet_v2", {"weights": backbone_weights}
    clf = fk.Classifier.from_preset(
        preset, class_names=data.class_names, image_size=32, seed=1, **options
    )
    history = clf.fit(data, epochs=1, verbose=0).history
    assert len(history["loss"]) == 1 and np.all(np.isfinite(history["loss"]))
    path = clf.save(tmp_path / f"{preset}.keras")
    loaded = fk.Classifier.load(path)
    assert loaded.preset == preset and loaded.class_names == clf.class_names
    images = _images(5, 32, seed=3)
    np.testing.assert_allclose(
        np.asarray(loaded.model(images, training=False)),
        np.asarray(clf.model(images, training=False)),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(loaded.predict_proba(images), clf.predict_proba(images), atol=1e-6)


def _docs_example() -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(
        r"\.\. tested-example: custom-layer\n\n\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text
    )
    assert match, "docs/presets.rst lost its tested custom-layer example"
    lines = match.group(1).splitlines()
    return "\n".join(line[4:] for line in lines) + "\n"


def test_documented_custom_layer_example_trains_saves_and_loads(
    colour_folder: Path, tmp_path: Path
) -> None:
    import keras

    namespace: dict[str, Any] = {"folder": colour_folder, "out": tmp_path}
    exec(compile(_docs_example(), str(DOCS), "exec"), namespace)
    clf, loaded = namespace["clf"], namespace["loaded"]
    assert keras.saving.get_registered_name(namespace["ChannelScale"]) == "my_project>ChannelScale"
    assert isinstance(loaded.model.get_layer("channel_scale"), namespace["ChannelScale"])
    assert len(clf.history_["loss"]) == 1
    images = _images(4, 64, seed=7)
    np.testing.assert_allclose(loaded.predict_proba(images), clf.predict_proba(images), atol=1e-6)
    assert namespace["prediction"].label in clf.class_names
    shipped = namespace["shipped"]
    assert shipped.path.is_file()
    assert all(check.passed for check in shipped.checks)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason="MobileNetV2 weights file not present")
@pytest.mark.skipif(not FLOWERS.is_dir(), reason="flower_photos not present")
def test_mobilenet_v2_with_pretrained_weights_learns_flowers(tmp_path: Path) -> None:
    import keras

    reference = keras.applications.MobileNetV2(
        input_shape=(160, 160, 3), include_top=False, weights=str(SHARED_WEIGHTS)
    )
    # A small linked subset (40 photos per class), so the test takes about a minute.
    for class_dir in sorted(p for p in FLOWERS.iterdir() if p.is_dir()):
        (tmp_path / "data" / class_dir.name).mkdir(parents=True)
        for photo in sorted(class_dir.glob("*.jpg"))[:40]:
            (tmp_path / "data" / class_dir.name / photo.name).symlink_to(photo)
    data = fk.load_datasets(tmp_path / "data", image_size=160, batch_size=32, seed=123)
    clf = fk.Classifier.from_preset(
        "mobilenet_v2", class_names=data.class_names, weights=SHARED_WEIGHTS, seed=1
    )
    for a, b in zip(
        reference.get_weights(), clf.model.get_layer("backbone").get_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    clf.fit(data, verbose=0)  # the default recipe: 5 frozen + 5 fine-tuning epochs
    assert clf.evaluate(data).accuracy >= 0.7


def test_build_config_records_every_plain_option_none_included() -> None:
    clf = fk.Classifier.from_preset(
        "mobilenet_v2", class_names=["a", "b"], image_size=32, weights=None, augmentation=False
    )
    assert clf.build_config["options"] == {"weights": None}
    assert clf.build_config["image_size"] == [32, 32]
