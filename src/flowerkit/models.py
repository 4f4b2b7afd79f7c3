"""The preset registry and ``build_model``.

A preset is a named recipe for a Keras model that takes raw ``uint8``/0..255 images of a
given size and returns one logit per class. Each preset is a :class:`PresetSpec`; users add
their own with :func:`register_preset`. Every preset rescales inside the model, so a saved
model takes raw pixels.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flowerkit import _validation as v
from flowerkit.augment import augmentation_block
from flowerkit.exceptions import ConfigError, UnknownPresetError

if TYPE_CHECKING:
    import keras

__all__ = [
    "AugmentationFactory",
    "ModelBuilder",
    "PresetSpec",
    "TrainingRecipe",
    "build_model",
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
    """What a preset's augmentation factory looks like: it returns the augmentation layer
    for a model built with ``seed`` at ``image_size`` (the size images are fed at)."""

    def __call__(self, seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer: ...


def _default_augmentation(seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer:
    return augmentation_block(seed=seed)


@dataclass(frozen=True)
class TrainingRecipe:
    """How ``Classifier.fit`` compiles a preset's model when the user passes no optimizer.

    ``schedule="cosine"`` decays the learning rate to zero over each ``fit`` call's
    epochs, or by the end of its ``time_budget`` when that comes first (after
    ``warmup_epochs`` of linear warm-up); ``"constant"`` keeps it.
    ``recalibrate_batchnorm=True`` makes ``fit`` re-estimate the batch-norm statistics on
    the un-augmented training images when training ends (one forward pass over them, kept
    inside any ``time_budget``), whichever optimizer is used.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    recalibrate_batchnorm: bool = False


@dataclass(frozen=True)
class PresetSpec:
    """A registered model preset."""

    name: str
    builder: ModelBuilder
    description: str
    image_size: tuple[int, int]
    #: Whether ``augmentation=None`` means "use :attr:`augmentation` (a factory)".
    augment_by_default: bool = False
    augmentation: AugmentationFactory | None = None
    dropout: float = 0.0
    recipe: TrainingRecipe = field(default_factory=TrainingRecipe)
    #: Keyword options the builder accepts beyond the standard ones (for docs and checks).
    options: tuple[str, ...] = ()


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
    overwrite: bool = False,
) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator that registers a model builder as a preset.

    The builder is called as ``builder(num_classes, image_size=..., augmentation=...,
    dropout=..., **options)`` and must return a ``keras.Model`` that maps raw 0..255 images
    to ``num_classes`` logits. ``augmentation`` is a factory ``(seed, image_size) -> layer``
    (an :class:`AugmentationFactory`) used when the user asks for augmentation without
    passing a layer. Registering an existing name raises
    :class:`~flowerkit.exceptions.ConfigError` unless ``overwrite=True``.
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
        )
        return builder

    return decorator


def _ensure_builtin() -> None:
    if "tutorial" not in _REGISTRY:
        from flowerkit import _presets  # noqa: F401  (registers the built-in presets)


def list_presets(pattern: str = "*") -> list[str]:
    """Names of the registered presets matching a shell-style ``pattern``, sorted."""
    _ensure_builtin()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_preset(name: str) -> PresetSpec:
    """The :class:`PresetSpec` registered as ``name``; suggests close names when unknown."""
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownPresetError(
            f"No preset named {name!r}.{hint} Available presets: {', '.join(sorted(_REGISTRY))}."
        ) from None


def build_model(
    num_classes: int,
    *,
    image_size: tuple[int, int] | int | None = None,
    preset: str = "tutorial",
    augmentation: keras.layers.Layer | bool | None = None,
    dropout: float | None = None,
    seed: int | None = None,
    **options: Any,
) -> keras.Model:
    """Build an uncompiled model from a preset.

    ``image_size`` defaults to the preset's. ``augmentation`` is a layer (e.g.
    :func:`~flowerkit.augment.augmentation_block`), ``True`` for the preset's own block,
    ``False`` for none, or ``None`` for the preset's default. ``dropout`` defaults to the
    preset's rate. ``seed`` seeds Keras' global random state before building, so the
    initial weights and augmentation draws are reproducible. Extra ``options`` go to the
    builder (see :attr:`PresetSpec.options`).

    ``build_model(5, preset="tutorial")`` is the TensorFlow tutorial's CNN (3,989,285
    parameters at 180x180); ``augmentation=augmentation_block(), dropout=0.2`` is its
    regularised version.
    """
    spec = get_preset(preset)
    num_classes = v.check_positive_int(num_classes, "num_classes", minimum=2)
    size = spec.image_size if image_size is None else v.check_image_size(image_size)
    rate = (
        spec.dropout if dropout is None else v.check_fraction(dropout, "dropout", allow_zero=True)
    )
    seed = v.check_seed(seed)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ConfigError(
            f"Preset {preset!r} does not take {unknown}; it takes "
            f"{list(spec.options) or 'no extra options'}."
        )
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    layer: keras.layers.Layer | None
    if augmentation is None:
        augmentation = spec.augment_by_default
    if augmentation is True:
        layer = (spec.augmentation or _default_augmentation)(seed, size)
    elif augmentation is False:
        layer = None
    elif isinstance(augmentation, keras.layers.Layer):
        layer = augmentation
    else:
        raise ConfigError(
            "`augmentation` must be a Keras layer, True, False or None. "
            f"Received: augmentation={augmentation!r}"
        )
    return spec.builder(num_classes, image_size=size, augmentation=layer, dropout=rate, **options)
