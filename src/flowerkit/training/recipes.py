"""Which :class:`~flowerkit.TrainingRecipe` a classifier trains by.

The recipe travels with the model: ``Classifier.save`` writes the one it trained by and
``Classifier.load`` reads it back, so a model fine-tunes by its own recipe wherever it is
loaded, its preset registered there or not. Where no recipe was saved, the rule is:

- a model without a preset trains by the default ``TrainingRecipe()``, as always;
- a model of a registered preset trains by that preset's recipe as registered now;
- a model of a preset that is not registered trains by the default recipe.

Each of the last two is a guess for a file saved before recipes were (or a preset that
is not registered here), and the classifier says so with a
:class:`~flowerkit.RecipeWarning` when it first trains or shows its recipe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flowerkit.exceptions import UnknownPresetError
from flowerkit.models import TrainingRecipe, get_preset

__all__ = ["for_preset", "from_saved", "to_saved"]

_FIELDS = {f.name: f for f in dataclasses.fields(TrainingRecipe)}


def for_preset(preset: str | None) -> tuple[TrainingRecipe, str]:
    """The recipe of ``preset`` and, when it is a guess, why (else ``""``).

    Example:
        >>> from flowerkit.training.recipes import for_preset
        >>> recipe, guess = for_preset("compact")
        >>> recipe.epochs, guess
        (40, '')
        >>> print(for_preset("my_own")[1])
        No preset 'my_own' is registered here, so the classifier trains by the default
        TrainingRecipe(); register the preset first, or pass recipe=... to Classifier.
    """
    if preset is None:
        return TrainingRecipe(), ""
    try:
        return get_preset(preset).recipe, ""
    except UnknownPresetError:
        return TrainingRecipe(), (
            f"No preset {preset!r} is registered here, so the classifier trains by the "
            "default TrainingRecipe(); register the preset first, or pass recipe=... to "
            "Classifier."
        )


def from_saved(saved: Mapping[str, Any] | None, preset: str | None) -> tuple[TrainingRecipe, str]:
    """The recipe a saved model trains by, and why it is a guess (``""`` when saved).

    Args:
        saved: the recipe as saved (:func:`to_saved`), or ``None`` for a model saved
            before recipes were.
        preset: the model's preset.

    Raises:
        ValueError: a saved field of the wrong type.

    Example:
        >>> from flowerkit.training.recipes import from_saved, to_saved
        >>> import flowerkit as fk
        >>> from_saved(to_saved(fk.TrainingRecipe(label_smoothing=0.1)), "mine")[0].label_smoothing
        0.1
    """
    if saved is None:
        recipe, why = for_preset(preset)
        if preset is None or why:
            return recipe, why
        return recipe, (
            "This model was saved before flowerkit kept the training recipe in the file, "
            f"so it trains by the {preset!r} preset's recipe as registered now."
        )
    values: dict[str, Any] = {}
    for name, value in saved.items():
        if name not in _FIELDS:
            continue  # a field of a newer flowerkit: its default is the old behaviour
        if not isinstance(value, str | int | float | bool | type(None)):
            raise ValueError(f"recipe.{name} must be a JSON scalar, not {value!r:.60}")
        values[name] = value
    return TrainingRecipe(**values), ""


def to_saved(recipe: TrainingRecipe) -> dict[str, Any]:
    """``recipe`` as a JSON object, for the model file."""
    return dataclasses.asdict(recipe)
