"""flowerkit: train, check, evaluate and ship image classifiers from a folder of photos.

Public names are imported lazily, so ``import flowerkit`` (and ``flowerkit --help``) does
not pay for importing TensorFlow until a function that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowerkit._tfenv import apply_defaults as _apply_tf_defaults
from flowerkit._version import __version__

_apply_tf_defaults()

if TYPE_CHECKING:
    from flowerkit.augment import augmentation_block
    from flowerkit.checking import DatasetReport, check_images
    from flowerkit.classifier import Classifier
    from flowerkit.data import Datasets, image_dataset, load_datasets
    from flowerkit.evaluation import EvaluationReport
    from flowerkit.exceptions import (
        ConfigError,
        DatasetError,
        FlowerkitError,
        ModelFileError,
        NotFittedError,
        UnreadableImageError,
    )
    from flowerkit.images import load_image
    from flowerkit.models import PresetSpec, build_model, get_preset, list_presets, register_preset
    from flowerkit.prediction import Prediction, Predictions

__all__ = [
    "Classifier",
    "ConfigError",
    "DatasetError",
    "DatasetReport",
    "Datasets",
    "EvaluationReport",
    "FlowerkitError",
    "ModelFileError",
    "NotFittedError",
    "Prediction",
    "Predictions",
    "PresetSpec",
    "UnreadableImageError",
    "__version__",
    "augmentation_block",
    "build_model",
    "check_images",
    "get_preset",
    "image_dataset",
    "list_presets",
    "load_datasets",
    "load_image",
    "register_preset",
]

_LAZY = {
    "augmentation_block": "flowerkit.augment",
    "DatasetReport": "flowerkit.checking",
    "check_images": "flowerkit.checking",
    "Classifier": "flowerkit.classifier",
    "Datasets": "flowerkit.data",
    "image_dataset": "flowerkit.data",
    "load_datasets": "flowerkit.data",
    "EvaluationReport": "flowerkit.evaluation",
    "ConfigError": "flowerkit.exceptions",
    "DatasetError": "flowerkit.exceptions",
    "FlowerkitError": "flowerkit.exceptions",
    "ModelFileError": "flowerkit.exceptions",
    "NotFittedError": "flowerkit.exceptions",
    "UnreadableImageError": "flowerkit.exceptions",
    "load_image": "flowerkit.images",
    "PresetSpec": "flowerkit.models",
    "build_model": "flowerkit.models",
    "get_preset": "flowerkit.models",
    "list_presets": "flowerkit.models",
    "register_preset": "flowerkit.models",
    "Prediction": "flowerkit.prediction",
    "Predictions": "flowerkit.prediction",
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
