"""One model description: the fields every flowerkit file shares are read by one parser,
which refuses a bad field the same way (a ``ValueError`` naming it) in a ``.keras`` model
and in an export, and the saved-model metadata round-trips the training recipe."""

from __future__ import annotations

import dataclasses
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

import flowerkit as fk
from flowerkit import artifact
from flowerkit.artifact import ModelMetadata, current_preprocessing
from flowerkit.core.description import MAX_SIDE, ModelDescription
from flowerkit.exceptions import ModelFileError, VersionMismatchWarning
from flowerkit.lite import LiteMetadata
from flowerkit.lite import read_metadata as read_lite_metadata

FIXTURES = Path(__file__).parent / "fixtures"

DESCRIPTIONS = [ModelDescription, ModelMetadata, LiteMetadata]

#: A document of the shared fields only, which every description reads.
GOOD: dict[str, Any] = {
    "class_names": ["daisy", "roses", "tulips"],
    "image_size": [32, 48],
    "preset": "tutorial",
    "outputs": "probabilities",
    "temperature": 1.5,
    "preprocessing": {"decode": "flowerkit.images.load_image", "decode_rules": "3"},
    "versions": {"flowerkit": "0.1.0"},
}

#: Bad values of the shared fields, and what the refusal says after the field's name.
BAD: list[tuple[str, Any, str]] = [
    ("class_names", 5, "must be a list of strings"),
    ("class_names", ["a", 3], "must be a list of strings"),
    ("class_names", [], "must be distinct and not empty"),
    ("class_names", ["a", "a"], "must be distinct and not empty"),
    ("class_names", None, "must be a list of strings"),
    ("image_size", "32x32", "must be [height, width] integers"),
    ("image_size", [32, 32.0], "must be [height, width] integers"),
    ("image_size", [32, True], "must be [height, width] integers"),
    ("image_size", [32], "must be [height, width] integers"),
    ("image_size", [10**12, 32], "is out of range 1..16384"),
    ("image_size", [0, 32], "is out of range"),
    ("preset", 7, "must be a string"),
    ("outputs", "scores", "must be 'logits' or 'probabilities'"),
    ("temperature", -1, "must be a positive number"),
    ("temperature", 0, "must be a positive number"),
    ("temperature", "2", "must be a positive number"),
    ("temperature", None, "must be a positive number"),
    ("temperature", float("nan"), "must be a positive number"),
    ("temperature", True, "must be a positive number"),
    ("preprocessing", ["decode"], "must be a JSON object of strings"),
    ("preprocessing", {"decode_rules": 3}, "must be a JSON object of strings"),
    ("versions", {"flowerkit": None}, "must be a JSON object of strings"),
]


def _ids(case: tuple[str, Any, str]) -> str:
    return f"{case[0]}={case[1]!r}"


# --------------------------------------------------------------------------- the parser
@pytest.mark.parametrize("kind", DESCRIPTIONS, ids=lambda k: k.__name__)
def test_every_field_has_one_reader(kind: type[ModelDescription]) -> None:
    assert set(kind.READERS) == {f.name for f in dataclasses.fields(kind)}
    for name, reader in ModelDescription.READERS.items():
        assert kind.READERS[name] is reader, f"{kind.__name__} reads {name} its own way"


@pytest.mark.parametrize("kind", DESCRIPTIONS, ids=lambda k: k.__name__)
def test_the_shared_fields_read_the_same_in_every_description(
    kind: type[ModelDescription],
) -> None:
    description = kind.from_document(GOOD)
    assert description.class_names == ("daisy", "roses", "tulips")
    assert description.image_size == (32, 48)
    assert (description.preset, description.outputs, description.temperature) == (
        "tutorial",
        "probabilities",
        1.5,
    )
    assert description.preprocessing == GOOD["preprocessing"]
    assert description.versions == {"flowerkit": "0.1.0"}
    assert ModelDescription.from_description(description) == ModelDescription.from_document(GOOD)


@pytest.mark.parametrize("kind", DESCRIPTIONS, ids=lambda k: k.__name__)
def test_a_description_round_trips_through_its_document(kind: type[ModelDescription]) -> None:
    description = kind.from_document({**GOOD, "exported_at": "2026-01-01T00:00:00+00:00"})
    document = json.loads(json.dumps(description.to_document()))
    assert kind.from_document(document) == description


@pytest.mark.parametrize("kind", DESCRIPTIONS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("case", BAD, ids=_ids)
def test_a_bad_field_is_refused_naming_it(
    kind: type[ModelDescription], case: tuple[str, Any, str]
) -> None:
    name, value, cause = case
    with pytest.raises(ValueError) as caught:
        kind.from_document({**GOOD, name: value})
    message = str(caught.value)
    assert message.startswith(f"{name} ") and cause in message, message


@pytest.mark.parametrize("kind", DESCRIPTIONS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("name", ["class_names", "image_size"])
def test_a_missing_required_field_is_named(kind: type[ModelDescription], name: str) -> None:
    document = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(ValueError, match=rf"^{name} is missing$"):
        kind.from_document(document)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        ModelDescription.from_document(["class_names"])  # type: ignore[arg-type]


def test_missing_fields_take_each_documents_defaults() -> None:
    """As each reader did before there was one: a saved model says logits and this
    flowerkit's decoding, an export says probabilities and records no decoding."""
    minimal = {"class_names": ["a", "b"], "image_size": [8, 8]}
    nothings: list[dict[str, Any]] = [{}, {"outputs": None, "preprocessing": None}]
    for nothing in [*nothings, {"preprocessing": {}}]:
        saved = ModelMetadata.from_document({**minimal, **nothing})
        exported = LiteMetadata.from_document({**minimal, **nothing})
        assert (saved.outputs, saved.preprocessing) == ("logits", current_preprocessing())
        assert (exported.outputs, exported.preprocessing) == ("probabilities", {})
        assert saved.temperature == exported.temperature == 1.0
        assert saved.preset is exported.preset is None


def test_unknown_fields_are_ignored() -> None:
    description = ModelDescription.from_document({**GOOD, "from_the_future": [1, 2]})
    assert description == ModelDescription.from_document(GOOD)


def test_the_training_fields_read_as_before() -> None:
    document = {
        **GOOD,
        "history": {"loss": [1, 0.5]},
        "calibration": [1, 2],  # not an object: dropped, as flowerkit always read it
        "metrics": {"loss": 0.5},
        "scheduled_learning_rate": "fast",  # not a number: no schedule
    }
    metadata = ModelMetadata.from_document(document)
    assert metadata.history == {"loss": [1.0, 0.5]}
    assert (metadata.calibration, metadata.metrics) == ({}, {"loss": 0.5})
    assert metadata.scheduled_learning_rate is None
    with pytest.raises(ValueError, match=r"^history: AttributeError"):
        ModelMetadata.from_document({**GOOD, "history": [1, 2]})
    with pytest.raises(ValueError, match=r"^history: ValueError"):
        ModelMetadata.from_document({**GOOD, "history": {"loss": ["low"]}})


def test_the_committed_fixture_reads_as_it_always_did() -> None:
    with zipfile.ZipFile(FIXTURES / "compact_v0.keras") as archive:
        document = json.loads(archive.read(artifact.METADATA_NAME))
    metadata = ModelMetadata.from_document(document)
    assert metadata.class_names == ("blue", "green", "red")
    assert (metadata.image_size, metadata.preset, metadata.outputs) == (
        (32, 32),
        "compact",
        "logits",
    )
    assert metadata.temperature == document["temperature"]
    assert metadata.preprocessing == document["preprocessing"]  # no decode_rules: rules 1
    assert metadata.scheduled_learning_rate == 0.003
    assert metadata.recipe is None  # saved before recipes were recorded
    assert metadata.build_config == document["build_config"]


def test_image_sizes_up_to_the_limit_are_read() -> None:
    document = {**GOOD, "image_size": [MAX_SIDE, 1]}
    assert ModelDescription.from_document(document).image_size == (MAX_SIDE, 1)


# --------------------------------------------------------------------------- the recipe
def test_the_recipe_round_trips() -> None:
    recipe = fk.TrainingRecipe(learning_rate=2e-3, schedule="cosine", fine_tune_layers=None)
    metadata = ModelMetadata(
        class_names=("a", "b"), image_size=(8, 8), recipe=dataclasses.asdict(recipe)
    )
    document = json.loads(json.dumps(metadata.to_document()))
    assert document["recipe"] == dataclasses.asdict(recipe)
    read = ModelMetadata.from_document(document)
    assert read == metadata
    assert read.recipe is not None and fk.TrainingRecipe(**read.recipe) == recipe


def test_a_model_without_a_recipe_reads_none() -> None:
    document = ModelMetadata(class_names=("a", "b"), image_size=(8, 8)).to_document()
    assert document["recipe"] is None
    assert ModelMetadata.from_document(document).recipe is None
    del document["recipe"]
    assert ModelMetadata.from_document(document).recipe is None


@pytest.mark.parametrize("recipe", [["adam"], "adam", 3, {1: "adam"}], ids=repr)
def test_a_recipe_that_is_not_an_object_is_refused(recipe: Any) -> None:
    with pytest.raises(ValueError, match=r"^recipe must be a JSON object with string keys"):
        ModelMetadata.from_document({**GOOD, "recipe": recipe})


def test_unknown_recipe_keys_are_kept_for_the_caller() -> None:
    metadata = ModelMetadata.from_document({**GOOD, "recipe": {"optimizer": "adam", "new": 1}})
    assert metadata.recipe == {"optimizer": "adam", "new": 1}


def test_a_saved_model_keeps_its_recipe(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inputs))
    recipe = dataclasses.asdict(fk.TrainingRecipe(epochs=3))
    metadata = ModelMetadata.now(class_names=("a", "b"), image_size=(8, 8), recipe=recipe)
    path = artifact.write(keras.Model(inputs, outputs), metadata, tmp_path / "m")
    _, read = artifact.read(path)
    assert read.recipe == recipe
    assert read == metadata


# --------------------------------------------------------------------------- both readers
KERAS_HEADER = {"format": "flowerkit.model", "format_version": 1}
TFLITE_HEADER = {"format": "flowerkit.tflite", "format_version": 1}


def _keras_file(path: Path, document: dict[str, Any]) -> Path:
    """A ``.keras`` file whose metadata is refused before the model is looked at."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(artifact.METADATA_NAME, json.dumps(document))
    return path


def _tflite_file(path: Path, document: dict[str, Any]) -> Path:
    path.write_bytes(b"\0" * 16)  # where the flatbuffer would be
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("flowerkit.json", json.dumps(document))
    return path


def _refusals(tmp_path: Path, document: dict[str, Any]) -> tuple[str, str]:
    """What the ``.keras`` and the ``.tflite`` reader say of ``document``, after the path."""
    keras_file = _keras_file(tmp_path / "m.keras", {**KERAS_HEADER, **document})
    tflite_file = _tflite_file(tmp_path / "m.tflite", {**TFLITE_HEADER, **document})
    with pytest.raises(ModelFileError) as from_keras:
        artifact.read(keras_file)
    with pytest.raises(ModelFileError) as from_tflite:
        read_lite_metadata(tflite_file)
    return (
        str(from_keras.value).removeprefix(repr(str(keras_file))),
        str(from_tflite.value).removeprefix(repr(str(tflite_file))),
    )


@pytest.mark.parametrize("case", BAD, ids=_ids)
def test_both_readers_refuse_a_bad_field_the_same_way(
    tmp_path: Path, case: tuple[str, Any, str]
) -> None:
    name, value, cause = case
    from_keras, from_tflite = _refusals(tmp_path, {**GOOD, name: value})
    assert from_keras == from_tflite
    assert from_keras.startswith(f" has damaged flowerkit metadata: {name} "), from_keras
    assert cause in from_keras


def test_both_readers_name_a_missing_field(tmp_path: Path) -> None:
    document = {k: v for k, v in GOOD.items() if k != "image_size"}
    assert (
        _refusals(tmp_path, document)
        == (" has damaged flowerkit metadata: image_size is missing",) * 2
    )


def test_both_readers_read_the_good_document_alike(tmp_path: Path) -> None:
    tflite_file = _tflite_file(tmp_path / "m.tflite", {**TFLITE_HEADER, **GOOD})
    keras_file = _keras_file(tmp_path / "m.keras", {**KERAS_HEADER, **GOOD})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)  # whatever rules these are
        exported = read_lite_metadata(tflite_file)
    saved = ModelMetadata.from_document(artifact.read_metadata(keras_file))
    assert ModelDescription.from_description(exported) == ModelDescription.from_description(saved)
