"""Export: SavedModel and LiteRT files that verify on the spot, carry their labels, leave
nothing behind when they fail, and run without flowerkit (worked examples) or without
TensorFlow (flowerkit.lite)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import flowerkit as fk
from docs_examples import example_block
from flowerkit.export import tflite as tflite_module
from flowerkit.lite import LiteClassifier, read_metadata

pytest.importorskip("ai_edge_litert")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def exports(trained: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One SavedModel and one float32 .tflite of the trained fixture."""
    clf, data = trained
    out = tmp_path_factory.mktemp("exports")
    saved = clf.export(out / "flowers_savedmodel", "saved_model", representative_data=data)
    lite = clf.export(out / "flowers.tflite", "tflite", representative_data=data)
    return {"clf": clf, "data": data, "out": out, "saved": saved, "lite": lite}


def _run(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )


# --------------------------------------------------------------------------- SavedModel
def test_saved_model_export_verifies_both_signatures(exports: dict[str, Any]) -> None:
    result = exports["saved"]
    assert result.format == "saved_model"
    assert result.path.is_dir()
    assert (result.path / "saved_model.pb").is_file()
    names = {c.name: c for c in result.checks}
    assert set(names) == {"serving_default", "encoded"}
    assert names["serving_default"].value <= 1e-4
    assert all(c.passed for c in result.checks)
    assert result.size_bytes > 0
    weights = sum(f.stat().st_size for f in (result.path / "variables").iterdir())
    assert weights < 1.3 * exports["lite"].size_bytes  # each weight stored once (keras#23553)
    labels = (result.path / "assets.extra" / "labels.txt").read_text().split()
    assert labels == list(exports["clf"].class_names)
    assert _leftovers(exports["out"]) == []


def test_saved_model_served_by_plain_tensorflow(exports: dict[str, Any]) -> None:
    """The documented worked example, run as written in a fresh process that has
    TensorFlow only (flowerkit is never imported)."""
    clf, data = exports["clf"], exports["data"]
    photo = data.validation_files[0]
    expected = clf.predict(photo)[0]
    proc = _run(
        f"saved_model_dir = {str(exports['saved'].path)!r}\nphoto = {str(photo)!r}\n"
        + example_block("export.rst", "serve-savedmodel")
        + "import sys\nassert 'flowerkit' not in sys.modules\n"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    label, confidence = proc.stdout.split()
    assert label == expected.label
    assert float(confidence) == pytest.approx(expected.confidence, abs=0.02)


def test_saved_model_pixels_signature_returns_every_output(exports: dict[str, Any]) -> None:
    import tensorflow as tf

    clf, data = exports["clf"], exports["data"]
    images = np.stack([fk.load_image(f, (32, 32)) for f in data.validation_files[:4]])
    serve = tf.saved_model.load(str(exports["saved"].path)).signatures["serving_default"]
    answer = serve(images=tf.constant(images))
    np.testing.assert_allclose(answer["probabilities"], clf.predict_proba(images), atol=1e-4)
    assert [x.decode() for x in answer["label"].numpy()] == clf.predict(list(images)).labels
    assert answer["class_names"].shape == (4, 3)
    assert [x.decode() for x in answer["class_names"][0].numpy()] == list(clf.class_names)


def test_saved_model_cli_shows_both_signatures(exports: dict[str, Any]) -> None:
    cli = Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip("saved_model_cli is not installed beside this Python")
    proc = subprocess.run(
        [str(cli), "show", "--dir", str(exports["saved"].path), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "signature_def['serving_default']" in proc.stdout
    assert "signature_def['encoded']" in proc.stdout
    assert "dtype: DT_UINT8" in proc.stdout
    assert "dtype: DT_STRING" in proc.stdout


# --------------------------------------------------------------------------- in-graph decode
def _encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = rng.integers(0, 256, size=(h // 16 + 2, w // 16 + 2, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("jpeg", lambda: _encoded(_photo((96, 80)), "JPEG", quality=92)),
        ("jpeg_dct_scaled", lambda: _encoded(_photo((400, 330)), "JPEG", quality=92)),
        ("png", lambda: _encoded(_photo((50, 40)), "PNG")),
        ("png_alpha", lambda: _encoded(_photo((50, 40)).convert("RGBA"), "PNG")),
        ("png_gray", lambda: _encoded(_photo((50, 40)).convert("L"), "PNG")),
        ("gif", lambda: _encoded(_photo((50, 40)).convert("P"), "GIF")),
        ("bmp", lambda: _encoded(_photo((50, 40)), "BMP")),
    ],
)
def test_graph_decode_matches_flowerkit_decode(name: str, make: Any) -> None:
    import tensorflow as tf

    from flowerkit.export.graph_decode import decode_batch

    data = make()
    if name == "png_alpha":  # half transparent: composited on white, as flowerkit does
        image = Image.open(io.BytesIO(data))
        image.putalpha(128)
        data = _encoded(image, "PNG")
    ours = fk.load_image(data, (32, 24)).astype(int)
    graph = decode_batch(tf.constant([data]), (32, 24)).numpy()[0].astype(int)
    assert graph.shape == ours.shape
    assert np.abs(graph - ours).mean() < 0.6, name
    assert np.abs(graph - ours).max() <= 8, name


# --------------------------------------------------------------------------- LiteRT
def test_tflite_export_carries_labels_and_matches(exports: dict[str, Any]) -> None:
    result, clf, data = exports["lite"], exports["clf"], exports["data"]
    assert result.path.suffix == ".tflite"
    assert result.quantization == "float32"
    check = next(c for c in result.checks if c.metric == "max_abs_diff")
    assert check.value <= 1e-4
    with zipfile.ZipFile(result.path) as archive:
        assert archive.read("labels.txt").decode().split() == list(clf.class_names)
        document = json.loads(archive.read("flowerkit.json"))
    assert document["format"] == "flowerkit.tflite"
    assert document["image_size"] == [32, 32]
    assert document["preprocessing"]["decode_rules"]
    lite = LiteClassifier(result.path)
    files = list(data.validation_files)
    ours, theirs = lite.predict(files), clf.predict(files)
    assert ours.labels == theirs.labels
    for a, b in zip(ours, theirs, strict=True):
        assert a.source == b.source
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_lite_predictor_imports_neither_tensorflow_nor_keras(exports: dict[str, Any]) -> None:
    photo = exports["data"].validation_files[0]
    expected = exports["clf"].predict(photo)[0].label
    proc = _run(
        f"""
        import sys
        from flowerkit.lite import LiteClassifier

        lite = LiteClassifier({str(exports["lite"].path)!r})
        print(lite.predict([{str(photo)!r}])[0].label)
        print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    label, modules = proc.stdout.strip().splitlines()[-2:]
    assert label == expected
    assert modules == "[]"


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_tflite_classified_by_bare_litert(
    exports: dict[str, Any], quantization: str, tmp_path: Path
) -> None:
    """The documented worked example, run as written without flowerkit or TensorFlow."""
    clf, data = exports["clf"], exports["data"]
    path = exports["lite"].path
    if quantization == "int8":
        path = clf.export(
            tmp_path / "int8.tflite", "tflite", quantization="int8", representative_data=data
        ).path
    photo = data.validation_files[0]
    expected = clf.predict(photo)[0]
    proc = _run(
        f"tflite_path = {str(path)!r}\nphoto = {str(photo)!r}\n"
        + example_block("export.rst", "bare-litert")
        + "import sys\nassert 'flowerkit' not in sys.modules\n"
        + "assert 'tensorflow' not in sys.modules\n"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    label, confidence = proc.stdout.split()
    assert label == expected.label
    assert float(confidence) == pytest.approx(expected.confidence, abs=0.05)


@pytest.mark.parametrize("quantization", ["float16", "dynamic", "int8"])
def test_quantized_exports_are_smaller_and_report_accuracy(
    exports: dict[str, Any], quantization: str, tmp_path: Path
) -> None:
    clf, data = exports["clf"], exports["data"]
    result = clf.export(
        tmp_path / f"{quantization}.tflite",
        "tflite",
        quantization=quantization,  # type: ignore[arg-type]
        representative_data=data,
    )
    assert result.size_bytes < exports["lite"].size_bytes * 0.6
    validation = next(c for c in result.checks if c.name == "validation")
    assert validation.metric == "accuracy_drop"
    detail = dict(validation.detail)
    assert detail["images"] == len(data.validation_files)
    assert validation.value == pytest.approx(detail["keras_accuracy"] - detail["export_accuracy"])
    lite = LiteClassifier(result.path)
    assert lite.metadata.quantization == quantization
    expected_input = "uint8" if quantization == "int8" else "float32"
    assert lite.metadata.input["dtype"] == expected_input
    assert np.dtype(lite._input["dtype"]) == np.dtype(expected_input)
    agreement = np.mean(
        np.array(lite.predict(list(data.validation_files)).labels)
        == np.array(clf.predict(list(data.validation_files)).labels)
    )
    assert agreement >= 0.9


def test_int8_needs_representative_data(exports: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(fk.ConfigError, match="representative_data"):
        exports["clf"].export(tmp_path / "m.tflite", "tflite", quantization="int8")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["folder", "array"])
def test_representative_data_as_folder_or_array(
    exports: dict[str, Any], colour_folder: Path, kind: str, tmp_path: Path
) -> None:
    from flowerkit.export.samples import representative_images

    if kind == "folder":
        images = representative_images(colour_folder, (32, 32), limit=10)
        assert images.shape == (10, 32, 32, 3)
    else:
        arr = np.zeros((5, 32, 32, 3), dtype=np.float32)
        assert representative_images(arr, (32, 32)).dtype == np.uint8
        with pytest.raises(fk.ConfigError, match=r"\(N, 32, 32, 3\)"):
            representative_images(np.zeros((5, 16, 16, 3)), (32, 32))


# --------------------------------------------------------------------------- ONNX
def test_onnx_export_runs_in_onnxruntime_alone(exports: dict[str, Any]) -> None:
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    clf, data = exports["clf"], exports["data"]
    result = clf.export(exports["out"] / "flowers.onnx", "onnx", representative_data=data)
    check = next(c for c in result.checks if c.metric == "max_abs_diff")
    assert check.value <= 1e-4
    photo = data.validation_files[0]
    expected = clf.predict(photo)[0]
    # The pixels flowerkit decodes (its resize, not Pillow's default): the scores agree.
    pixels_file = exports["out"] / "photo.npy"
    np.save(pixels_file, fk.images.load_image(photo, clf.image_size))
    proc = _run(
        f"""
        import json, sys
        import numpy as np
        import onnxruntime

        session = onnxruntime.InferenceSession({str(result.path)!r})
        meta = session.get_modelmeta().custom_metadata_map
        labels = meta["labels"].split("\\n")
        height, width = json.loads(meta["flowerkit"])["image_size"]
        pixels = np.load({str(pixels_file)!r}).astype(np.float32)[np.newaxis]
        assert pixels.shape == (1, height, width, 3)
        (probabilities,) = session.run(None, {{"images": pixels}})
        print(labels[int(np.argmax(probabilities[0]))], float(probabilities[0].max()))
        assert "flowerkit" not in sys.modules and "tensorflow" not in sys.modules
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    label, confidence = proc.stdout.split()
    assert label == expected.label
    assert float(confidence) == pytest.approx(expected.confidence, abs=1e-3)


def test_onnx_missing_dependency_is_named(
    exports: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a)
    )
    with pytest.raises(ModuleNotFoundError, match=r"flowerkit\[onnx\]"):
        exports["clf"].export(tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- failures
def test_failed_check_raises_and_leaves_nothing(
    exports: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(tflite_module.TOLERANCES, "float32", -1.0)
    target = tmp_path / "m.tflite"
    with pytest.raises(fk.ExportError, match=r"float32 max_abs_diff .* \(limit -1\)") as info:
        exports["clf"].export(target, "tflite")
    assert info.value.format == "tflite"
    assert isinstance(info.value, RuntimeError)
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_the_previous_one(
    exports: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowerkit.export import saved_model

    clf = exports["clf"]
    target = tmp_path / "served"
    clf.export(target, "saved_model")
    before = (target / "saved_model.pb").read_bytes()
    monkeypatch.setattr(saved_model, "ENCODED_TOLERANCE", -1.0)
    with pytest.raises(fk.ExportError, match="encoded max_abs_diff"):
        clf.export(target, "saved_model")
    assert (target / "saved_model.pb").read_bytes() == before
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    clf.export(target, "saved_model")  # a previous SavedModel is replaced
    assert _leftovers(tmp_path) == []


def test_refuses_to_replace_a_folder_that_is_not_an_export(
    exports: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "keep.jpg").write_bytes(b"mine")
    with pytest.raises(fk.ExportError, match="not a previous SavedModel"):
        exports["clf"].export(tmp_path / "photos", "saved_model")
    with pytest.raises(fk.ExportError, match="is a folder"):
        exports["clf"].export(tmp_path / "photos", "tflite")
    assert (tmp_path / "photos" / "keep.jpg").read_bytes() == b"mine"


def test_bad_arguments(exports: dict[str, Any], tmp_path: Path) -> None:
    clf = exports["clf"]
    with pytest.raises(fk.ConfigError, match="format"):
        clf.export(tmp_path / "m", "coreml")  # type: ignore[arg-type]
    with pytest.raises(fk.ConfigError, match="applies to format='tflite'"):
        clf.export(tmp_path / "m", "saved_model", quantization="int8")
    untrained = fk.Classifier.from_preset("tutorial", class_names=["a", "b"], image_size=32)
    with pytest.raises(fk.NotFittedError):
        untrained.export(tmp_path / "m", "saved_model")


def test_unconvertible_custom_layer_is_named(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="flowerkit_tests")
    class BesselLayer(keras.layers.Layer):
        def call(self, inputs: Any) -> Any:
            return inputs + tf.math.bessel_i1e(inputs)

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = BesselLayer(name="bessel_block")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    clf = fk.Classifier(model, ["a", "b"], trained=True)
    with pytest.raises(fk.ExportError, match=r"the layer 'bessel_block' uses .*BesselI1e"):
        clf.export(tmp_path / "m.tflite", "tflite")
    assert list(tmp_path.iterdir()) == []
    assert clf.export(tmp_path / "served", "saved_model").path.is_dir()  # TF runs it


def test_culprit_prefers_the_exact_innermost_layer() -> None:
    class Layer:
        def __init__(self, name: str, layers: list[Any] | None = None) -> None:
            self.name, self.layers = name, layers or []

    model = Layer("m", [Layer("backbone", [Layer("dense"), Layer("dense_1")])])
    message = 'fused["Op:", "m_1/backbone_1/dense_1/Op@inference"]'
    assert tflite_module.culprit(model, message) == "dense_1"
    assert tflite_module.culprit(model, 'fused["backbone_1/Op"]') == "backbone"
    assert tflite_module.culprit(model, "nothing here") is None


# --------------------------------------------------------------------------- metadata
def test_read_metadata_errors(exports: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(fk.ModelFileError, match="No exported model"):
        read_metadata(tmp_path / "missing.tflite")
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(exports["lite"].path.read_bytes()[:1000])
    with pytest.raises(fk.ModelFileError, match="has no flowerkit metadata"):
        read_metadata(bare)
    newer = tmp_path / "newer.tflite"
    newer.write_bytes(b"\0" * 16)
    document = {"format": "flowerkit.tflite", "format_version": 99, "class_names": ["a"]}
    with zipfile.ZipFile(newer, "a") as archive:
        archive.writestr("flowerkit.json", json.dumps(document))
    with pytest.raises(fk.ModelFileError, match="format 99"):
        read_metadata(newer)


def test_lite_warns_on_other_decode_rules(exports: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "old.tflite"
    with zipfile.ZipFile(exports["lite"].path) as archive:
        flatbuffer_end = archive.infolist()[0].header_offset
        document = json.loads(archive.read("flowerkit.json"))
    path.write_bytes(exports["lite"].path.read_bytes()[:flatbuffer_end])
    document["preprocessing"]["decode_rules"] = "1"
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("labels.txt", "\n".join(document["class_names"]))
        archive.writestr("flowerkit.json", json.dumps(document))
    with pytest.warns(fk.VersionMismatchWarning, match="decode rules 1"):
        lite = LiteClassifier(path)
    assert lite.predict_proba(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 3)


def test_lite_classifier_shared_by_threads(exports: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    lite = LiteClassifier(exports["lite"].path)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for n in (1, 3, 5, 2) * 4]
    alone = [lite.predict_proba(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lite.predict_proba, batches))
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


# --------------------------------------------------------------------------- presets, CLI
@pytest.mark.parametrize(
    "preset",
    [  # mobilenet_v2's three exports take ~16 s: slow
        pytest.param(p, marks=pytest.mark.slow) if p == "mobilenet_v2" else p
        for p in fk.list_presets()
    ],
)
def test_every_builtin_preset_exports(preset: str, tmp_path: Path) -> None:
    options = {"weights": None} if preset == "mobilenet_v2" else {}
    clf = fk.Classifier.from_preset(
        preset, class_names=["a", "b", "c"], image_size=32, seed=0, **options
    )
    clf._fitted = True  # untrained weights export like trained ones
    formats = [("tflite", "m.tflite"), ("saved_model", "served"), ("onnx", "m.onnx")]
    for fmt, name in formats:
        result = clf.export(tmp_path / name, fmt)  # type: ignore[arg-type]
        assert all(c.passed for c in result.checks), result


def test_cli_export_and_predict_with_tflite(exports: dict[str, Any], tmp_path: Path) -> None:
    from flowerkit.cli import main

    clf, data = exports["clf"], exports["data"]
    model = clf.save(tmp_path / "m.keras")
    target = tmp_path / "m.tflite"
    assert main(["export", str(model), "--format", "tflite", "--out", str(target), "-q"]) == 0
    assert LiteClassifier(target).class_names == clf.class_names
    photo = str(data.validation_files[0])
    proc = subprocess.run(
        [sys.executable, "-m", "flowerkit", "predict", str(target), photo, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["predictions"][0]["label"] == clf.predict(photo)[0].label
    assert "XNNPACK" not in proc.stderr


def test_bfloat16_model_exports_its_float32_twin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flowerkit.models.build
    from flowerkit.models.build import computes_in_bfloat16

    monkeypatch.setattr(flowerkit.models.build, "native_bfloat16", lambda: True)
    clf = fk.Classifier.from_preset(
        "tutorial", class_names=["a", "b", "c"], image_size=32, seed=0, precision="bfloat16"
    )
    clf._fitted = True
    assert computes_in_bfloat16(clf.model)
    result = clf.export(tmp_path / "m.tflite", "tflite")
    assert all(c.passed for c in result.checks)
    assert computes_in_bfloat16(clf.model)  # the classifier's own model is untouched
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    ours = LiteClassifier(result.path).predict_proba(images)
    np.testing.assert_allclose(ours, clf.predict_proba(images), atol=0.02)  # bf16 vs fp32


def test_failed_rename_puts_the_previous_export_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowerkit.export import _files

    target = tmp_path / "served"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"previous")
    real = os.replace

    def failing(src: Any, dst: Any) -> None:
        if Path(dst) == target and Path(src).name == target.name:
            raise OSError("disk full")
        real(src, dst)

    def export_into(work: Path) -> None:
        work.mkdir()
        (work / "saved_model.pb").write_bytes(b"new")

    def export() -> None:
        with _files.staged(target) as work:
            export_into(work)

    monkeypatch.setattr(_files.os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        export()
    assert (target / "saved_model.pb").read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_a_hand_made_export_source_records_this_flowerkits_decoding(tmp_path: Path) -> None:
    import warnings

    import keras

    from flowerkit.artifact import current_preprocessing
    from flowerkit.export import ExportSource, export_model
    from flowerkit.prediction import Scorer

    inputs = keras.Input((16, 16, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    source = ExportSource(model, ("a", "b"), (16, 16), Scorer(model, (16, 16)))
    assert source.preprocessing == current_preprocessing()
    result = export_model(source, tmp_path / "m.tflite", "tflite")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no VersionMismatchWarning: same decode rules
        assert read_metadata(result.path).preprocessing == current_preprocessing()
