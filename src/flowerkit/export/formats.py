"""What an export format tells :func:`~flowerkit.export.export_model`: one
:class:`Exporter` per format module, listed in :data:`flowerkit.export.api.EXPORTERS`.

``export_model`` checks the arguments, prepares the images (an :class:`ExportJob`) and
then, for whichever format, writes the export with its ``flowerkit.json`` into a staging
folder, verifies it on a reload and renames it into place. What differs between formats
is only what an :class:`Exporter` holds, so a new format is one module in ``export/``
that ends with its ``EXPORTER``, and one row in ``EXPORTERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowerkit.export.checks import Check
from flowerkit.export.source import ExportSource
from flowerkit.lite import Quantization

__all__ = ["ExportJob", "Exporter"]


@dataclass(frozen=True)
class ExportJob:
    """One export as :func:`~flowerkit.export.export_model` was asked for it, its
    arguments checked and its images ready.

    Args:
        source: the model and what travels with it.
        quantization: the quantization (``"float32"`` for a format that does not
            quantize).
        representative: up to 200 training images at the model's size, for int8
            calibration (``None``: no ``representative_data`` was given).
        sample: the images the export is verified on.
        validation: the labelled data a quantized export's accuracy is compared on
            (``validation_data``, as given), or ``None``.
        max_accuracy_drop: the largest validation accuracy loss allowed.

    Example:
        >>> import dataclasses
        >>> from flowerkit.export.formats import ExportJob
        >>> [field.name for field in dataclasses.fields(ExportJob)]
        ['source', 'quantization', 'representative', 'sample', 'validation',
         'max_accuracy_drop']
    """

    source: ExportSource
    quantization: Quantization
    representative: NDArray[np.uint8] | None
    sample: NDArray[np.uint8]
    validation: object
    max_accuracy_drop: float


@dataclass(frozen=True)
class Exporter:
    """One export format: what it writes, what it needs and how it is checked.

    Args:
        name: the ``format`` argument that selects it (``"tflite"``).
        is_directory: it writes a folder (a SavedModel), not a file.
        quantizes: it takes a ``quantization`` other than ``"float32"``.
        input_name: the input's name, recorded in ``flowerkit.json`` (``input.name``).
        input_dtype: the input's type for a quantization, recorded as ``input.dtype``.
        require: called with ``verify`` before any conversion: raises
            ``ModuleNotFoundError`` (saying what to install) when the converter or, when
            verifying, the runtime is missing.
        write: writes the export of a job to a path (in a staging folder of its own, so
            scratch files may go beside it) with the ``flowerkit.json`` document;
            raises :class:`~flowerkit.ExportError` when the conversion fails.
        verify: reloads what was written at a path and returns the checks measured.
        runs_bfloat16: it runs a ``bfloat16`` model as it is; otherwise such a model
            is converted (and verified against) as its float32 twin, same weights.

    Example:
        >>> from flowerkit.export.api import EXPORTERS
        >>> tflite = EXPORTERS["tflite"]
        >>> tflite.name, tflite.is_directory, tflite.quantizes, tflite.input_dtype("int8")
        ('tflite', False, True, 'uint8')
        >>> tflite.label("float16"), EXPORTERS["saved_model"].label("float32")
        ('tflite float16', 'saved_model')
    """

    name: str
    is_directory: bool
    quantizes: bool
    input_name: str
    input_dtype: Callable[[Quantization], str]
    require: Callable[[bool], None]
    write: Callable[[ExportJob, Path, dict[str, Any]], None]
    verify: Callable[[ExportJob, Path], list[Check]]
    runs_bfloat16: bool = False

    def label(self, quantization: Quantization) -> str:
        """How messages name an export of this format: ``"tflite float16"``, ``"onnx"``.

        Args:
            quantization: the export's quantization.

        Returns:
            The name, with the quantization for a format that quantizes.
        """
        return f"{self.name} {quantization}" if self.quantizes else self.name
