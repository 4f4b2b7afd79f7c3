"""The frozen phase on features (flowerkit.training.features): where a model splits, that
training the head on features is training the model, and the checkpoints, resume and disk
rule around it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import flowerkit as fk
from flowerkit.training import callbacks as cb
from flowerkit.training import features
from flowerkit.training.features import split_frozen


def _transfer_model(*, augment: bool = False, dropout: float = 0.0, size: int = 16) -> Any:
    backbone = keras.Sequential(
        [keras.Input((size, size, 3)), keras.layers.Conv2D(4, 3), keras.layers.Conv2D(6, 3)],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((size, size, 3))
    x = keras.layers.RandomFlip("horizontal", seed=1)(inputs) if augment else inputs
    x = keras.layers.Rescaling(1 / 255)(x)
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _assert_same_outputs(model: Any, stem: Any, head: Any) -> None:
    """The head on the stem's features gives the model's output."""
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(
        head(stem(images, training=False)).numpy(),
        model(images, training=False).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_split_at_the_frozen_backbone_shares_the_head() -> None:
    model = _transfer_model(augment=True, dropout=0.2)
    split = split_frozen(model)
    assert split is not None
    stem, head = split
    assert stem.output.shape == (None, 6)  # pooled: the pooling joined the stem
    assert not stem.trainable_weights
    assert [id(v) for v in head.trainable_variables] == [id(v) for v in model.trainable_variables]
    _assert_same_outputs(model, stem, head)


def _residual_backbone(size: int = 16) -> Any:
    """a = conv_a(x); b = relu(conv_b(a)); c = a + conv_c(b); out = conv_d(c)."""
    layers = keras.layers
    inputs = keras.Input((size, size, 3))
    a = layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    b = layers.ReLU(name="relu_b")(layers.Conv2D(4, 3, padding="same", name="conv_b")(a))
    c = layers.Add(name="add")([a, layers.Conv2D(4, 3, padding="same", name="conv_c")(b)])
    return keras.Model(inputs, layers.Conv2D(5, 1, name="conv_d")(c), name="backbone")


def _fine_tuning_model(trainable: tuple[str, ...], *, augment: bool = True) -> Any:
    backbone = _residual_backbone()
    for layer in backbone.layers:
        layer.trainable = layer.name in trainable
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.RandomFlip("horizontal", seed=1)(inputs) if augment else inputs
    x = backbone(keras.layers.Rescaling(1 / 255)(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


@pytest.mark.parametrize(
    ("trainable", "features"),
    [(("conv_d",), (16, 16, 4)), (("conv_b", "conv_c", "conv_d"), (16, 16, 4))],
)
def test_fine_tuning_splits_where_the_frozen_part_of_the_backbone_ends(
    trainable: tuple[str, ...], features: tuple[int, ...]
) -> None:
    model = _fine_tuning_model(trainable)
    split = split_frozen(model)
    assert split is not None
    stem, head = split
    assert stem.output.shape == (None, *features)  # the add's output, or conv_a's
    assert not stem.trainable_weights
    assert {id(v) for v in head.trainable_variables} == {id(v) for v in model.trainable_variables}
    _assert_same_outputs(model, stem, head)


def test_no_split_across_a_residual_connection_or_with_nothing_frozen() -> None:
    # conv_c learns: it reads b, and the add reads a: two tensors cross the boundary.
    assert split_frozen(_fine_tuning_model(("conv_c", "conv_d"))) is None
    everything = ("conv_a", "conv_b", "conv_c", "conv_d")
    assert split_frozen(_fine_tuning_model(everything)) is None  # nothing to run once


def test_no_split_where_it_would_change_the_model() -> None:
    model = _transfer_model()
    model.get_layer("backbone").trainable = True
    assert split_frozen(model) is None  # the backbone learns
    layers = keras.layers
    plain = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(), layers.Dense(2)])
    assert split_frozen(plain) is None  # no backbone
    backbone = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(2, 3)], name="backbone")
    backbone.trainable = False
    inputs = keras.Input((8, 8, 3))
    before = keras.layers.Conv2D(3, 1)(inputs)  # learns before the backbone
    pooled = keras.layers.GlobalAveragePooling2D()(backbone(before))
    assert split_frozen(keras.Model(inputs, keras.layers.Dense(2)(pooled))) is None
    side = keras.layers.GlobalAveragePooling2D()(inputs)  # the head also reads the image
    pooled = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    joined = keras.layers.Concatenate()([pooled, side])
    assert split_frozen(keras.Model(inputs, keras.layers.Dense(2)(joined))) is None


def _fit(
    model: Any,
    data: fk.Datasets,
    *,
    on_features: bool,
    epochs: int = 3,
    **options: Any,
) -> fk.Classifier:
    recipe = replace(fk.TrainingRecipe(learning_rate=0.05), frozen_features=on_features)
    clf = fk.Classifier(model, data.class_names, recipe=recipe)
    clf.fit(data, epochs=epochs, seed=3, verbose=0, **options)
    return clf


@pytest.fixture(scope="module")
def one_batch(make_folder: Any) -> fk.Datasets:
    """18 training photos in one batch: the order of a batch cannot change a step."""
    folder = make_folder(per_class=8, size=(16, 16))
    return fk.load_datasets(folder, image_size=16, batch_size=32, seed=2, validation_split=0.25)


def test_training_on_features_is_training_the_model(one_batch: fk.Datasets) -> None:
    keras.utils.set_random_seed(5)
    model = _transfer_model()
    start = model.get_weights()
    on_images = _fit(model, one_batch, on_features=False)
    keras.utils.set_random_seed(5)
    twin = _transfer_model()
    twin.set_weights(start)
    on_features = _fit(twin, one_batch, on_features=True)
    for a, b in zip(on_images.model.get_weights(), on_features.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert on_features.history_.keys() == on_images.history_.keys()
    np.testing.assert_allclose(
        on_features.history_["val_loss"], on_images.history_["val_loss"], rtol=1e-4
    )
    assert not any((Path(fk.data.default_cache_dir()) / "features").glob("*"))


def test_fine_tuning_on_features_is_fine_tuning_the_model(one_batch: fk.Datasets) -> None:
    """A frozen phase, then fine-tuning the backbone's top (conv_d) on the features of
    the frozen part below it: the same weights as both phases on the images."""

    def fit(on_features: bool) -> fk.Classifier:
        keras.utils.set_random_seed(5)
        model = _fine_tuning_model(("conv_a", "conv_b", "conv_c", "conv_d"), augment=False)
        model.get_layer("backbone").trainable = False
        recipe = fk.TrainingRecipe(
            learning_rate=0.05,
            epochs=2,
            fine_tune_epochs=2,
            fine_tune_layers=1,
            frozen_features=on_features,
        )
        clf = fk.Classifier(model, one_batch.class_names, recipe=recipe)
        clf.fit(one_batch, seed=3, verbose=0, calibrate=False)
        return clf

    extracted: list[tuple[int, ...]] = []
    real_extract = features.extract

    def counting(stem: Any, *datasets: Any) -> Any:
        extracted.append(tuple(stem.output.shape[1:]))
        return real_extract(stem, *datasets)

    on_images = fit(False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features, "extract", counting)
        on_features = fit(True)
    assert extracted == [(5,), (16, 16, 4)]  # pooled backbone output, then the add's output
    assert len(on_features.history_["loss"]) == 4
    for a, b in zip(on_images.model.get_weights(), on_features.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_features_beyond_the_memory_rule_go_to_a_file_and_are_removed(
    one_batch: fk.Datasets, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras.utils.set_random_seed(5)
    model = _transfer_model()
    start = model.get_weights()
    in_memory = _fit(model, one_batch, on_features=True)
    seen: list[Path] = []
    real_stack = features._stack

    def stack(chunks: Any, folder: Path, files: list[Path]) -> Any:
        out = real_stack(chunks, folder, files)
        seen.extend(files)
        assert isinstance(out, np.memmap)
        return out

    monkeypatch.setattr("flowerkit.core.memory.memory_budget", lambda: 0)
    monkeypatch.setattr(features, "_stack", stack)
    twin = _transfer_model()
    twin.set_weights(start)
    on_disk = _fit(twin, one_batch, on_features=True)
    assert seen and not any(path.exists() for path in seen)
    for a, b in zip(in_memory.model.get_weights(), on_disk.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_a_run_on_features_checkpoints_the_whole_model_and_resumes_exactly(
    make_folder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several batches an epoch (so the order matters) and augmentation in the model: a
    run killed after its second epoch resumes to the uninterrupted run's weights, and its
    checkpoints hold the whole model. (No dropout: a resumed run draws new masks.)"""
    folder = make_folder(per_class=10, size=(16, 16))

    def data() -> fk.Datasets:  # as a new process loads it (a pipeline's orders go on)
        return fk.load_datasets(folder, image_size=16, batch_size=4, seed=2)

    keras.utils.set_random_seed(5)
    start = _transfer_model(augment=True).get_weights()

    def fresh() -> Any:
        model = _transfer_model(augment=True)
        model.set_weights(start)
        return model

    whole = _fit(fresh(), data(), on_features=True, epochs=4)
    real_write = cb.write_checkpoint
    written: list[int] = []

    def write(folder: Path, model: Any, **state: Any) -> Any:
        assert len(model.weights) == len(whole.model.weights)  # the whole model
        out = real_write(folder, model, **state)
        written.append(state["epochs_done"])
        if state["epochs_done"] == 2:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(cb, "write_checkpoint", write)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        _fit(fresh(), data(), on_features=True, epochs=4, checkpoint_dir=ckpt)
    monkeypatch.setattr(cb, "write_checkpoint", real_write)
    resumed = _fit(fresh(), data(), on_features=True, epochs=4, checkpoint_dir=ckpt)
    assert written == [1, 2]
    assert len(resumed.history_["loss"]) == 4
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_transfer_recipe_trains_its_frozen_phase_on_features(
    tiny_transfer: str, make_folder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fit() of a transfer preset runs the backbone over the images once in its frozen
    phase (not once an epoch), then fine-tunes on the images; a user's callback keeps
    the whole phase on images (it would otherwise see the head)."""
    folder = make_folder(per_class=6, size=(16, 16))
    data = fk.load_datasets(folder, image_size=16, batch_size=8, seed=2)
    extracted: list[int] = []
    real_extract = features.extract

    def counting(stem: Any, *datasets: Any) -> Any:
        extracted.append(len(datasets))
        return real_extract(stem, *datasets)

    monkeypatch.setattr(features, "extract", counting)
    clf = fk.Classifier.from_preset(
        tiny_transfer, class_names=data.class_names, image_size=16, seed=1
    )
    clf.fit(data, epochs=3, fine_tune_epochs=1, verbose=0)
    assert extracted == [2]  # train and validation, once
    assert len(clf.history_["loss"]) == 4
    extracted.clear()
    clf = fk.Classifier.from_preset(
        tiny_transfer, class_names=data.class_names, image_size=16, seed=1
    )
    clf.fit(data, epochs=2, fine_tune_epochs=0, callbacks=[keras.callbacks.History()], verbose=0)
    assert extracted == []


def test_mobilenet_v2_fine_tunes_on_the_output_of_its_frozen_blocks() -> None:
    """The recipe's fine_tune_layers end the frozen part at a block boundary, so its
    fine-tuning phase trains on features too (a residual connection across the boundary
    would leave no split)."""
    from flowerkit.training.finetune import unfreeze

    clf = fk.Classifier.from_preset(
        "mobilenet_v2", class_names=["a", "b"], image_size=64, weights=None, seed=1
    )
    unfreeze(clf.model, clf.recipe.fine_tune_layers)
    split = split_frozen(clf.model)
    assert split is not None
    assert split[0].output.shape == (None, 4, 4, 96)  # block 10's output at 64x64
    unfreeze(clf.model, clf.recipe.fine_tune_layers - 2)  # inside block 11: no split
    assert split_frozen(clf.model) is None
