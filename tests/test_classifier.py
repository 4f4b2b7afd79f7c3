"""Classifier: fit, predict on every input kind, evaluate, save/load, errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import flowerkit as fk
from flowerkit.exceptions import ConfigError, ModelFileError, NotFittedError, UnreadableImageError
from flowerkit.images.decode import load_image


def test_short_fit_learns_easy_colour_classes(trained: tuple[Any, Any]) -> None:
    clf, _ = trained
    assert clf.history_["val_accuracy"][-1] > 0.9
    assert len(clf.history_["loss"]) == 8
    assert clf.metrics_["val_accuracy"] == clf.history_["val_accuracy"][-1]


def test_predict_every_input_kind_agrees(trained: tuple[Any, Any]) -> None:
    clf, data = trained
    path = data.validation_files[0]
    expected = clf.predict(path)[0]
    raw = path.read_bytes()
    pil = Image.open(io.BytesIO(raw))
    arr = np.asarray(pil.convert("RGB"))
    variants: list[Any] = [str(path), [path], raw, pil, arr, arr.astype("float32"), arr[None]]
    for variant in variants:
        got = clf.predict(variant)
        assert len(got) == 1
        assert got[0].label == expected.label
        assert got[0].confidence == pytest.approx(expected.confidence, abs=1e-6)
    folder_preds = clf.predict(path.parent)
    assert len(folder_preds) == len(list(path.parent.iterdir()))


def test_prediction_fields(trained: tuple[Any, Any]) -> None:
    clf, data = trained
    p = clf.predict(data.validation_files[0], top_k=2)[0]
    assert p.label in clf.class_names and clf.class_names[p.index] == p.label
    assert set(p.probabilities) == set(clf.class_names)
    assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert len(p.top_k) == 2 and p.top_k[0] == (p.label, p.confidence)
    assert p.top_k[0][1] >= p.top_k[1][1]
    assert json.loads(clf.predict(data.validation_files[:2]).to_json())["schema_version"] == 1


def test_predict_matches_pipeline_predictions(trained: tuple[Any, Any]) -> None:
    """Same probabilities whether the image came through tf.data or through predict()."""
    clf, data = trained
    images, _ = next(iter(data.validation))
    via_pipeline = clf.predict_proba(images.numpy())
    via_paths = np.array(
        [
            [p.probabilities[c] for c in clf.class_names]
            for p in clf.predict(list(data.validation_files[: len(images)]))
        ]
    )
    np.testing.assert_allclose(via_paths, via_pipeline, atol=1e-6)


def test_predict_bad_files(trained: tuple[Any, Any], tmp_path: Path) -> None:
    clf, data = trained
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(UnreadableImageError, match=r"broken\.jpg") as info:
        clf.predict([data.validation_files[0], bad])
    assert info.value.path == bad and info.value.reason == "not_an_image"
    got = clf.predict([data.validation_files[0], bad], errors="skip")
    assert len(got) == 1 and [f.source for f in got.failures] == [str(bad)]
    with pytest.raises(ConfigError, match="errors"):
        clf.predict(bad, errors="ignore")  # type: ignore[arg-type]


def test_predict_rejects_bad_arrays(trained: tuple[Any, Any]) -> None:
    clf, _ = trained
    with pytest.raises(ConfigError, match=r"0\.\.255"):
        clf.predict(np.full((8, 8, 3), 300.0))
    with pytest.raises(ConfigError, match="shape"):
        clf.predict(np.zeros((8, 8, 5)))
    with pytest.raises(ConfigError, match="type"):
        clf.predict(12345)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no images"):
        clf.predict([])


def test_save_load_round_trip_in_a_fresh_process(trained: tuple[Any, Any], tmp_path: Path) -> None:
    clf, data = trained
    files = [str(p) for p in data.validation_files[:6]]
    path = clf.save(tmp_path / "model")
    assert path.name == "model.keras"
    here = [[p.probabilities[c] for c in clf.class_names] for p in clf.predict(files)]
    code = (
        "import json, sys, flowerkit as fk\n"
        f"clf = fk.Classifier.load({str(path)!r})\n"
        f"preds = clf.predict({files!r})\n"
        "print(json.dumps({'classes': list(clf.class_names), 'size': clf.image_size,"
        " 'history': clf.history_,"
        " 'p': [[p.probabilities[c] for c in clf.class_names] for p in preds]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    there = json.loads(out.stdout.strip().splitlines()[-1])
    assert there["classes"] == list(clf.class_names)
    assert tuple(there["size"]) == clf.image_size
    assert there["history"] == clf.history_
    np.testing.assert_allclose(np.array(there["p"]), np.array(here), atol=1e-6)


def test_saved_artifact_is_self_describing(trained: tuple[Any, Any], tmp_path: Path) -> None:
    import zipfile

    import keras

    clf, _ = trained
    path = clf.save(tmp_path / "m.keras")
    meta = json.loads(zipfile.ZipFile(path).read("flowerkit.json"))
    assert meta["class_names"] == list(clf.class_names)
    assert meta["image_size"] == [32, 32]
    assert meta["preset"] == "tutorial"
    assert set(meta["versions"]) >= {"flowerkit", "tensorflow", "keras"}
    assert meta["history"]["val_accuracy"] == clf.history_["val_accuracy"]
    assert meta["preprocessing"]["decode"] == "flowerkit.images.load_image"
    # Plain Keras opens it too, in safe mode.
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert model.count_params() == clf.model.count_params()
    assert not list(tmp_path.glob(".*"))  # the atomic save left no temporary file
    plain_file = tmp_path / "plain.txt"
    plain_file.write_text("x")
    assert path.stat().st_mode & 0o777 == plain_file.stat().st_mode & 0o777


def test_not_fitted_errors(colour_folder: Path, tmp_path: Path) -> None:
    clf = fk.Classifier.from_preset("tutorial", class_names=["a", "b", "c"], image_size=16)
    for call in (
        lambda: clf.predict(np.zeros((16, 16, 3), np.uint8)),
        lambda: clf.evaluate(colour_folder),
        lambda: clf.save(tmp_path / "x.keras"),
    ):
        with pytest.raises(NotFittedError, match="fit"):
            call()
    assert issubclass(NotFittedError, RuntimeError)


def test_wrapping_a_trained_keras_model(trained: tuple[Any, Any]) -> None:
    clf, data = trained
    wrapped = fk.Classifier(clf.model, clf.class_names, trained=True)
    assert (
        wrapped.predict(data.validation_files[0])[0].label
        == clf.predict(data.validation_files[0])[0].label
    )


def test_constructor_errors(trained: tuple[Any, Any]) -> None:
    import keras

    clf, _ = trained
    with pytest.raises(ConfigError, match="3 outputs but 2"):
        fk.Classifier(clf.model, ["a", "b"])
    with pytest.raises(ConfigError, match=r"keras\.Model"):
        fk.Classifier("model", ["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="repeat"):
        fk.Classifier(clf.model, ["a", "a", "b"])
    inputs = keras.Input((None, None, 3))
    free = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inputs)))
    with pytest.raises(ConfigError, match="fixed size"):
        fk.Classifier(free, ["a", "b"])


def test_fit_rejects_mismatched_data(trained: tuple[Any, Any], colour_folder: Path) -> None:
    clf, data = trained
    other = fk.Classifier.from_preset("tutorial", class_names=["x", "y", "z"], image_size=32)
    with pytest.raises(ConfigError, match="classes"):
        other.fit(data, epochs=1)
    wrong_size = fk.load_datasets(colour_folder, image_size=24)
    with pytest.raises(ConfigError, match="image_size"):
        clf.fit(wrong_size, epochs=1)
    with pytest.raises(ConfigError, match="data"):
        clf.fit([1, 2, 3], epochs=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="class_weight"):
        clf.fit(data, epochs=1, class_weight="weird")  # type: ignore[arg-type]


def test_fit_on_a_user_tf_data_pipeline(colour_folder: Path) -> None:
    import tensorflow as tf

    files = sorted(colour_folder.glob("*/*.png"))
    names = sorted({p.parent.name for p in files})
    images = np.stack([load_image(p, (16, 16)) for p in files])
    labels = np.array([names.index(p.parent.name) for p in files], np.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(100, seed=1).batch(16)
    clf = fk.Classifier.from_preset("tutorial", class_names=names, image_size=16, seed=2)
    history = clf.fit(ds, epochs=2, class_weight="balanced", verbose=0).history
    assert len(history["loss"]) == 2 and "val_loss" not in history


def test_load_errors(tmp_path: Path, trained: tuple[Any, Any]) -> None:
    import keras

    with pytest.raises(ModelFileError, match="No saved model"):
        fk.Classifier.load(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match=r"not a \.keras"):
        fk.Classifier.load(junk)
    plain = tmp_path / "plain.keras"
    trained[0].model.save(plain)
    with pytest.raises(ModelFileError, match="without flowerkit metadata"):
        fk.Classifier.load(plain)
    assert isinstance(keras.saving.load_model(plain), keras.Model)
    assert issubclass(ModelFileError, OSError)


def test_evaluate_returns_a_report(trained: tuple[Any, Any]) -> None:
    clf, data = trained
    report = clf.evaluate(data)
    assert report.accuracy > 0.9
    assert report.to_dict()["schema_version"] == 1


def test_load_finds_what_save_wrote_from_the_same_path(
    trained: tuple[Any, Any], tmp_path: Path
) -> None:
    clf, _ = trained
    for given in (tmp_path / "plain", tmp_path / "dotted.v2", tmp_path / "named.keras"):
        written = clf.save(given)
        assert written.is_file() and written.suffix == ".keras"
        for path in (given, str(given), written):
            assert fk.Classifier.load(path).class_names == clf.class_names
    with pytest.raises(ModelFileError) as missing:
        fk.Classifier.load(tmp_path / "absent")
    message = str(missing.value)
    assert str(tmp_path / "absent.keras") in message and str(tmp_path / "absent") in message


def test_saved_model_ships_without_optimizer_state(colour_folder: Path, tmp_path: Path) -> None:
    import warnings

    import flowerkit as fk

    data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=32, seed=1)
    clf.fit(data, epochs=1, verbose=0)
    clf.model.save(tmp_path / "with_optimizer.keras")  # what Keras alone writes
    path = clf.save(tmp_path / "m")
    # Adam keeps two slots per weight: the artifact holds the weights alone.
    assert path.stat().st_size < 0.5 * (tmp_path / "with_optimizer.keras").stat().st_size
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "skipping optimizer variables" on load
        again = fk.Classifier.load(path)
    probe = np.zeros((2, 32, 32, 3), np.uint8)
    np.testing.assert_allclose(again.predict_proba(probe), clf.predict_proba(probe), atol=1e-6)
    assert np.isfinite(again.fit(data, epochs=1, verbose=0).history["loss"]).all()
    assert clf.model.compiled and clf.model.optimizer is not None  # saving left it intact
    assert np.isfinite(clf.fit(data, epochs=1, verbose=0).history["loss"]).all()


def test_a_model_trained_with_other_decode_rules_warns(
    trained: tuple[Any, Any], tmp_path: Path
) -> None:
    import json
    import zipfile

    import flowerkit as fk
    from flowerkit.artifact import METADATA_NAME
    from flowerkit.images.decode import DECODE_RULES

    clf, _ = trained
    path = clf.save(tmp_path / "m")
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(entries[METADATA_NAME])
    assert document["preprocessing"]["decode_rules"] == str(DECODE_RULES)
    document["preprocessing"]["decode_rules"] = "1"
    entries[METADATA_NAME] = json.dumps(document).encode()
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(old, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.warns(fk.VersionMismatchWarning, match="decode rules 1"):
        fk.Classifier.load(old)
