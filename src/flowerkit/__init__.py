"""flowerkit: train, check, evaluate and ship image classifiers from a folder of photos.

Public names are imported lazily, so ``import flowerkit`` (and ``flowerkit --help``) does
not pay for importing TensorFlow until a function that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowerkit._version import __version__
from flowerkit.core.runtime import apply_defaults as _apply_import_defaults

# Only what must be set before TensorFlow starts (see flowerkit.core.runtime).
_apply_import_defaults()

if TYPE_CHECKING:
    from flowerkit.auditing import AuditReport, audit
    from flowerkit.classifier import Classifier
    from flowerkit.core.options import RECIPE
    from flowerkit.data import DatasetReport, Datasets, check_images, image_dataset, load_datasets
    from flowerkit.evaluation import EvaluationReport
    from flowerkit.exceptions import (
        BadFilesWarning,
        ConfigError,
        DatasetError,
        DistributedError,
        DownloadError,
        ExportError,
        FlowerkitError,
        FlowerkitWarning,
        ModelFileError,
        NotFittedError,
        PlanError,
        RecipeWarning,
        UnknownPresetError,
        UnreadableImageError,
        VersionMismatchWarning,
    )
    from flowerkit.images import load_image
    from flowerkit.models import (
        PresetSpec,
        TrainingRecipe,
        augmentation_block,
        build_model,
        get_preset,
        list_presets,
        register_preset,
    )
    from flowerkit.prediction import FailedInput, Prediction, Predictions
    from flowerkit.training.distribute import make_strategy

__all__ = [
    "AuditReport",
    "BadFilesWarning",
    "Classifier",
    "ConfigError",
    "DatasetError",
    "DatasetReport",
    "Datasets",
    "DistributedError",
    "DownloadError",
    "EvaluationReport",
    "ExportError",
    "FailedInput",
    "FlowerkitError",
    "FlowerkitWarning",
    "ModelFileError",
    "NotFittedError",
    "PlanError",
    "Prediction",
    "Predictions",
    "PresetSpec",
    "RECIPE",
    "RecipeWarning",
    "TrainingRecipe",
    "UnknownPresetError",
    "UnreadableImageError",
    "VersionMismatchWarning",
    "__version__",
    "audit",
    "augmentation_block",
    "build_model",
    "check_images",
    "get_preset",
    "image_dataset",
    "list_presets",
    "load_datasets",
    "load_image",
    "make_strategy",
    "register_preset",
]

#: Where each public name lives; imported on first use.
_LAZY = {
    "AuditReport": "flowerkit.auditing",
    "audit": "flowerkit.auditing",
    "Classifier": "flowerkit.classifier",
    **dict.fromkeys(
        ["DatasetReport", "Datasets", "check_images", "image_dataset", "load_datasets"],
        "flowerkit.data",
    ),
    "EvaluationReport": "flowerkit.evaluation",
    **dict.fromkeys(
        [
            "BadFilesWarning",
            "ConfigError",
            "DatasetError",
            "DistributedError",
            "DownloadError",
            "ExportError",
            "FlowerkitError",
            "FlowerkitWarning",
            "ModelFileError",
            "NotFittedError",
            "PlanError",
            "RecipeWarning",
            "UnknownPresetError",
            "UnreadableImageError",
            "VersionMismatchWarning",
        ],
        "flowerkit.exceptions",
    ),
    "load_image": "flowerkit.images",
    **dict.fromkeys(
        [
            "PresetSpec",
            "TrainingRecipe",
            "augmentation_block",
            "build_model",
            "get_preset",
            "list_presets",
            "register_preset",
        ],
        "flowerkit.models",
    ),
    **dict.fromkeys(["FailedInput", "Prediction", "Predictions"], "flowerkit.prediction"),
    "make_strategy": "flowerkit.training.distribute",
    "RECIPE": "flowerkit.core.options",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowerkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
