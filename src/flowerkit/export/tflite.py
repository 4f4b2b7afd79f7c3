"""The LiteRT (TFLite) export: one ``.tflite`` file with the labels and metadata inside.

The model is converted from a scratch SavedModel with one signature (``images``: float32
0..255 pixels ``(N, height, width, 3)``; ``probabilities``: the softmax with the
calibration temperature applied) by ``tf.lite.TFLiteConverter.from_saved_model``, the
route TensorFlow supports for Keras 3: ``from_keras_model`` fails on Keras 3 models, and
``from_concrete_functions`` silently drops the weights of some of them (the ``tutorial``
preset converts to a 9 KB file that outputs NaN). The four quantizations:

``float32``
    no quantization; matches the Keras model within :data:`TOLERANCES`.
``float16``
    weights stored as float16 (half the size), computed in float32 on CPUs.
``dynamic``
    weights stored as int8 (a quarter of the size), activations quantized on the fly.
``int8``
    weights and activations int8, calibrated on a representative sample of the
    training images; the input is uint8 pixels, the output float32 probabilities.

Every file carries the standard TFLite model metadata (``TFLITE_METADATA``) of an image
classifier, the way MediaPipe Model Maker writes it, so MediaPipe Tasks' ``ImageClassifier``
and the LiteRT support libraries read its labels and input normalisation: see
:mod:`flowerkit.export.tflite_metadata`. The class names travel inside the file as a zip
archive of stored entries appended to the flatbuffer (``labels.txt``, which the metadata
names, and ``flowerkit.json``; see :mod:`flowerkit.lite`). The metadata is read back
after writing: a file whose metadata does not parse, or names other labels, is an
:class:`~flowerkit.ExportError`, and the ``metadata`` check reports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowerkit.data import Datasets, labelled_batches
from flowerkit.exceptions import ConfigError, ExportError, ModelFileError
from flowerkit.export.checks import Check, agreement, max_abs_diff
from flowerkit.export.formats import Exporter, ExportJob
from flowerkit.export.source import ExportSource
from flowerkit.export.tflite_metadata import (
    NORMALIZATION_MEAN,
    NORMALIZATION_STD,
    read_metadata_summary,
    write_metadata,
)
from flowerkit.lite import (
    METADATA_NAME,
    LiteClassifier,
    Quantization,
    require_interpreter,
)
from flowerkit.options.export import QUANTIZATIONS as _QUANTIZATIONS

__all__ = [
    "EXPORTER",
    "QUANTIZATIONS",
    "TOLERANCES",
    "convert",
    "metadata_mismatches",
    "verify",
    "write",
]

#: The quantizations, smallest file last.
QUANTIZATIONS: tuple[Quantization, ...] = _QUANTIZATIONS  # declared in flowerkit.options

#: Largest difference allowed between the file's probabilities and the Keras model's, per
#: quantization (``None``: quantized; the label agreement and, with validation data, the
#: accuracy change are checked instead). float16 rounds each weight to 11 significant
#: bits: on flower_photos the largest difference over the 32 checked photos was 7e-4
#: (``compact``) and 9e-3 (``mobilenet_v2``), so 0.02 leaves room for other data
#: without passing a broken file (``benchmarks/bench_export.py``).
TOLERANCES: dict[str, float | None] = {
    "float32": 1e-4,
    "float16": 2e-2,
    "dynamic": None,
    "int8": None,
}


def _layers(model: Any) -> list[Any]:
    found: list[Any] = []
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop(0)
        found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found


def culprit(model: Any, message: str) -> str | None:
    """The name of the layer a converter error points at, if it names one.

    The converter reports ops by their graph names (``model_1/layer_1/op``: Keras' graph
    scopes add ``_1``); a layer whose name appears exactly beats one matched with that
    suffix, and a plain layer beats a sub-model.
    """
    best: tuple[int, int, str] | None = None
    for layer in _layers(model):
        name = str(layer.name)
        exact = re.search(rf"(?<![\w.]){re.escape(name)}/", message) is not None
        scoped = exact or re.search(rf"(?<![\w.]){re.escape(name)}_\d+/", message) is not None
        if scoped:
            rank = (int(exact), 0 if getattr(layer, "layers", None) else 1, name)
            if best is None or rank[:2] > best[:2]:
                best = rank
    return None if best is None else best[2]


def _unsupported_ops(message: str) -> list[str]:
    return sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op", message)))


def convert(
    source: ExportSource,
    quantization: Quantization,
    representative: NDArray[np.uint8] | None,
    scratch: Path,
) -> bytes:
    """The ``.tflite`` flatbuffer for ``source``, by way of a SavedModel at ``scratch``.

    Raises:
        ~flowerkit.ExportError: the converter failed; the message names the layer whose
            op LiteRT cannot run when the converter's message points at one.
    """
    import keras
    import tensorflow as tf

    height, width = source.image_size
    archive = keras.export.ExportArchive()  # untracked: see saved_model.write
    archive.add_endpoint(
        "serving_default",
        lambda images: {"probabilities": source.probabilities(images)},
        input_signature=[tf.TensorSpec((None, height, width, 3), tf.float32, name="images")],
    )
    archive.write_out(str(scratch), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(scratch))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        assert representative is not None
        sample = representative.astype(np.float32)
        converter.representative_dataset = lambda: ([image[np.newaxis]] for image in sample)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
    try:
        return bytes(converter.convert())
    except Exception as exc:
        text = str(exc)
        layer, ops = culprit(source.model, text), _unsupported_ops(text)
        where = f"the layer {layer!r}" if layer else "the model"
        what = f"the TensorFlow op {', '.join(ops)}" if ops else "an operation"
        first = next((line for line in text.splitlines() if "error" in line.lower()), text)
        raise ExportError(
            f"LiteRT conversion ({quantization}) failed: {where} uses {what}, which "
            "LiteRT's built-in ops cannot run. Rewrite that layer with keras.ops that "
            "LiteRT supports, or export format='saved_model'. "
            f"Converter: {first.strip()[:300]}",
            format="tflite",
        ) from exc


def _general_info(document: dict[str, Any]) -> dict[str, str]:
    """The metadata's name, description, version, author and licence for an export
    described by its ``flowerkit.json`` ``document``."""
    preset = document.get("preset")
    names = [str(name) for name in document["class_names"]]
    height, width = document["image_size"]
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    version = dict(document.get("versions") or {}).get("flowerkit")
    exporter = f"flowerkit {version}" if version else "flowerkit"
    quantization = document.get("quantization", "float32")
    return {
        "name": f"flowerkit {preset} image classifier" if preset else "flowerkit image classifier",
        "description": (
            f"Classifies a photo as one of {len(names)} classes ({shown}): RGB pixels "
            f"0..255 at {width}x{height} in, class probabilities out. Exported by "
            f"{exporter} ({quantization}); flowerkit.json says how photos are decoded."
        ),
        "version": str(document.get("exported_at", "")),
        "author": "flowerkit",
        "licence": str(document.get("licence", "")),  # the owner's to state, or none
    }


def metadata_mismatches(path: Path, names: Sequence[str]) -> list[str]:
    """What the ``TFLITE_METADATA`` of the file at ``path`` gets wrong.

    Args:
        path: a ``.tflite`` file written by :func:`write`.
        names: the class names, in output order.

    Returns:
        One sentence per mismatch (empty when the file is right): labels other than
        ``names`` or in another order, a normalisation other than mean 0 and std 1, a
        compressed zip entry (MediaPipe refuses it) or no ``flowerkit.json``.

    Raises:
        ~flowerkit.ModelFileError: the metadata does not parse.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.export.tflite import metadata_mismatches
        >>> metadata_mismatches(Path("flowers.tflite"), ["daisy", "roses", "tulips"])
        []
        >>> metadata_mismatches(Path("flowers.tflite"), ["roses", "daisy", "tulips"])
        ["its labels ['daisy', 'roses', 'tulips'] are not the class names ['roses',
        'daisy', 'tulips']"]
    """
    summary = read_metadata_summary(path)
    found: list[str] = []
    if summary.labels != tuple(names):
        found.append(f"its labels {list(summary.labels)} are not the class names {list(names)}")
    if (summary.mean, summary.std) != (NORMALIZATION_MEAN, NORMALIZATION_STD):
        found.append(f"its normalisation is mean {summary.mean} std {summary.std}")
    if not summary.stored:
        found.append("its zip has compressed entries, which MediaPipe refuses")
    if METADATA_NAME not in summary.files:
        found.append(f"it has no {METADATA_NAME}")
    return found


def write(flatbuffer: bytes, target: Path, document: dict[str, Any], names: list[str]) -> None:
    """Write the flatbuffer with its ``TFLITE_METADATA``, then the labels and
    ``flowerkit.json`` as a zip of stored entries, and read the metadata back.

    Args:
        flatbuffer: the converter's output.
        target: the file to write.
        document: the ``flowerkit.json`` document.
        names: the class names, in output order.

    Raises:
        ~flowerkit.ExportError: the metadata does not read back, or not as written.
    """
    import json

    height, width = document["image_size"]
    data = write_metadata(
        flatbuffer,
        class_names=names,
        image_size=(int(height), int(width)),
        flowerkit_json=json.dumps(document, indent=2).encode("utf-8"),
        **_general_info(document),
    )
    target.write_bytes(data)
    try:
        mismatches = metadata_mismatches(target, names)
    except ModelFileError as exc:
        raise ExportError(
            f"The .tflite file's TFLite metadata does not read back, so nothing was written: {exc}",
            format="tflite",
        ) from exc
    if mismatches:
        raise ExportError(
            "The .tflite file's TFLite metadata does not read back as written, so nothing "
            f"was written: {'; '.join(mismatches)}.",
            format="tflite",
        )


def verify(
    source: ExportSource,
    target: Path,
    quantization: Quantization,
    sample: NDArray[np.uint8],
    validation: Iterable[tuple[NDArray[Any], NDArray[Any]]] | None,
    max_accuracy_drop: float,
) -> list[Check]:
    """Reload ``target`` with the LiteRT interpreter and compare it with the Keras model:
    probabilities on ``sample`` (float formats), label agreement, and the validation
    accuracy change when ``validation`` images and labels are given; then the
    ``metadata`` check: the number of :func:`metadata_mismatches` (limit 0)."""
    metadata = Check(
        "metadata", "mismatched", float(len(metadata_mismatches(target, source.class_names))), 0.0
    )
    lite = LiteClassifier(target)
    if lite.class_names != source.class_names:
        return [Check("labels", "mismatched", 1.0, 0.0), metadata]
    ours, reference = lite.predict_proba(sample), source.reference(sample)
    tolerance = TOLERANCES[quantization]
    checks = [
        Check(quantization, "max_abs_diff", max_abs_diff(ours, reference), tolerance),
        Check(quantization, "top1_agreement", agreement(ours, reference)),
    ]
    if validation is not None:
        right_keras = right_lite = count = 0
        for images, labels in validation:
            truth = np.asarray(labels).reshape(-1)
            right_keras += int(np.sum(np.argmax(source.reference(images), 1) == truth))
            right_lite += int(np.sum(np.argmax(lite.predict_proba(images), 1) == truth))
            count += len(truth)
        keras_accuracy, lite_accuracy = right_keras / max(count, 1), right_lite / max(count, 1)
        checks.append(
            Check(
                "validation",
                "accuracy_drop",
                keras_accuracy - lite_accuracy,
                max_accuracy_drop,
                detail=(
                    ("keras_accuracy", keras_accuracy),
                    ("export_accuracy", lite_accuracy),
                    ("images", float(count)),
                ),
            )
        )
    return [*checks, metadata]


def _labelled(
    data: object, source: ExportSource
) -> Iterable[tuple[NDArray[Any], NDArray[Any]]] | None:
    """``validation_data`` as NumPy batches of images and labels (``None``: none given)."""
    if data is None:
        return None
    if isinstance(data, Datasets) and data.validation is None:
        raise ConfigError("`validation_data` is a Datasets without a validation split.")
    batches, _ = labelled_batches(
        data, class_names=source.class_names, image_size=source.image_size
    )

    def numpy_batches() -> Iterator[tuple[NDArray[Any], NDArray[Any]]]:
        for images, labels in batches:
            yield np.asarray(images), np.asarray(labels)

    return numpy_batches()


def _require(verify: bool) -> None:
    if verify:
        require_interpreter()  # before minutes of conversion, not after


def _write_job(job: ExportJob, target: Path, document: dict[str, Any]) -> None:
    flatbuffer = convert(
        job.source, job.quantization, job.representative, target.parent / "scratch"
    )
    write(flatbuffer, target, document, list(job.source.class_names))


def _verify_job(job: ExportJob, target: Path) -> list[Check]:
    """:func:`verify`, with the validation data for a quantized file only (a float32 one
    is held to :data:`TOLERANCES` instead)."""
    validation = None if job.quantization == "float32" else job.validation
    return verify(
        job.source,
        target,
        job.quantization,
        job.sample,
        _labelled(validation, job.source),
        job.max_accuracy_drop,
    )


#: The LiteRT format, as :data:`flowerkit.export.api.EXPORTERS` lists it: a file in one of
#: the four quantizations (an int8 one takes uint8 pixels), checked on a reload by
#: :class:`~flowerkit.lite.LiteClassifier` (LiteRT is required only to verify).
#:
#: :meta hide-value:
EXPORTER = Exporter(
    name="tflite",
    is_directory=False,
    quantizes=True,
    input_name="images",
    input_dtype=lambda quantization: "uint8" if quantization == "int8" else "float32",
    require=_require,
    write=_write_job,
    verify=_verify_job,
)
