"""Models: the preset registry, the built-in presets (one module each, registered when this
package is imported), ``build_model``, augmentation and flowerkit's custom Keras layers.

Importing this package does not import TensorFlow; :mod:`flowerkit.models.layers` does.
"""

from __future__ import annotations

# Registers the built-in presets; after the registry, before anything can look one up.
from flowerkit.models import presets as _builtin_presets  # noqa: F401
from flowerkit.models.augment import augmentation_block
from flowerkit.models.build import build_model
from flowerkit.models.recipe import TrainingRecipe
from flowerkit.models.registry import (
    AugmentationFactory,
    ModelBuilder,
    PresetSpec,
    get_preset,
    list_presets,
    register_preset,
)

__all__ = [
    "AugmentationFactory",
    "ModelBuilder",
    "PresetSpec",
    "TrainingRecipe",
    "augmentation_block",
    "build_model",
    "get_preset",
    "list_presets",
    "register_preset",
]
