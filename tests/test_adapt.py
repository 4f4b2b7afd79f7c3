"""The one input adapter for ``data`` (flowerkit.data.adapt): each kind each purpose accepts,
and the error every refused kind gets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from conftest import COLOURS, MakeFolder, write_colour_image
from flowerkit.data import labelled_batches
from flowerkit.data.adapt import (
    ACCEPTED,
    data_kind,
    evaluation_batches,
    representative_sample,
    training_batches,
)
from flowerkit.exceptions import ConfigError, DatasetError
from flowerkit.export.samples import representative_images
from flowerkit.images.decode import load_image
from flowerkit.training.inputs import resolve_data

SIZE = 16
NAMES = tuple(COLOURS)
PER_CLASS = 6

TRAIN_KINDS = (
    "a flowerkit Datasets (from load_datasets) or a tf.data.Dataset of (images, labels) batches"
)
EVALUATE_KINDS = (
    "a flowerkit Datasets (from load_datasets), a tf.data.Dataset of (images, labels) "
    "batches or a folder of class sub-folders"
)
REPRESENTATIVE_KINDS = (
    "a flowerkit Datasets (from load_datasets), a folder of images, a tf.data.Dataset of "
    "image batches (labels, if any, ignored) or an array (N, height, width, 3) of 0..255 "
    "pixels"
)


def _refused(argument: str, kinds: str, received: str) -> str:
    """The pattern of the one error a refused kind gets."""
    return re.escape(f"`{argument}` must be {kinds}. Received an object of type {received}.")


@pytest.fixture(scope="module")
def folder(make_folder: MakeFolder) -> Path:
    return make_folder(per_class=PER_CLASS, size=(12, 14))


@pytest.fixture(scope="module")
def data(folder: Path) -> fk.Datasets:
    return fk.load_datasets(
        folder,
        image_size=SIZE,
        batch_size=4,
        validation_split=0.2,
        test_split=0.2,
        seed=3,
        cache=False,
        check_cache=False,
    )


@pytest.fixture(scope="module")
def no_validation(folder: Path) -> fk.Datasets:
    return fk.load_datasets(
        folder, image_size=SIZE, validation_split=0, cache=False, check_cache=False
    )


@pytest.fixture(scope="module")
def pipeline() -> Any:
    import tensorflow as tf

    images = np.full((5, SIZE, SIZE, 3), 7, np.uint8)
    return tf.data.Dataset.from_tensor_slices((images, np.arange(5) % 3)).batch(2)


def _count(batches: Any) -> int:
    return sum(int(labels.shape[0]) for _, labels in batches)


# --------------------------------------------------------------------------- the table


def test_the_table_is_the_one_place_that_decides() -> None:
    assert {purpose: tuple(kinds) for purpose, kinds in ACCEPTED.items()} == {
        "train": ("datasets", "pipeline"),
        "evaluate": ("datasets", "pipeline", "folder"),
        "representative": ("datasets", "folder", "pipeline", "array"),
    }
    with pytest.raises(TypeError):
        ACCEPTED["train"]["folder"] = "a folder"  # type: ignore[index]


def test_data_kind_names_each_kind(data: fk.Datasets, folder: Path, pipeline: Any) -> None:
    assert data_kind(data, "train") == "datasets"
    assert data_kind(pipeline, "train") == "pipeline"
    assert data_kind(folder, "evaluate") == "folder"
    assert data_kind(str(folder), "evaluate") == "folder"
    assert data_kind(np.zeros((1, SIZE, SIZE, 3)), "representative") == "array"


@pytest.mark.parametrize(
    ("purpose", "kinds", "refused"),
    [
        ("train", TRAIN_KINDS, ["photos", Path("photos"), np.zeros((1, 8, 8, 3)), [1], None]),
        ("evaluate", EVALUATE_KINDS, [np.zeros((1, 8, 8, 3)), [1], 3, None]),
        ("representative", REPRESENTATIVE_KINDS, [[np.zeros((8, 8, 3))], b"\x89PNG", None]),
    ],
)
def test_every_refused_kind_gets_the_one_error(
    purpose: Any, kinds: str, refused: list[object]
) -> None:
    for value in refused:
        received = type(value).__name__
        with pytest.raises(ConfigError, match=_refused("data", kinds, received)):
            data_kind(value, purpose)
        with pytest.raises(ConfigError, match=_refused("given", kinds, received)):
            data_kind(value, purpose, argument="given")


def test_an_unknown_purpose_is_refused() -> None:
    with pytest.raises(ConfigError, match="`purpose` must be one of 'train', 'evaluate'"):
        data_kind([], "predict")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- train


def test_training_takes_datasets_and_their_validation(data: fk.Datasets, pipeline: Any) -> None:
    train, validation = training_batches(data, None, class_names=NAMES, image_size=(SIZE, SIZE))
    assert train is data.train and validation is data.validation
    train, validation = training_batches(data, pipeline, class_names=NAMES, image_size=(SIZE, SIZE))
    assert train is data.train and validation is pipeline


def test_training_takes_a_pipeline_as_it_is(pipeline: Any) -> None:
    train, validation = training_batches(
        pipeline, None, class_names=("x", "y"), image_size=(99, 99)
    )
    assert train is pipeline and validation is None
    assert training_batches(pipeline, pipeline, class_names=NAMES, image_size=(8, 8)) == (
        pipeline,
        pipeline,
    )


def test_training_refuses_datasets_of_other_classes_or_size(data: fk.Datasets) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "The data's classes ['blue', 'green', 'red'] differ from this classifier's ['a', 'b']."
        ),
    ):
        training_batches(data, None, class_names=["a", "b"], image_size=(SIZE, SIZE))
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "The data's image_size (16, 16) differs from the model's input (32, 32); load "
            "the data with image_size=(32, 32)."
        ),
    ):
        training_batches(data, None, class_names=NAMES, image_size=(32, 32))


def test_training_refuses_a_folder(folder: Path) -> None:
    with pytest.raises(ConfigError, match=_refused("data", TRAIN_KINDS, "PosixPath")):
        training_batches(folder, None, class_names=NAMES, image_size=(SIZE, SIZE))


def test_resolve_data_is_the_training_adapter(data: fk.Datasets, pipeline: Any) -> None:
    assert resolve_data(data, None, class_names=NAMES, image_size=(SIZE, SIZE)) == (
        data.train,
        data.validation,
    )
    with pytest.raises(ConfigError, match=_refused("data", TRAIN_KINDS, "list")):
        resolve_data([1, 2], None, class_names=NAMES, image_size=(SIZE, SIZE))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- evaluate


def test_evaluation_takes_a_split_of_datasets(data: fk.Datasets) -> None:
    batches, paths = evaluation_batches(data, class_names=NAMES, image_size=(SIZE, SIZE))
    assert batches is data.validation
    assert paths == [str(p) for p in data.validation_files]
    batches, paths = evaluation_batches(
        data, class_names=NAMES, image_size=(SIZE, SIZE), subset="test"
    )
    assert batches is data.test
    assert paths == [str(p) for p in data.test_files]


def test_evaluation_takes_a_pipeline_as_it_is(pipeline: Any) -> None:
    batches, paths = evaluation_batches(pipeline, class_names=NAMES, image_size=(SIZE, SIZE))
    assert batches is pipeline and paths is None


def test_evaluation_takes_every_image_of_a_folder_in_order(folder: Path) -> None:
    batches, paths = evaluation_batches(str(folder), class_names=NAMES, image_size=(SIZE, SIZE))
    assert paths is not None and len(paths) == len(NAMES) * PER_CLASS
    assert [Path(p).parent.name for p in paths] == [n for n in NAMES for _ in range(PER_CLASS)]
    images = np.concatenate([np.asarray(x) for x, _ in batches])
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    assert images.shape == (len(paths), SIZE, SIZE, 3)
    np.testing.assert_array_equal(images[-1], load_image(paths[-1], (SIZE, SIZE)))
    assert labels.tolist() == [NAMES.index(Path(p).parent.name) for p in paths]


def test_evaluation_labels_a_folder_in_the_class_order_given(folder: Path) -> None:
    order = ("red", "blue", "green")
    batches, paths = evaluation_batches(folder, class_names=order, image_size=(SIZE, SIZE))
    assert paths is not None
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    assert labels.tolist() == [order.index(Path(p).parent.name) for p in paths]


def test_evaluation_errors(data: fk.Datasets, no_validation: fk.Datasets, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="`subset` must be one of 'validation', 'test'"):
        evaluation_batches(data, class_names=NAMES, image_size=(8, 8), subset="train")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="These Datasets have no validation split"):
        evaluation_batches(no_validation, class_names=NAMES, image_size=(SIZE, SIZE))
    with pytest.raises(ConfigError, match="These Datasets have no test split"):
        evaluation_batches(no_validation, class_names=NAMES, image_size=(8, 8), subset="test")
    with pytest.raises(DatasetError):
        evaluation_batches(tmp_path / "missing", class_names=NAMES, image_size=(SIZE, SIZE))
    with pytest.raises(ConfigError, match=_refused("validation_data", EVALUATE_KINDS, "ndarray")):
        evaluation_batches(
            np.zeros((2, 8, 8, 3)),
            class_names=NAMES,
            image_size=(8, 8),
            argument="validation_data",
        )


def test_labelled_batches_is_the_evaluation_adapter(data: fk.Datasets, pipeline: Any) -> None:
    batches, paths = labelled_batches(data, class_names=NAMES, image_size=(SIZE, SIZE))
    assert batches is data.validation and paths == [str(p) for p in data.validation_files]
    assert labelled_batches(pipeline, class_names=NAMES, image_size=(SIZE, SIZE)) == (
        pipeline,
        None,
    )
    with pytest.raises(ConfigError, match=_refused("data", EVALUATE_KINDS, "int")):
        labelled_batches(3, class_names=NAMES, image_size=(SIZE, SIZE))


# --------------------------------------------------------------------------- representative


def test_representative_images_of_datasets_are_its_training_files(data: fk.Datasets) -> None:
    sample = representative_sample(data, (SIZE, SIZE), limit=100)
    assert sample.shape == (len(data.train_files), SIZE, SIZE, 3) and sample.dtype == np.uint8
    np.testing.assert_array_equal(sample[0], load_image(data.train_files[0], (SIZE, SIZE)))
    spread = representative_sample(data, (SIZE, SIZE), limit=2)
    np.testing.assert_array_equal(spread[1], load_image(data.train_files[-1], (SIZE, SIZE)))


def test_representative_images_of_any_folder_of_images(tmp_path: Path) -> None:
    write_colour_image(tmp_path / "a.png", (10, 20, 30))
    write_colour_image(tmp_path / "deeper" / "b.jpg", (200, 20, 30))
    sample = representative_sample(str(tmp_path), (SIZE, SIZE), limit=10)
    assert sample.shape == (2, SIZE, SIZE, 3) and sample.dtype == np.uint8


def test_representative_images_of_a_pipeline(pipeline: Any) -> None:
    import tensorflow as tf

    labelled = representative_sample(pipeline, (SIZE, SIZE), limit=3)
    assert labelled.shape == (3, SIZE, SIZE, 3) and labelled.dtype == np.uint8
    singles = tf.data.Dataset.from_tensor_slices(np.full((4, SIZE, SIZE, 3), 9.6, np.float32))
    sample = representative_sample(singles, (SIZE, SIZE), limit=10)
    assert sample.shape == (4, SIZE, SIZE, 3) and int(sample.max()) == 10  # rounded


def test_representative_images_of_an_array_spread_over_it() -> None:
    array = np.arange(5, dtype=np.float32)[:, None, None, None] * np.ones((1, SIZE, SIZE, 3))
    sample = representative_sample(array, (SIZE, SIZE), limit=3)
    assert sample.dtype == np.uint8 and sample[:, 0, 0, 0].tolist() == [0, 2, 4]


def test_representative_errors(tmp_path: Path) -> None:
    import tensorflow as tf

    def fails(data: object, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            representative_sample(data, (SIZE, SIZE), limit=10)

    fails(tmp_path / "none", r"`representative_data` '.*none' is not a folder\.")
    (tmp_path / "empty").mkdir()
    fails(tmp_path / "empty", r"`representative_data` '.*empty' holds no image files\.")
    fails(np.zeros((2, 8, 8, 3)), re.escape("images must have shape (N, 16, 16, 3)"))
    fails(np.zeros((0, SIZE, SIZE, 3)), re.escape("Received shape (0,)."))
    fails(np.full((1, SIZE, SIZE, 3), 256.0), "must be 0..255 pixels")
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, SIZE, SIZE, 3), np.uint8))
    fails(empty, "`representative_data` is an empty tf.data.Dataset")
    fails([1, 2], _refused("representative_data", REPRESENTATIVE_KINDS, "list"))


def test_representative_images_is_the_representative_adapter(folder: Path) -> None:
    images = representative_images(folder, (SIZE, SIZE), limit=4)
    np.testing.assert_array_equal(images, representative_sample(folder, (SIZE, SIZE), limit=4))
    with pytest.raises(
        ConfigError, match=_refused("representative_data", REPRESENTATIVE_KINDS, "int")
    ):
        representative_images(3, (SIZE, SIZE))
