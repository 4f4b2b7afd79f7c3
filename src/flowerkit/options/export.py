"""The options of ``Classifier.export`` and :func:`flowerkit.export.export_model` that
``flowerkit export`` repeats, declared once (see :mod:`flowerkit.core.options`). Imports
no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowerkit.core.options import Flag, Options, option

if TYPE_CHECKING:
    from flowerkit.data import LabelledData
    from flowerkit.lite import Quantization

__all__ = ["QUANTIZATIONS", "ExportOptions"]

#: The quantizations of a ``.tflite`` export.
QUANTIZATIONS: tuple[Quantization, ...] = ("float32", "float16", "dynamic", "int8")


@dataclass(frozen=True, kw_only=True)
class ExportOptions(Options):
    """How a model is exported and verified (see ``Classifier.export``).

    Example:
        >>> from flowerkit.options.export import ExportOptions
        >>> ExportOptions.spec("quantization").flag.choices
        ('float32', 'float16', 'dynamic', 'int8')
    """

    quantization: Quantization = option(
        "float32",
        help="for a tflite export (int8 needs --representative-data)",
        flag=Flag(choices=QUANTIZATIONS),
    )
    representative_data: object = option(
        None,
        help="training photos to calibrate int8 on and verify with (up to 200 are used)",
        flag=Flag("DIR"),
    )
    validation_data: LabelledData | None = option(
        None,
        help="class sub-folders on which a quantized export's accuracy is compared",
        flag=Flag("DIR"),
    )
    max_accuracy_drop: float = option(
        0.02,
        help="fail a quantized export that loses more validation accuracy",
        flag=Flag("F", parse=float),
    )
    licence: str = option(
        "",
        help="the model's licence (e.g. CC-BY-4.0), written into the export's metadata",
        flag=Flag("TEXT"),
    )
    verify: bool = option(
        True,
        help="reload the export and compare it with the model",
        flag=Flag(kind="negatable"),
    )
