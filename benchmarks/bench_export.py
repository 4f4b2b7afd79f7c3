"""Export: what each format costs in accuracy and size, on the validation split.

For each trained model (``--model``, repeatable; default: the ``compact`` preset trained
with its default recipe, as ``flowerkit train DIR --preset compact`` does), on the same
split it was trained with (``load_datasets(DIR, seed=123)``, the CLI's default):

* the ``.keras`` artifact: validation accuracy and size;
* SavedModel: size; the ``encoded`` signature fed every validation photo's raw bytes
  (decoded and resized in the graph) against ``Classifier.predict`` on the same files:
  top-1 agreement (goal >= 99.5%) and the largest probability difference;
* LiteRT ``float32``, ``float16``, ``dynamic``, ``int8`` (calibrated on the training
  split): size, validation accuracy and its change against the Keras model (goal for
  int8: within 1 point), and the top-1 agreement of ``flowerkit.lite.LiteClassifier``
  with ``Classifier.predict`` on the validation files (goal for float32: >= 99.5%);
* ONNX (when tf2onnx and onnxruntime are installed): size and the verification figure.

Then, for every built-in preset at its default size (untrained weights: sizes do not
depend on training), the size of the ``.keras`` artifact and of each export format.
``--sizes-only`` prints just that.

    python benchmarks/bench_export.py --model compact.keras --model mobilenet_v2.keras
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"


def _agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return round(float(np.mean(np.array(a) == np.array(b))), 4)


def _encoded_signature(path: Path, files: Sequence[Path], batch: int = 32) -> np.ndarray:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["encoded"]
    rows = []
    for i in range(0, len(files), batch):
        data = tf.constant([f.read_bytes() for f in files[i : i + batch]])
        rows.append(serve(image_bytes=data)["probabilities"].numpy())
    return np.concatenate(rows)


def _model(args: argparse.Namespace, tmp: Path) -> list[Path]:
    if args.model:
        return list(args.model)
    import flowerkit as fk

    data = fk.load_datasets(args.data, image_size=(160, 160), seed=args.seed)
    clf = fk.Classifier.from_preset("compact", class_names=data.class_names, seed=args.seed)
    clf.fit(data, seed=args.seed, verbose=0)
    return [clf.save(tmp / "compact.keras")]


def _bench(model_path: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import flowerkit as fk
    from flowerkit.lite import LiteClassifier

    clf = fk.Classifier.load(model_path)
    data = fk.load_datasets(args.data, image_size=clf.image_size, seed=args.seed)
    files = list(data.validation_files)
    labels = np.array(data.validation_labels)
    keras_preds = clf.predict(files, batch_size=64)
    keras_probs = np.array([[p.probabilities[c] for c in clf.class_names] for p in keras_preds])
    keras_accuracy = float(np.mean(np.argmax(keras_probs, 1) == labels))
    row: dict[str, Any] = {
        "model": str(model_path),
        "preset": clf.preset,
        "image_size": list(clf.image_size),
        "validation_images": len(files),
        "keras": {
            "accuracy": round(keras_accuracy, 4),
            "size_mb": round(model_path.stat().st_size / 1e6, 2),
        },
    }
    started = time.perf_counter()
    saved = clf.export(out / f"{model_path.stem}_savedmodel", "saved_model")
    encoded = _encoded_signature(saved.path, files)
    row["saved_model"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "size_mb": round(saved.size_bytes / 1e6, 2),
        "checks": [c.to_dict() for c in saved.checks],
        "encoded_top1_agreement": _agreement(
            [clf.class_names[i] for i in np.argmax(encoded, 1)], keras_preds.labels
        ),
        "encoded_accuracy": round(float(np.mean(np.argmax(encoded, 1) == labels)), 4),
        "encoded_max_abs_diff": round(float(np.abs(encoded - keras_probs).max()), 4),
        "encoded_p99_abs_diff": round(float(np.quantile(np.abs(encoded - keras_probs), 0.99)), 5),
    }
    for quantization in ("float32", "float16", "dynamic", "int8"):
        started = time.perf_counter()
        result = clf.export(
            out / f"{model_path.stem}_{quantization}.tflite",
            "tflite",
            quantization=quantization,  # type: ignore[arg-type]
            representative_data=data,
            validation_data=data,
            max_accuracy_drop=1.0,  # report the figure here; the goal is judged below
        )
        seconds = round(time.perf_counter() - started, 1)
        lite = LiteClassifier(result.path)
        lite_preds = lite.predict(files, batch_size=64)
        lite_accuracy = float(
            np.mean(np.array([clf.class_names.index(x) for x in lite_preds.labels]) == labels)
        )
        row[f"tflite_{quantization}"] = {
            "seconds": seconds,
            "size_mb": round(result.size_bytes / 1e6, 2),
            "accuracy": round(lite_accuracy, 4),
            "accuracy_change_points": round(100 * (lite_accuracy - keras_accuracy), 2),
            "top1_agreement": _agreement(lite_preds.labels, keras_preds.labels),
            "checks": [c.to_dict() for c in result.checks],
        }
    try:
        onnx = clf.export(out / f"{model_path.stem}.onnx", "onnx")
        row["onnx"] = {
            "size_mb": round(onnx.size_bytes / 1e6, 2),
            "checks": [c.to_dict() for c in onnx.checks],
        }
    except ModuleNotFoundError as exc:
        row["onnx"] = {"skipped": str(exc)}
    return row


def _sizes(tmp: Path) -> dict[str, dict[str, float]]:
    import flowerkit as fk

    sizes: dict[str, dict[str, float]] = {}
    sample = np.random.default_rng(0)
    for preset in fk.list_presets():
        options = {"weights": None} if preset == "mobilenet_v2" else {}
        clf = fk.Classifier.from_preset(preset, class_names=list("abcde"), seed=1, **options)
        clf._fitted = True  # sizes do not depend on the weights' values
        images = sample.integers(0, 256, (40, *clf.image_size, 3), dtype=np.uint8)
        row = {"keras": clf.save(tmp / f"{preset}.keras").stat().st_size}
        row["saved_model"] = clf.export(tmp / f"{preset}_sm", "saved_model").size_bytes
        for q in ("float32", "float16", "dynamic", "int8"):
            row[f"tflite_{q}"] = clf.export(
                tmp / f"{preset}_{q}.tflite",
                "tflite",
                quantization=q,  # type: ignore[arg-type]
                representative_data=images,
            ).size_bytes
        with contextlib.suppress(ModuleNotFoundError):  # the onnx extra is optional
            row["onnx"] = clf.export(tmp / f"{preset}.onnx", "onnx").size_bytes
        sizes[preset] = {k: round(v / 1e6, 2) for k, v in row.items()}
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, action="append", help="a trained .keras model")
    parser.add_argument("--seed", type=int, default=123, help="the split the model trained on")
    parser.add_argument("--sizes-only", action="store_true", help="only the size table")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"machine": describe()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.sizes_only:
            results["models"] = [_bench(path, args, Path(tmp)) for path in _model(args, Path(tmp))]
        results["sizes_mb"] = _sizes(Path(tmp))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
