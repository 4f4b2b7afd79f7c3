"""The ``.tflite`` export carries the standard TFLite metadata (``TFLITE_METADATA``) that
MediaPipe Tasks reads, with its labels and flowerkit's own ``flowerkit.json`` in one zip
of stored entries; ``flowerkit.lite`` reads new and old files alike."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from docs_examples import example_block
from flowerkit.export import ExportSource, export_model, tflite_metadata
from flowerkit.export import tflite as tflite_module
from flowerkit.export.tflite_metadata import read_metadata_summary, write_metadata
from flowerkit.lite import LiteClassifier, labels_text, read_metadata

pytest.importorskip("ai_edge_litert")

NAMES = ("daisy", "roses", "tulips")
SIZE = (16, 24)  # (height, width): not square, so width and height cannot be swapped
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


def _pixels(count: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, *SIZE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def source() -> ExportSource:
    """A tiny model whose three scores depend on the colours of the image."""
    import keras

    from flowerkit.prediction import Scorer

    keras.utils.set_random_seed(0)
    inputs = keras.Input((*SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    return ExportSource(model, NAMES, SIZE, Scorer(model, SIZE), preset="tiny")


@pytest.fixture(scope="module")
def exported(source: ExportSource, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The export in each quantization (int8 calibrated on 16 random images)."""
    out = tmp_path_factory.mktemp("metadata")
    sample = _pixels(16, 1)
    return {
        q: export_model(
            source, out / f"{q}.tflite", "tflite", quantization=q, representative_data=sample
        )
        for q in QUANTIZATIONS
    }


def _old_format(source: ExportSource, target: Path, scratch: Path) -> Path:
    """A ``.tflite`` file as flowerkit wrote it before the metadata: the bare flatbuffer
    and a DEFLATED zip of labels.txt and flowerkit.json."""
    flatbuffer = tflite_module.convert(source, "float32", None, scratch)
    document = {
        "format": "flowerkit.tflite",
        "format_version": 1,
        "class_names": list(NAMES),
        "image_size": list(SIZE),
        "quantization": "float32",
        "outputs": "probabilities",
        "preprocessing": dict(source.preprocessing),
    }
    target.write_bytes(flatbuffer)
    with zipfile.ZipFile(target, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("labels.txt", labels_text(NAMES))
        archive.writestr("flowerkit.json", json.dumps(document, indent=2))
    return target


# --------------------------------------------------------------------------- the metadata
@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_metadata_parses_in_every_quantization(exported: dict[str, Any], quantization: str) -> None:
    result = exported[quantization]
    summary = read_metadata_summary(result.path)
    assert summary.labels_file == "labels.txt"
    assert summary.labels == NAMES
    assert (summary.mean, summary.std) == ((0.0,), (1.0,))
    assert summary.input_range == ((0.0,), (255.0,))
    assert (summary.input_name, summary.color_space, summary.image_size) == ("image", "RGB", SIZE)
    assert summary.output_name == "score"
    assert summary.name == "flowerkit tiny image classifier"
    assert f"({quantization})" in summary.description
    assert summary.description.startswith("Classifies a photo as one of 3 classes")
    assert summary.version == read_metadata(result.path).exported_at
    assert (summary.author, summary.licence) == ("flowerkit", "")
    assert summary.min_parser_version == "1.0.0"
    metadata_check = [c for c in result.checks if c.name == "metadata"]
    assert [(c.metric, c.value, c.passed) for c in metadata_check] == [("mismatched", 0.0, True)]
    assert read_metadata_summary(result.path.read_bytes()) == summary


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_one_zip_of_stored_entries_holds_both_files(
    exported: dict[str, Any], quantization: str
) -> None:
    path = exported[quantization].path
    data = path.read_bytes()
    assert data.count(b"PK\x05\x06") == 1  # one end-of-central-directory record: one zip
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["labels.txt", "flowerkit.json"]
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        assert archive.read("labels.txt").decode() == "daisy\nroses\ntulips\n"
        document = json.loads(archive.read("flowerkit.json"))
    assert document["format"] == "flowerkit.tflite"
    assert document["class_names"] == list(NAMES)
    assert document["quantization"] == quantization
    flatbuffer_end = infos[0].header_offset
    assert b"TFLITE_METADATA" in data[:flatbuffer_end]  # in the flatbuffer, before the zip


def test_lite_classifier_reads_the_new_files(
    exported: dict[str, Any], source: ExportSource
) -> None:
    images = _pixels(6, 2)
    lite = LiteClassifier(exported["float32"].path, num_threads=1)
    assert lite.class_names == NAMES
    assert lite.image_size == SIZE
    np.testing.assert_allclose(lite.predict_proba(images), source.reference(images), atol=1e-4)
    int8 = LiteClassifier(exported["int8"].path, num_threads=1)
    assert np.dtype(int8._input["dtype"]) == np.uint8
    assert int8.predict_proba(images).shape == (6, 3)


def test_an_old_export_still_loads(
    exported: dict[str, Any], source: ExportSource, tmp_path: Path
) -> None:
    old = _old_format(source, tmp_path / "old.tflite", tmp_path / "scratch")
    with zipfile.ZipFile(old) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert read_metadata(old).class_names == NAMES
    images = _pixels(4, 3)
    before = LiteClassifier(old, num_threads=1).predict_proba(images)
    now = LiteClassifier(exported["float32"].path, num_threads=1).predict_proba(images)
    np.testing.assert_allclose(before, now, atol=1e-6)  # the metadata changes no number
    with pytest.raises(fk.ModelFileError, match="no TFLITE_METADATA buffer"):
        read_metadata_summary(old)
    with pytest.raises(fk.ModelFileError, match="no TFLITE_METADATA buffer"):
        tflite_module.metadata_mismatches(old, NAMES)


def test_write_metadata_replaces_what_followed_the_flatbuffer(
    source: ExportSource, tmp_path: Path
) -> None:
    old = _old_format(source, tmp_path / "old.tflite", tmp_path / "scratch")
    options: dict[str, Any] = {
        "class_names": NAMES,
        "image_size": SIZE,
        "version": "1",
        "description": "",
        "author": "me",
        "licence": "CC-BY-4.0",
        "flowerkit_json": b"{}",
    }
    once = write_metadata(old.read_bytes(), name="first", **options)
    twice = write_metadata(once, name="second", **options)  # the earlier metadata replaced
    upgraded = tmp_path / "upgraded.tflite"
    upgraded.write_bytes(twice)
    summary = read_metadata_summary(upgraded)
    assert (summary.name, summary.description, summary.licence) == ("second", "", "CC-BY-4.0")
    assert summary.files == ("labels.txt", "flowerkit.json") and summary.stored
    assert twice.count(b"TFLITE_METADATA") == 1
    assert twice.count(b"PK\x05\x06") == 1


def test_damaged_metadata_is_a_model_file_error(exported: dict[str, Any]) -> None:
    """Whatever the damage, reading fails with ModelFileError or reads a summary,
    never another exception."""
    data = exported["float32"].path.read_bytes()
    start = data.index(b"M001") - 4
    rng = np.random.default_rng(0)
    failures = 0
    for cut in range(0, len(data), max(1, len(data) // 40)):
        with pytest.raises(fk.ModelFileError, match="does not parse"):
            read_metadata_summary(data[:cut])
    for _ in range(60):
        damaged = bytearray(data)
        at = int(rng.integers(start, start + 400))
        damaged[at : at + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        try:
            read_metadata_summary(bytes(damaged))
        except fk.ModelFileError:
            failures += 1
    assert failures > 0


def test_a_stated_licence_is_in_both_metadata(source: ExportSource, tmp_path: Path) -> None:
    target = tmp_path / "m.tflite"
    export_model(source, target, "tflite", licence="  CC-BY-4.0 ", verify=False)
    assert read_metadata_summary(target).licence == "CC-BY-4.0"
    assert read_metadata(target).licence == "CC-BY-4.0"


@pytest.mark.parametrize(
    ("licence", "message"),
    [("MIT\nApache-2.0", "one line"), (3, r"one line of text, such as 'CC-BY-4.0'.*licence=3")],
)
def test_a_bad_licence_is_a_config_error(
    source: ExportSource, tmp_path: Path, licence: Any, message: str
) -> None:
    with pytest.raises(fk.ConfigError, match=message):
        export_model(source, tmp_path / "m.tflite", "tflite", licence=licence)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the export fails
@pytest.mark.parametrize("verify", [True, False])
def test_metadata_that_does_not_parse_fails_the_export(
    source: ExportSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verify: bool
) -> None:
    monkeypatch.setattr(tflite_metadata, "_model_metadata", lambda *args: b"\x08\0\0\0JUNK" * 4)
    with pytest.raises(fk.ExportError, match=r"does not read back.*does not parse") as info:
        export_model(source, tmp_path / "m.tflite", "tflite", verify=verify)
    assert info.value.format == "tflite"
    assert list(tmp_path.iterdir()) == []


def test_metadata_with_other_labels_fails_the_export(
    source: ExportSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tflite_module.write_metadata

    def reversed_labels(model: bytes, *, class_names: Any, **options: Any) -> bytes:
        return real(model, class_names=list(reversed(class_names)), **options)

    monkeypatch.setattr(tflite_module, "write_metadata", reversed_labels)
    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous")
    with pytest.raises(fk.ExportError, match=r"labels \['tulips', 'roses', 'daisy'\] are not"):
        export_model(source, target, "tflite")
    assert target.read_bytes() == b"previous"  # the earlier file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]


def test_the_metadata_check_counts_mismatches(exported: dict[str, Any], tmp_path: Path) -> None:
    path = exported["float32"].path
    assert tflite_module.metadata_mismatches(path, NAMES) == []
    assert len(tflite_module.metadata_mismatches(path, NAMES[::-1])) == 1
    deflated = tmp_path / "deflated.tflite"
    with zipfile.ZipFile(path) as archive:
        flatbuffer_end = archive.infolist()[0].header_offset
        entries = {name: archive.read(name) for name in archive.namelist()}
    deflated.write_bytes(path.read_bytes()[:flatbuffer_end])
    with zipfile.ZipFile(deflated, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("labels.txt", entries["labels.txt"])
    assert tflite_module.metadata_mismatches(deflated, NAMES) == [
        "its zip has compressed entries, which MediaPipe refuses",
        "it has no flowerkit.json",
    ]


# --------------------------------------------------------------------------- MediaPipe itself


def _mediapipe_python() -> str | None:
    """An interpreter with ``mediapipe``: ``FLOWERKIT_MEDIAPIPE_PYTHON``, the venv of the
    issue-30 research, or this one."""
    candidate = os.environ.get("FLOWERKIT_MEDIAPIPE_PYTHON", "/tmp/venv-mptf/bin/python")
    if Path(candidate).is_file():
        return candidate
    return sys.executable if importlib.util.find_spec("mediapipe") else None


_CLASSIFY = """
import json, sys
import mediapipe as mp
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core.base_options import BaseOptions

models, images = json.loads(sys.argv[1]), json.loads(sys.argv[2])
answers = {}
for model in models:
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=model), max_results=-1
    )
    with vision.ImageClassifier.create_from_options(options) as classifier:
        answers[model] = [
            [
                [c.index, c.category_name, c.score]
                for c in classifier.classify(mp.Image.create_from_file(image))
                .classifications[0].categories
            ]
            for image in images
        ]
print(json.dumps(answers))
"""


@pytest.mark.slow
def test_mediapipe_image_classifier_reads_the_export(trained: Any, tmp_path: Path) -> None:
    """MediaPipe Tasks' ImageClassifier, in its own interpreter, names the classes in
    flowerkit's order and gives Classifier.predict's top-1 on PNG photos."""
    python = _mediapipe_python()
    if python is None:
        pytest.skip("no interpreter with mediapipe (set FLOWERKIT_MEDIAPIPE_PYTHON)")
    clf, data = trained
    images = [str(f) for f in list(data.validation_files)[:9]]
    assert all(i.endswith(".png") for i in images)
    models = {
        q: str(
            clf.export(
                tmp_path / f"{q}.tflite", "tflite", quantization=q, representative_data=data
            ).path
        )
        for q in QUANTIZATIONS
    }
    proc = _run(python, _CLASSIFY, json.dumps(list(models.values())), json.dumps(images))
    answers = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = clf.predict(images)
    for quantization, model in models.items():
        for categories in answers[model]:
            by_index = sorted(categories, key=lambda c: c[0])
            assert [c[1] for c in by_index] == list(clf.class_names), quantization
        top1 = [categories[0][1] for categories in answers[model]]
        assert top1 == expected.labels, quantization
    # The documented example, run as written (tflite_path and photo set).
    docs = _run(
        python,
        f"tflite_path = {models['float32']!r}\nphoto = {images[0]!r}\n"
        + example_block("export.rst", "mediapipe"),
    )
    label, confidence = docs.stdout.split()[-2:]
    assert label == expected[0].label
    assert float(confidence) == pytest.approx(expected[0].confidence, abs=0.05)


def _run(python: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
