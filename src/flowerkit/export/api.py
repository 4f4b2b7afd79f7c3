"""``export_model``: convert, write beside the target, reload and verify, then rename.

Every format goes the same way; what differs between them is the
:class:`~flowerkit.export.formats.Exporter` its module ends with, listed in
:data:`EXPORTERS`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from flowerkit.artifact import current_versions
from flowerkit.core import validation as v
from flowerkit.data import Datasets, LabelledData
from flowerkit.exceptions import ConfigError, ExportError
from flowerkit.export import onnx_model, saved_model, tflite
from flowerkit.export._files import check_target, staged
from flowerkit.export.checks import Check, synthetic_sample
from flowerkit.export.formats import Exporter, ExportJob
from flowerkit.export.samples import representative_images
from flowerkit.export.source import ExportSource
from flowerkit.lite import LiteMetadata, Quantization
from flowerkit.models.build import computes_in_bfloat16, float32_twin
from flowerkit.prediction import Scorer

__all__ = ["EXPORTERS", "FORMATS", "ExportFormat", "ExportResult", "export_model"]

#: The formats :func:`export_model` writes: a TensorFlow SavedModel folder, a LiteRT
#: ``.tflite`` file, an ONNX file.
ExportFormat = Literal["saved_model", "tflite", "onnx"]

#: Each format's :class:`~flowerkit.export.formats.Exporter`, by name. A new format is a
#: module in ``export/`` that ends with its ``EXPORTER``, one row here, and its name in
#: :data:`ExportFormat` for type checkers.
#:
#: :meta hide-value:
EXPORTERS: Mapping[ExportFormat, Exporter] = MappingProxyType(
    {
        "saved_model": saved_model.EXPORTER,
        "tflite": tflite.EXPORTER,
        "onnx": onnx_model.EXPORTER,
    }
)

#: The export formats (``"onnx"`` needs the ``onnx`` extra).
FORMATS: tuple[ExportFormat, ...] = tuple(EXPORTERS)

#: Images the float formats are compared with the Keras model on, taken from
#: ``representative_data`` when given (else synthetic).
VERIFY_IMAGES = 32


@dataclass(frozen=True)
class ExportResult:
    """What :meth:`Classifier.export <flowerkit.classifier.Classifier.export>` wrote and
    how it verified.

    Attributes:
        path: the file (``.tflite``) or folder (SavedModel) written.
        format: ``"saved_model"``, ``"tflite"`` or ``"onnx"``.
        quantization: for ``"tflite"``, the quantization; ``None`` otherwise.
        size_bytes: the size on disk (a folder's files added up).
        checks: the figures measured on a fresh reload (empty with ``verify=False``).

    Example:
        A tiny model exported to ONNX (the quickest format to write):

        >>> import keras
        >>> from flowerkit.export import ExportSource, export_model
        >>> from flowerkit.prediction import Scorer
        >>> inputs = keras.Input((16, 16, 3))
        >>> pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
        >>> model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
        >>> source = ExportSource(model, ("daisy", "roses"), (16, 16), Scorer(model, (16, 16)))
        >>> result = export_model(source, "tiny.onnx", "onnx")
        >>> result.path, result.format, result.quantization, result.size_bytes > 0
        (PosixPath('tiny.onnx'), 'onnx', None, True)
        >>> [(check.metric, check.passed) for check in result.checks]
        [('max_abs_diff', True), ('top1_agreement', True)]
        >>> sorted(result.to_dict())
        ['checks', 'format', 'path', 'quantization', 'size_bytes']
    """

    path: Path
    format: str
    quantization: str | None
    size_bytes: int
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "path": str(self.path),
            "format": self.format,
            "quantization": self.quantization,
            "size_bytes": self.size_bytes,
            "checks": [check.to_dict() for check in self.checks],
        }

    def __str__(self) -> str:
        kind = self.format if self.quantization is None else f"{self.format} {self.quantization}"
        checks = "; ".join(str(c) for c in self.checks) or "not verified"
        return f"{self.path} ({kind}, {self.size_bytes / 1e6:.1f} MB): {checks}"


def _runnable(source: ExportSource, exporter: Exporter) -> ExportSource:
    """``source``, or, for a format with no bfloat16 kernels (LiteRT, ONNX) and a
    ``precision="bfloat16"`` model, its float32 twin (the same weights), which the export
    is converted from and verified against."""
    if exporter.runs_bfloat16 or not computes_in_bfloat16(source.model):
        return source
    twin = float32_twin(source.model)
    outputs: Literal["logits", "probabilities"] = (
        "probabilities" if source.outputs == "probabilities" else "logits"
    )
    return replace(source, model=twin, scores=Scorer(twin, source.image_size, outputs))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _checked_exporter(
    format: ExportFormat, quantization: Quantization, representative_data: object
) -> Exporter:
    """The exporter of ``format``, once the format and quantization are known to go
    together."""
    v.check_choice(format, "format", FORMATS)
    v.check_choice(quantization, "quantization", tflite.QUANTIZATIONS)
    exporter = EXPORTERS[format]
    if not exporter.quantizes and quantization != "float32":
        quantizing = " or ".join(f"format={e.name!r}" for e in EXPORTERS.values() if e.quantizes)
        raise ConfigError(
            f"quantization={quantization!r} applies to {quantizing}; a {format} export is float32."
        )
    if quantization == "int8" and representative_data is None:
        raise ConfigError(
            "quantization='int8' calibrates on a sample of the training images: pass "
            "representative_data= (the Datasets you trained on, a folder or an array)."
        )
    return exporter


def _job(
    source: ExportSource,
    quantization: Quantization,
    representative_data: object,
    validation_data: object,
    max_accuracy_drop: float,
) -> ExportJob:
    """The export's images: up to 200 representative ones, and the sample of up to
    :data:`VERIFY_IMAGES` of them (synthetic without ``representative_data``)."""
    representative = (
        None
        if representative_data is None
        else representative_images(representative_data, source.image_size)
    )
    sample = (
        synthetic_sample(source.image_size)
        if representative is None
        else representative[:: max(1, len(representative) // VERIFY_IMAGES)][:VERIFY_IMAGES]
    )
    return ExportJob(
        source, quantization, representative, sample, validation_data, max_accuracy_drop
    )


def _document(
    exporter: Exporter, source: ExportSource, quantization: Quantization, licence: str
) -> Any:
    """The export's ``flowerkit.json``: the source's description, the input it takes,
    the versions exporting it now and the licence stated."""
    metadata = LiteMetadata.from_description(
        source.description,
        outputs="probabilities",
        quantization=quantization,
        input={
            "name": exporter.input_name,
            "dtype": exporter.input_dtype(quantization),
            "layout": "NHWC RGB, (N, height, width, 3)",
            "range": "0..255",
        },
        versions=current_versions(),
        exported_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        licence=licence,
    )
    return metadata.to_document(f"flowerkit.{exporter.name}")


def _verified(run: Callable[[], list[Check]], label: str, target: Path) -> list[Check]:
    """The checks ``run`` measures; an export that fails to load or run is an
    :class:`~flowerkit.ExportError`."""
    try:
        return run()
    except (ConfigError, ModuleNotFoundError):
        raise
    except Exception as exc:
        raise ExportError(
            f"The {label} export of {str(target)!r} did not run when reloaded, so nothing "
            f"was written: {exc}",
            format=label.split()[0],
        ) from exc


def _write_and_verify(
    exporter: Exporter, job: ExportJob, work: Path, target: Path, verify: bool, licence: str
) -> list[Check]:
    """Write the export at ``work`` and, with ``verify``, check it; a check that does not
    pass is an :class:`~flowerkit.ExportError` naming it."""
    exporter.write(job, work, _document(exporter, job.source, job.quantization, licence))
    if not verify:
        return []
    label = exporter.label(job.quantization)
    checks = _verified(lambda: exporter.verify(job, work), label, target)
    failed = [c for c in checks if not c.passed]
    if failed:
        raise ExportError(
            f"The {label} export of {str(target)!r} did not verify: "
            + "; ".join(str(c) for c in failed)
            + ". Nothing was written.",
            format=exporter.name,
        )
    return checks


def export_model(
    source: ExportSource,
    path: str | os.PathLike[str],
    format: ExportFormat = "saved_model",
    *,
    quantization: Quantization = "float32",
    representative_data: object = None,
    validation_data: LabelledData | None = None,
    max_accuracy_drop: float = 0.02,
    licence: str = "",
    verify: bool = True,
) -> ExportResult:
    """Export ``source`` to ``path``, reload what was written and verify it.

    :meth:`Classifier.export <flowerkit.classifier.Classifier.export>` is this function
    with the classifier's model; see it and ``docs/export.rst`` for the formats and the
    tolerances. The export is written beside ``path``, reloaded (plain TensorFlow for a
    SavedModel, the LiteRT interpreter for ``.tflite``, ONNX Runtime for ``.onnx``),
    compared with ``source.reference`` on a sample of images, and only then renamed into
    place.

    Args:
        source: the model and what travels with it (:class:`ExportSource`).
        path: the folder (SavedModel) or file (``.tflite``, ``.onnx``) to write; a
            previous export there is replaced.
        format: ``"saved_model"``, ``"tflite"`` or ``"onnx"`` (which needs the ``onnx``
            extra).
        quantization: for ``"tflite"``: ``"float32"``, ``"float16"``, ``"dynamic"`` or
            ``"int8"`` (which needs ``representative_data``); the other formats are
            float32.
        representative_data: training images for int8 calibration and the verification
            sample: a :class:`~flowerkit.data.Datasets` (its training files; its
            validation split is then the default ``validation_data``), a folder, a
            ``tf.data.Dataset`` or an array ``(N, H, W, 3)``. Up to 200 images are used,
            and up to 32 of them for the checks. Without it, the checks use synthetic
            images.
        validation_data: labelled data on which a quantized ``.tflite`` export's accuracy
            is compared with the Keras model's.
        max_accuracy_drop: the largest validation accuracy loss a quantized export may
            show (0.02: two points).
        licence: the model's licence (an SPDX name such as ``"CC-BY-4.0"``, or a
            sentence), written into ``flowerkit.json`` and, for ``.tflite``, the TFLite
            metadata's ``license`` field that MediaPipe and Android Studio show; ``""``
            states none.
        verify: reload and check the export (``False`` skips it; LiteRT is then not
            needed for a ``.tflite`` export).

    Returns:
        An :class:`ExportResult`: the path, format, size and checks.

    Raises:
        ~flowerkit.ConfigError: a bad argument: an unknown ``format`` or
            ``quantization``, a quantization other than float32 for a SavedModel or ONNX,
            int8 without ``representative_data``, unusable ``representative_data``, or
            ``validation_data`` that is a Datasets without a validation split.
        ~flowerkit.ExportError: ``path`` is not something an export may replace (a file
            for a SavedModel, a folder for a file, or a folder of other files), the
            conversion failed, the export did not run when reloaded, or a check did not
            pass (naming the figure); nothing is written.
        ModuleNotFoundError: ``ai-edge-litert`` (a verified ``.tflite`` export) or
            tf2onnx/onnxruntime (``"onnx"``) is not installed; raised before converting.

    Example:
        >>> import keras
        >>> from flowerkit.export import ExportSource, export_model
        >>> from flowerkit.prediction import Scorer
        >>> inputs = keras.Input((16, 16, 3))
        >>> pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
        >>> model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
        >>> source = ExportSource(model, ("daisy", "roses"), (16, 16), Scorer(model, (16, 16)))
        >>> print(export_model(source, "tiny.onnx", "onnx"))
        tiny.onnx (onnx, 0.0 MB): onnx max_abs_diff ... (limit 0.0001); onnx top1_agreement 1
        >>> export_model(source, "tiny_model", quantization="int8")
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: quantization='int8' applies to format='tflite'; a saved_model
        export is float32.
    """
    exporter = _checked_exporter(format, quantization, representative_data)
    max_accuracy_drop = v.check_non_negative_float(max_accuracy_drop, "max_accuracy_drop")
    licence = v.check_one_line(licence, "licence", example="CC-BY-4.0")
    if validation_data is None and isinstance(representative_data, Datasets):
        validation_data = representative_data if representative_data.validation else None
    target = Path(path).expanduser()
    check_target(target, directory=exporter.is_directory, format=exporter.name)
    exporter.require(verify)  # before minutes of conversion, not after
    source = _runnable(source, exporter)
    job = _job(source, quantization, representative_data, validation_data, max_accuracy_drop)
    with staged(target) as work:
        checks = _write_and_verify(exporter, job, work, target, verify, licence)
        size = _size(work)
    kept_quantization = quantization if exporter.quantizes else None
    return ExportResult(target, exporter.name, kept_quantization, size, tuple(checks))
