"""The preset registry.

A preset is a named recipe for a Keras model that takes raw ``uint8``/0..255 images of a
given size and returns one logit per class. Each preset is a :class:`PresetSpec`; users add
their own with :func:`register_preset`. Every preset rescales inside the model, so a saved
model takes raw pixels.

The built-in presets register themselves when :mod:`flowerkit.models` is imported, which
Python does before any of its modules (this one included) can be used: the registry is
never seen without them, whatever touches it first.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flowerkit.core import validation as v
from flowerkit.exceptions import ConfigError, UnknownPresetError
from flowerkit.models.recipe import TrainingRecipe

if TYPE_CHECKING:
    import keras

__all__ = [
    "AugmentationFactory",
    "ModelBuilder",
    "PresetSpec",
    "get_preset",
    "list_presets",
    "register_preset",
]


class ModelBuilder(Protocol):
    """What a preset's builder looks like."""

    def __call__(
        self,
        num_classes: int,
        *,
        image_size: tuple[int, int],
        augmentation: keras.layers.Layer | None,
        dropout: float,
        **options: Any,
    ) -> keras.Model: ...


class AugmentationFactory(Protocol):
    """What a preset's augmentation factory looks like.

    It is called as ``factory(seed, image_size)`` and returns the augmentation layer for a
    model built with ``seed`` at ``image_size`` (the size images are fed at).
    """

    def __call__(self, seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer: ...


@dataclass(frozen=True)
class PresetSpec:
    """A registered model preset (see :func:`register_preset`).

    Attributes:
        name: the preset's name, an identifier.
        builder: the :class:`ModelBuilder` that builds its model.
        description: what the model is, for people.
        image_size: ``(height, width)`` its models take by default.
        augment_by_default: whether ``augmentation=None`` means "use :attr:`augmentation`
            (a factory)".
        augmentation: its :class:`AugmentationFactory`, or ``None`` for flowerkit's default
            block (:func:`~flowerkit.models.augmentation_block`).
        dropout: its default dropout rate.
        recipe: how its models are trained when the user does not say otherwise.
        options: keyword options the builder accepts beyond the standard ones (for docs
            and checks).
        pretrained_weights: shell-style file names of local pretrained weights files the
            preset can start from (a transfer preset); :func:`flowerkit.models.weights.find_weights`
            looks for them in the weights folders.
    """

    name: str
    builder: ModelBuilder
    description: str
    image_size: tuple[int, int]
    augment_by_default: bool = False
    augmentation: AugmentationFactory | None = None
    dropout: float = 0.0
    recipe: TrainingRecipe = field(default_factory=TrainingRecipe)
    options: tuple[str, ...] = ()
    pretrained_weights: tuple[str, ...] = ()


_REGISTRY: dict[str, PresetSpec] = {}


def register_preset(
    name: str,
    *,
    description: str,
    image_size: tuple[int, int] = (180, 180),
    augment_by_default: bool = False,
    augmentation: AugmentationFactory | None = None,
    dropout: float = 0.0,
    recipe: TrainingRecipe | None = None,
    options: tuple[str, ...] = (),
    pretrained_weights: tuple[str, ...] = (),
    overwrite: bool = False,
) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator that registers a model builder as a preset.

    The builder is called as ``builder(num_classes, image_size=..., augmentation=...,
    dropout=..., **options)`` and must return a ``keras.Model`` that maps raw 0..255 images
    to ``num_classes`` logits.

    Args:
        name: the preset's name, an identifier like ``"my_cnn"``.
        description: what the model is, for people.
        image_size: the ``(height, width)`` its models take unless the user gives one.
        augment_by_default: whether the preset augments when the user does not say.
        augmentation: a factory ``(seed, image_size) -> layer`` (an
            :class:`AugmentationFactory`) used when the user asks for augmentation without
            passing a layer.
        dropout: the default dropout rate.
        recipe: how its models are trained when the user does not say otherwise (default:
            a plain :class:`~flowerkit.TrainingRecipe`).
        options: keyword options the builder accepts beyond the standard ones
            (:func:`~flowerkit.models.build_model` rejects any other).
        pretrained_weights: shell-style names of local weights files the preset starts
            from (a transfer preset that declares a ``weights`` option); see
            :func:`flowerkit.models.weights.find_weights`.
        overwrite: replace a preset already registered as ``name``.

    Returns:
        The decorator; it registers the builder and returns it unchanged.

    Raises:
        ~flowerkit.ConfigError: ``name`` is not an identifier or ``image_size``
            is not a valid size; or, when the decorator is applied, ``name`` is already
            registered and ``overwrite`` is false.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(
            f"Preset names must be identifiers like 'my_cnn'. Received: name={name!r}"
        )
    size = v.check_image_size(image_size)

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        if name in _REGISTRY and not overwrite:
            raise ConfigError(
                f"A preset named {name!r} is already registered; pass overwrite=True to replace it."
            )
        _REGISTRY[name] = PresetSpec(
            name=name,
            builder=builder,
            description=description,
            image_size=size,
            augment_by_default=augment_by_default,
            augmentation=augmentation,
            dropout=dropout,
            recipe=recipe or TrainingRecipe(),
            options=options,
            pretrained_weights=pretrained_weights,
        )
        return builder

    return decorator


def list_presets(pattern: str = "*") -> list[str]:
    """Names of the registered presets matching a shell-style ``pattern``, sorted.

    Args:
        pattern: a case-sensitive shell-style pattern (``"mobile*"``); the default matches
            every preset.
    """
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_preset(name: str) -> PresetSpec:
    """The :class:`PresetSpec` registered as ``name``.

    Raises:
        ~flowerkit.UnknownPresetError: no preset is registered as ``name``; the
            message suggests close names and lists the available ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownPresetError(
            f"No preset named {name!r}.{hint} Available presets: {', '.join(sorted(_REGISTRY))}."
        ) from None
