"""Shipping a trained classifier: a SavedModel that plain TensorFlow serves, and a LiteRT
(``.tflite``) file that :mod:`flowerkit.lite` runs without TensorFlow.

* :mod:`flowerkit.export.api`: :func:`export_model`, its :class:`ExportResult` and the
  table of formats, ``EXPORTERS``;
* :mod:`flowerkit.export.formats`: the :class:`~flowerkit.export.formats.Exporter` each
  format module ends with;
* :mod:`flowerkit.export.saved_model`: the two serving signatures;
* :mod:`flowerkit.export.tflite`: conversion and the four quantizations;
* :mod:`flowerkit.export.tflite_metadata`: the standard TFLite metadata (labels,
  normalisation) that MediaPipe Tasks and the LiteRT support libraries read;
* :mod:`flowerkit.export.onnx_model`: the ONNX file;
* :mod:`flowerkit.export.graph_decode`: decoding encoded images in the graph;
* :mod:`flowerkit.export.checks`: the figures an export is verified by;
* :mod:`flowerkit.export.samples`: the images it is calibrated and verified on.

Every export is written beside its target, reloaded and checked against the Keras model,
then renamed into place: a failed check raises :class:`~flowerkit.ExportError` and leaves
nothing behind. Nothing here imports TensorFlow until an export runs.
"""

from __future__ import annotations

from flowerkit.export.api import FORMATS, ExportFormat, ExportResult, export_model
from flowerkit.export.checks import Check
from flowerkit.export.source import ExportSource
from flowerkit.export.tflite import QUANTIZATIONS

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "Check",
    "ExportFormat",
    "ExportResult",
    "ExportSource",
    "export_model",
]
