"""``build_model``: a Keras model from a registered preset."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from flowerkit.core import validation as v
from flowerkit.core.cpu import native_bfloat16
from flowerkit.exceptions import ConfigError
from flowerkit.models.augment import augmentation_block
from flowerkit.models.registry import PresetSpec, get_preset

if TYPE_CHECKING:
    import keras

__all__ = [
    "PRECISIONS",
    "Precision",
    "build_config",
    "build_model",
    "computes_in_bfloat16",
    "float32_twin",
]

Precision = Literal["float32", "bfloat16"]

#: The values of ``build_model(precision=...)``.
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")


def _default_augmentation(seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer:
    return augmentation_block(seed=seed)


@contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Build layers under Keras' dtype policy ``name``, then restore the previous one."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_precision(precision: object) -> str:
    """Check ``precision``; ``"bfloat16"`` only where it runs in hardware.

    Raises:
        ~flowerkit.ConfigError: another value, or ``"bfloat16"`` on a machine with neither
            a GPU nor a CPU with AVX512_BF16 or AMX.
    """
    v.check_choice(precision, "precision", PRECISIONS)
    if precision == "bfloat16" and not native_bfloat16():
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            raise ConfigError(
                "precision='bfloat16' needs a GPU or a CPU with AVX512_BF16 or AMX; this "
                "CPU has neither, so TensorFlow would emulate bfloat16, slower than "
                "float32. Use precision='float32' (the default)."
            )
    return str(precision)


def build_model(
    num_classes: int,
    *,
    image_size: tuple[int, int] | int | None = None,
    preset: str | PresetSpec = "tutorial",
    augmentation: keras.layers.Layer | bool | None = None,
    dropout: float | None = None,
    seed: int | None = None,
    precision: Precision = "float32",
    **options: Any,
) -> keras.Model:
    """Build an uncompiled model from a preset.

    ``build_model(5, preset="tutorial")`` is the TensorFlow tutorial's CNN (3,989,285
    parameters at 180x180); ``augmentation=augmentation_block(), dropout=0.2`` is its
    regularised version.

    Args:
        num_classes: how many classes the model tells apart (at least 2).
        image_size: ``(height, width)`` the model takes, or one integer for both (default:
            the preset's).
        preset: the name of a registered preset (see :func:`list_presets`), or its
            :class:`PresetSpec` (from :func:`get_preset`, so it is looked up once).
        augmentation: a layer (e.g. :func:`~flowerkit.models.augmentation_block`),
            ``True`` for the preset's own block, ``False`` for none, or ``None`` for the
            preset's default.
        dropout: the dropout rate (default: the preset's rate).
        seed: seeds Keras' global random state before building, so the initial weights
            and augmentation draws are reproducible.
        precision: ``"float32"``, or ``"bfloat16"`` for Keras' ``mixed_bfloat16`` policy
            (weights in float32, computation in bfloat16): about twice the training
            and prediction speed on CPUs with AMX or AVX512_BF16 (see
            ``docs/benchmarks.md``), for slightly different numbers, so it is never the
            default. Refused where bfloat16 would be emulated.
        **options: go to the builder (see :attr:`PresetSpec.options`).

    Returns:
        The model, taking raw 0..255 images and returning one logit per class.

    Raises:
        ~flowerkit.UnknownPresetError: no preset is registered as ``preset``.
        ~flowerkit.ConfigError: an argument is not a valid value, an option
            the preset does not take, or ``precision="bfloat16"`` where it would be
            emulated.

    Example:
        >>> from flowerkit.models import augmentation_block, build_model
        >>> build_model(5).count_params()  # the tutorial's CNN at 180x180
        3989285
        >>> model = build_model(3, image_size=64, augmentation=augmentation_block(), dropout=0.2)
        >>> model.input_shape, model.output_shape
        ((None, 64, 64, 3), (None, 3))
        >>> build_model(3, width=2)
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: Preset 'tutorial' does not take ['width']; it takes no extra options.
    """
    spec = preset if isinstance(preset, PresetSpec) else get_preset(preset)
    precision_name = check_precision(precision)
    num_classes = v.check_positive_int(num_classes, "num_classes", minimum=2)
    size = spec.image_size if image_size is None else v.check_image_size(image_size)
    rate = (
        spec.dropout if dropout is None else v.check_fraction(dropout, "dropout", allow_zero=True)
    )
    seed = v.check_seed(seed)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ConfigError(
            f"Preset {spec.name!r} does not take {unknown}; it takes "
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
    policy = "mixed_bfloat16" if precision_name == "bfloat16" else keras.config.dtype_policy().name
    with _dtype_policy(policy):
        return spec.builder(
            num_classes, image_size=size, augmentation=layer, dropout=rate, **options
        )


def computes_in_bfloat16(model: keras.Model) -> bool:
    """Whether any layer of ``model`` computes in bfloat16 (``precision="bfloat16"``)."""
    stack = [model]
    while stack:
        layer = stack.pop()
        if getattr(layer, "compute_dtype", None) == "bfloat16":
            return True
        stack.extend(getattr(layer, "layers", []))
    return False


def _float32_policies(config: Any) -> Any:
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return {**config, "config": {**config.get("config", {}), "name": "float32"}}
        return {key: _float32_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_policies(value) for value in config]
    return config


def float32_twin(model: keras.Model) -> keras.Model:
    """The same model computing in float32, with the same (float32) weights.

    A ``mixed_bfloat16`` model keeps its weights in float32 and only computes in
    bfloat16; LiteRT and ONNX have no bfloat16 kernels, so exports convert this twin.
    It is rebuilt from the model's config (registered layers only, as a safe-mode load).
    """
    twin = model.__class__.from_config(_float32_policies(model.get_config()))
    twin.set_weights(model.get_weights())
    return twin


def build_config(
    model: keras.Model,
    preset: str,
    *,
    augmentation: object,
    dropout: float | None,
    seed: int | None,
    precision: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """How ``model`` was built, as JSON-ready data saved with it (for the record).

    A custom augmentation layer is recorded as ``"custom"``; preset options that are not
    JSON scalars are left out.

    Example:
        >>> from flowerkit.models import build_model
        >>> from flowerkit.models.build import build_config
        >>> model = build_model(3, preset="tutorial", image_size=32)
        >>> config = build_config(
        ...     model, "tutorial", augmentation=None, dropout=0.2, seed=1,
        ...     precision="float32", options={},
        ... )
        >>> config["image_size"], config["dropout"]
        ([32, 32], 0.2)
    """
    return {
        "preset": preset,
        "image_size": list(model.input_shape[1:3]),
        "augmentation": augmentation if isinstance(augmentation, bool | None) else "custom",
        "dropout": dropout,
        "seed": seed,
        "precision": precision,
        "options": {
            k: val for k, val in options.items() if isinstance(val, str | int | float | bool | None)
        },
    }
