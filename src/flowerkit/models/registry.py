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
    """What a preset's builder looks like: a function that builds one uncompiled model.

    :func:`register_preset` registers one; :func:`~flowerkit.models.build_model` checks the
    arguments, then calls it as ``builder(num_classes, image_size=..., augmentation=...,
    dropout=..., **options)``.

    Args:
        num_classes: how many logits the model returns (at least 2).
        image_size: the ``(height, width)`` of the images it takes.
        augmentation: the augmentation layer to apply first, on the raw 0..255 pixels, or
            ``None`` for none.
        dropout: the dropout rate (0 for none).
        **options: the preset's own options (:attr:`PresetSpec.options`).

    Returns:
        A ``keras.Model`` mapping raw 0..255 ``(N, height, width, 3)`` images to
        ``num_classes`` logits; it rescales inside, so a saved model takes raw pixels.

    Example:
        >>> import keras
        >>> def tiny_cnn(num_classes, *, image_size, augmentation, dropout, **options):
        ...     inputs = keras.Input((*image_size, 3))
        ...     x = inputs if augmentation is None else augmentation(inputs)
        ...     x = keras.layers.Rescaling(1 / 255)(x)
        ...     x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        ...     x = keras.layers.GlobalAveragePooling2D()(x)
        ...     x = keras.layers.Dropout(dropout)(x)
        ...     return keras.Model(inputs, keras.layers.Dense(num_classes)(x))
        >>> tiny_cnn(3, image_size=(32, 32), augmentation=None, dropout=0.1).output_shape
        (None, 3)
    """

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
    :func:`~flowerkit.models.build_model` calls it when the user asks for augmentation
    (``augmentation=True``, or ``None`` with ``augment_by_default``) without passing a layer.

    Args:
        seed: the ``seed`` given to ``build_model`` (``None``: unseeded), to make the
            random draws repeatable.
        image_size: the ``(height, width)`` the model takes.

    Returns:
        A Keras layer that transforms raw 0..255 pixels in training and is the identity
        (or a plain resize) at inference.

    Example:
        The ``compact`` preset's factory crops to the network's resolution (112x112 at
        most), so it needs the image size:

        >>> from flowerkit.models import get_preset
        >>> factory = get_preset("compact").augmentation
        >>> block = factory(0, (160, 160))
        >>> [layer.__class__.__name__ for layer in block.layers]
        ['RandomResizedCrop', 'RandomFlip', 'RandomContrast', 'RandomBrightness']
        >>> block.compute_output_shape((None, 160, 160, 3))
        (None, 112, 112, 3)
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
            preset can start from (a transfer preset);
            :func:`flowerkit.models.local_weights.find_weights` looks for them in the
            weights folders.

    Example:
        >>> from flowerkit.models import get_preset
        >>> spec = get_preset("compact")
        >>> spec.image_size, spec.augment_by_default, spec.dropout, spec.options
        ((160, 160), True, 0.2, ('width',))
        >>> spec.recipe.schedule, spec.recipe.epochs, spec.pretrained_weights
        ('linear', 40, ())
        >>> get_preset("mobilenet_v2").pretrained_weights  # files find_weights looks for
        ('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_*_no_top.h5',
         'mobilenet_v2_1.0_*_no_top.weights.h5')
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
            :func:`flowerkit.models.local_weights.find_weights`.
        overwrite: replace a preset already registered as ``name``.

    Returns:
        The decorator; it registers the builder and returns it unchanged.

    Raises:
        ~flowerkit.ConfigError: ``name`` is not an identifier or ``image_size``
            is not a valid size; or, when the decorator is applied, ``name`` is already
            registered and ``overwrite`` is false.

    Example:
        Registration lasts for the Python process, so this example leaves ``my_cnn``
        registered:

        >>> import keras
        >>> import flowerkit as fk
        >>> @fk.register_preset("my_cnn", description="One conv layer.", image_size=(32, 32))
        ... def my_cnn(num_classes, *, image_size, augmentation, dropout):
        ...     inputs = keras.Input((*image_size, 3))
        ...     x = inputs if augmentation is None else augmentation(inputs)
        ...     x = keras.layers.Rescaling(1 / 255)(x)
        ...     x = keras.layers.Conv2D(8, 3, activation="relu")(x)
        ...     x = keras.layers.GlobalAveragePooling2D()(x)
        ...     return keras.Model(inputs, keras.layers.Dense(num_classes)(x))
        >>> fk.build_model(3, preset="my_cnn").input_shape
        (None, 32, 32, 3)
        >>> fk.register_preset("my_cnn", description="Again.")(my_cnn)
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: A preset named 'my_cnn' is already registered; pass
        overwrite=True to replace it.
        >>> _ = fk.register_preset("my_cnn", description="Again.", overwrite=True)(my_cnn)
        >>> fk.get_preset("my_cnn").description
        'Again.'
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

    Returns:
        The matching names, sorted: the built-in presets and any registered since.

    Example:
        >>> from flowerkit.models import list_presets
        >>> list_presets("mobile*")
        ['mobilenet_v2']
        >>> {"compact", "mobilenet_v2", "tutorial"} <= set(list_presets())
        True
    """
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_preset(name: str) -> PresetSpec:
    """The :class:`PresetSpec` registered as ``name``.

    Args:
        name: a preset's name, as :func:`list_presets` gives it.

    Returns:
        The preset's :class:`PresetSpec`.

    Raises:
        ~flowerkit.UnknownPresetError: no preset is registered as ``name``; the
            message suggests close names and lists the available ones.

    Example:
        >>> from flowerkit.models import get_preset
        >>> get_preset("tutorial").image_size
        (180, 180)
        >>> get_preset("tutorail")
        Traceback (most recent call last):
        ...
        flowerkit.UnknownPresetError: No preset named 'tutorail'. Did you mean 'tutorial'?
        Available presets: ...
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownPresetError(
            f"No preset named {name!r}.{hint} Available presets: {', '.join(sorted(_REGISTRY))}."
        ) from None
