"""Model files: a damaged, foreign or hostile ``.keras`` file is refused with
``ModelFileError`` naming the file and the cause, and loading never runs code from it."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowerkit as fk
from flowerkit import ModelFileError
from flowerkit.artifact import METADATA_NAME, ModelMetadata, read_metadata


@pytest.fixture(scope="module")
def saved(trained: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    clf, _ = trained
    path: Path = clf.save(tmp_path_factory.mktemp("saved") / "m.keras")
    return path


def _rewrite(source: Path, target: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of the zip ``source`` with each entry's bytes passed through ``change``
    (``None`` drops the entry)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)
    return target


def _with_metadata(saved: Path, target: Path, document: object) -> Path:
    text = json.dumps(document).encode()
    return _rewrite(saved, target, lambda name, data: text if name == METADATA_NAME else data)


def _document(saved: Path) -> dict[str, Any]:
    with zipfile.ZipFile(saved) as archive:
        document: dict[str, Any] = json.loads(archive.read(METADATA_NAME))
    return document


def test_truncated_and_corrupted_files_are_refused(saved: Path, tmp_path: Path) -> None:
    data = saved.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"truncated\.keras"):
        fk.Classifier.load(truncated)
    corrupted = tmp_path / "corrupted.keras"

    def flip(name: str, content: bytes) -> bytes:
        if not name.endswith(".h5"):
            return content
        middle = bytearray(content)
        for i in range(len(middle) // 2, len(middle) // 2 + 64):
            middle[i] ^= 0xFF
        return bytes(middle)

    _rewrite(saved, corrupted, flip)  # valid CRCs: only the saved checksums tell
    with pytest.raises(ModelFileError, match=r"corrupted.keras.* is corrupted: its entry"):
        fk.Classifier.load(corrupted)
    missing = _rewrite(
        saved, tmp_path / "no-weights.keras", lambda n, d: None if n.endswith(".h5") else d
    )
    with pytest.raises(ModelFileError, match=r"no-weights\.keras"):
        fk.Classifier.load(missing)


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ({"class_names": 5}, "class_names must be a list"),
        ({"class_names": []}, "not empty"),
        ({"class_names": ["a", "a", "b"]}, "distinct"),
        ({"image_size": "32x32"}, "image_size must be"),
        ({"image_size": [10**12, 32]}, "out of range"),
        ({"history": [1, 2]}, "AttributeError"),
        ({"temperature": -1}, "temperature"),
        ({"outputs": "scores"}, "outputs"),
        ({"format_version": "one"}, "format_version"),
        ({"format_version": 2}, "newer than this flowerkit understands"),
        ({"class_names": ["a", "b"]}, "does not hold together"),  # the model has 3 outputs
    ],
)
def test_mangled_metadata_is_refused_with_its_cause(
    saved: Path, tmp_path: Path, change: dict[str, Any], cause: str
) -> None:
    path = _with_metadata(saved, tmp_path / "m.keras", {**_document(saved), **change})
    with pytest.raises(ModelFileError, match=cause) as caught:
        fk.Classifier.load(path)
    assert str(path) in str(caught.value)


def test_the_saved_format_carries_its_version(saved: Path) -> None:
    document = _document(saved)
    assert (document["format"], document["format_version"]) == ("flowerkit.model", 1)


def _lambda_model(marker: Path) -> Any:
    import keras

    # A Python lambda: Keras stores its bytecode, which runs when the model is rebuilt.
    touch = keras.layers.Lambda(
        lambda x, path: (open(path, "w").close(), x)[1], arguments={"path": str(marker)}
    )
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(touch(inputs)))
    return keras.Model(inputs, outputs)


def _as_flowerkit_file(model: Any, saved: Path, target: Path) -> Path:
    plain = target.with_name("plain.keras")
    model.save(plain)
    document = {k: v for k, v in _document(saved).items() if k != "checksums"}
    with zipfile.ZipFile(plain, "a") as archive:  # as a hand-made file would have it
        archive.writestr(METADATA_NAME, json.dumps(document))
    plain.rename(target)
    return target


def test_a_lambda_layer_is_refused_without_running_its_code(saved: Path, tmp_path: Path) -> None:
    import keras

    marker = tmp_path / "code-ran"
    model = _lambda_model(marker)
    marker.unlink()  # building the model ran it once
    path = _as_flowerkit_file(model, saved, tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match="Lambda layer") as caught:
        fk.Classifier.load(path)
    assert "lambda.keras" in str(caught.value)
    assert not marker.exists(), "loading ran code from the file"
    # The marker is real: loading the same file with Keras' safe mode off runs the code.
    keras.saving.load_model(path, safe_mode=False)
    assert marker.exists()


def test_a_config_that_calls_a_function_is_refused(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"

    def hostile(name: str, data: bytes) -> bytes:
        if name != "config.json":
            return data
        config = json.loads(data)
        layer = config["config"]["layers"][1]  # the first layer after the input
        layer["config"]["activation"] = {
            "module": "builtins",
            "class_name": "function",
            "config": "exec",
            "registered_name": "function",
        }
        layer["config"]["name"] = f"open({str(marker)!r}, 'w')"
        return json.dumps(config).encode()

    path = _rewrite(saved, tmp_path / "hostile.keras", hostile)
    with pytest.raises(ModelFileError, match=r"hostile\.keras"):
        fk.Classifier.load(path)
    assert not marker.exists()


def test_an_unregistered_class_is_refused_with_what_to_do(saved: Path, tmp_path: Path) -> None:
    import keras

    @keras.saving.register_keras_serializable(package="flowerkit_test_files")
    class Doubler(keras.layers.Layer):  # type: ignore[misc]
        def call(self, x: Any) -> Any:
            return x * 2

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(Doubler()(inputs)))
    path = _as_flowerkit_file(keras.Model(inputs, outputs), saved, tmp_path / "custom.keras")
    del keras.saving.get_custom_objects()["flowerkit_test_files>Doubler"]
    with pytest.raises(ModelFileError, match="not registered in this process") as caught:
        fk.Classifier.load(path)
    assert "custom.keras" in str(caught.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    [
        "class_names",
        "image_size",
        "preset",
        "outputs",
        "temperature",
        "calibration",
        "history",
        "metrics",
        "build_config",
        "scheduled_learning_rate",
        "preprocessing",
        "versions",
        "saved_at",
        "format_version",
    ]
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.dictionaries(_FIELDS, _JSON, min_size=1, max_size=4))
def test_fuzzed_metadata_is_read_or_refused_as_model_file_error(
    saved: Path, tmp_path: Path, changes: dict[str, Any]
) -> None:
    """Every mutation of flowerkit.json either reads as metadata or is a ModelFileError."""
    path = _with_metadata(saved, tmp_path / "fuzzed.keras", {**_document(saved), **changes})
    try:
        document = read_metadata(path)
        metadata = ModelMetadata.from_document(document)
    except ModelFileError:
        return
    except ValueError:  # from_document's refusal, which load turns into ModelFileError
        return
    assert metadata.class_names and all(0 < side <= 16_384 for side in metadata.image_size)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048))
def test_fuzzed_metadata_bytes_never_escape_as_another_error(
    saved: Path, tmp_path: Path, data: bytes
) -> None:
    path = _rewrite(
        saved, tmp_path / "bytes.keras", lambda name, d: data if name == METADATA_NAME else d
    )
    with pytest.raises(ModelFileError):
        read_metadata(path)


@pytest.mark.slow
@settings(
    max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.dictionaries(_FIELDS, _JSON, min_size=1, max_size=6))
def test_fuzzed_metadata_longer_run(saved: Path, tmp_path: Path, changes: dict[str, Any]) -> None:
    test_fuzzed_metadata_is_read_or_refused_as_model_file_error.hypothesis.inner_test(  # type: ignore[attr-defined]
        saved, tmp_path, changes
    )


def test_a_loaded_model_still_predicts(saved: Path) -> None:
    clf = fk.Classifier.load(saved)
    probabilities = clf.predict_proba(np.zeros((1, 32, 32, 3), np.uint8))
    assert probabilities.shape == (1, 3)


def test_the_lite_reader_sends_a_saved_keras_model_to_classifier_load(saved: Path) -> None:
    from flowerkit.lite import read_metadata as read_lite_metadata

    with pytest.raises(ModelFileError, match=r"is a saved Keras model .*Classifier\.load"):
        read_lite_metadata(saved)


def test_the_lite_reader_refuses_metadata_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowerkit import artifact
    from flowerkit.lite import read_metadata as read_lite_metadata

    path = tmp_path / "m.tflite"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_NAME, json.dumps({"format": "flowerkit.tflite", "pad": "x" * 99}))
    monkeypatch.setattr(artifact, "MAX_METADATA_BYTES", 64)
    with pytest.raises(ModelFileError, match=r"claims \d+ bytes, more than the 64"):
        read_lite_metadata(path)
