"""The options of ``Classifier.fit``, ``fine_tune`` and ``distill``, each declared once.

:class:`TrainOptions` is the one declaration of every training option: its type, default
(:data:`~flowerkit.core.options.RECIPE` for "the recipe's"), check, flag and help. The
``Classifier`` methods take them as explicit keyword arguments (a test pins each
signature to these fields), turn a call into one checked ``TrainOptions`` with
:meth:`~flowerkit.core.options.Options.from_call`, and hand that object down; the
``flowerkit train`` command generates its flags from the same fields. Imports no
TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from flowerkit.core import validation as v
from flowerkit.core.options import RECIPE, Flag, Options, UseRecipe, option
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import keras

    from flowerkit.models import TrainingRecipe

__all__ = ["ClassWeight", "TrainOptions", "Verbose"]

#: ``{class index: weight}``, ``"balanced"`` or ``None``.
ClassWeight = Mapping[int, float] | Literal["balanced"] | None
#: Keras' ``verbose``.
Verbose = Literal["auto", 0, 1, 2]

#: Options every training method takes.
_COMMON = (
    "callbacks",
    "early_stopping",
    "time_budget",
    "checkpoint_dir",
    "calibrate",
    "seed",
    "verbose",
)


def _positive(value: Any, name: str) -> int:
    return v.check_positive_int(value, name)


def _count(value: Any, name: str) -> int:
    return v.check_positive_int(value, name, minimum=0)


def _rate(value: Any, name: str) -> float:
    return v.check_non_negative_float(value, name)


def _smoothing(value: Any, name: str) -> float:
    return v.check_fraction(value, name, allow_zero=True)


def _layers(value: Any, name: str) -> int | Literal["all"]:
    return "all" if value == "all" else v.check_positive_int(value, name)


def _layers_text(text: str) -> int | str:
    return text if text == "all" else int(text) if text.isdigit() else text


def _optimizer(value: Any, name: str) -> Any:
    if isinstance(value, str) and not value:
        raise ConfigError(f"`{name}` must be a Keras optimizer or its name. Received: {name}=''")
    return value


def _class_weight(value: Any, name: str) -> Any:
    if value is None or value == "balanced" or isinstance(value, Mapping):
        return value
    raise ConfigError(
        f"`{name}` must be None, 'balanced' or a {{class index: weight}} mapping. "
        f"Received: {name}={value!r}"
    )


def _optional(check: Any) -> Any:
    def checked(value: Any, name: str) -> Any:
        return None if value is None else check(value, name)

    return checked


def _path(value: Any, name: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(f"`{name}` must be a folder path. Received: {name}={value!r}")
    return Path(value).expanduser()


def _verbose(value: Any, name: str) -> Any:
    return v.check_choice(value, name, ("auto", 0, 1, 2))


def _temperature(value: Any, name: str) -> float:
    t = v.check_non_negative_float(value, name)
    if t == 0:
        raise ConfigError(f"`{name}` must be positive. Received: {name}={value!r}")
    return t


def _calibrate(value: Any, name: str) -> bool | Literal["auto"]:
    if value == "auto" or isinstance(value, bool):
        return "auto" if value == "auto" else bool(value)
    raise ConfigError(f"`{name}` must be True, False or 'auto'. Received: {name}={value!r}")


def _alpha(value: Any, name: str) -> float:
    return v.check_fraction(value, name, allow_zero=True, allow_one=True)


@dataclass(frozen=True, kw_only=True)
class TrainOptions(Options):
    """Every option of ``Classifier.fit``, ``fine_tune`` and ``distill``, checked.

    See :meth:`Classifier.fit <flowerkit.classifier.Classifier.fit>` for what each one
    does; :data:`~flowerkit.core.options.RECIPE` means the model's recipe decides.

    Example:
        >>> from flowerkit.options.training import TrainOptions
        >>> options = TrainOptions(label_smoothing=0.1, fine_tune_layers="all")
        >>> options.label_smoothing, options.fine_tune_layers, options.epochs
        (0.1, 'all', RECIPE)
        >>> sorted(options.given())
        ['fine_tune_layers', 'label_smoothing']
    """

    epochs: int | UseRecipe = option(
        RECIPE,
        help="epochs of the first phase (default: the recipe in full, with its fine-tuning phase)",
        check=_positive,
        flag=Flag("N", parse=int),
        none_means_recipe=True,
    )
    fine_tune_epochs: int | UseRecipe = option(
        RECIPE,
        help="epochs of fine-tuning after the first phase (transfer presets; 0: none)",
        check=_count,
        flag=Flag("N", parse=int),
        none_means_recipe=True,
    )
    fine_tune_layers: int | Literal["all"] | UseRecipe = option(
        RECIPE,
        help="how many of the backbone's top layers fine-tuning unfreezes, or 'all' "
        "(default: the recipe's)",
        check=_layers,
        flag=Flag("N|all", parse=_layers_text),
        none_means_recipe=True,
    )
    fine_tune_learning_rate: float | UseRecipe = option(
        RECIPE,
        help="the base learning rate of fine-tuning (default: the recipe's)",
        check=_rate,
        flag=Flag("RATE", parse=float),
        none_means_recipe=True,
    )
    optimizer: keras.optimizers.Optimizer | str | UseRecipe = option(
        RECIPE,
        help="a Keras optimizer (or its name, e.g. 'rmsprop') instead of the recipe's",
        check=_optimizer,
        flag=Flag("NAME"),
        none_means_recipe=True,
    )
    learning_rate: float | UseRecipe = option(
        RECIPE,
        help="the base learning rate of the recipe's optimizer (default: the recipe's)",
        check=_rate,
        flag=Flag("RATE", parse=float),
        none_means_recipe=True,
    )
    label_smoothing: float | UseRecipe = option(
        RECIPE,
        help="label smoothing of the cross-entropy, in [0, 1) (default: the recipe's); "
        "saved with the model's recipe",
        check=_smoothing,
        flag=Flag("F", parse=float),
        recipe_field="label_smoothing",
    )
    class_weight: ClassWeight = option(
        None,
        help="weight each class by n_samples / (n_classes * count), for imbalanced folders",
        check=_class_weight,
        flag=Flag(choices=("balanced",)),
    )
    early_stopping: int | None = option(
        None,
        help="stop when the validation loss has not improved for this many epochs, keeping "
        "the best weights",
        check=_optional(_positive),
        flag=Flag("PATIENCE", parse=int),
    )
    time_budget: float | None = option(
        None,
        help="stop after this much wall time (a cosine schedule then decays by the end of it)",
        check=_optional(_rate),
        flag=Flag("SECONDS", parse=float),
    )
    calibrate: bool | Literal["auto"] = option(
        "auto",
        help="fit a softmax temperature on the validation split afterwards, so that scores "
        "and min_confidence mean what they say ('auto': when there is validation data; "
        "--no-calibrate: never)",
        check=_calibrate,
        flag=Flag(kind="negatable"),
    )
    callbacks: Iterable[keras.callbacks.Callback] = option(
        (),
        help="Keras callbacks, run after flowerkit's checkpointing",
        check=lambda value, name: tuple(value),
        no_flag_because="Python objects",
    )
    checkpoint_dir: str | os.PathLike[str] | None = option(
        None,
        help="a folder of per-epoch checkpoints that a killed run resumes from",
        check=_path,
        no_flag_because="the command checkpoints beside --out, always",
    )
    seed: int | None = option(
        None,
        help="seeds Keras' random state (initial weights, dropout, augmentation)",
        check=lambda value, name: v.check_seed(value, name),
        no_flag_because="the command's --seed seeds the split, the model and the run",
    )
    verbose: Verbose = option(
        "auto",
        help="Keras' progress output",
        check=_verbose,
        no_flag_because="-q, --json and the terminal decide",
    )
    temperature: float = option(
        2.0, help="distillation's softening temperature", check=_temperature
    )
    alpha: float = option(0.5, help="distillation's weight of the labels", check=_alpha)

    _methods: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "fit": (
            "epochs",
            "fine_tune_epochs",
            "fine_tune_layers",
            "fine_tune_learning_rate",
            "optimizer",
            "learning_rate",
            "label_smoothing",
            "class_weight",
            *_COMMON,
        ),
        "fine_tune": ("class_weight", *_COMMON),
        "distill": (
            "epochs",
            "temperature",
            "alpha",
            "optimizer",
            "learning_rate",
            "class_weight",
            *_COMMON,
        ),
    }
    #: ``fine_tune``'s own names for the fine-tuning options.
    FINE_TUNE_ALIASES: ClassVar[Mapping[str, str]] = {
        "epochs": "fine_tune_epochs",
        "layers": "fine_tune_layers",
        "learning_rate": "fine_tune_learning_rate",
    }

    @classmethod
    def for_fine_tune(cls, arguments: Mapping[str, Any]) -> TrainOptions:
        """``fine_tune``'s options: its ``epochs``, ``layers`` and ``learning_rate`` are
        the fine-tuning options of :meth:`Classifier.fit
        <flowerkit.classifier.Classifier.fit>`."""
        renamed = {}
        for alias, name in cls.FINE_TUNE_ALIASES.items():
            value = arguments[alias]
            if value is not None and value is not RECIPE:  # messages name the alias
                check = cls.spec(name).check
                value = _positive(value, alias) if alias == "epochs" else check(value, alias)  # type: ignore[misc]
            renamed[name] = value
        taken = {name: arguments[name] for name in cls.names("fine_tune") if name in arguments}
        return cls(**taken, **renamed)

    def recipe(self, recipe: TrainingRecipe) -> TrainingRecipe:
        """``recipe`` with the fields these options override (``label_smoothing``)."""
        changes = {
            spec.recipe_field: getattr(self, item.name)
            for item, spec in self.specs()
            if spec.recipe_field and getattr(self, item.name) is not RECIPE
        }
        return replace(recipe, **changes) if changes else recipe


@dataclass(frozen=True, kw_only=True)
class FinderOptions(Options):
    """The options of the learning-rate range test (``Classifier.find_learning_rate`` and
    :func:`flowerkit.training.lr_finder.find_learning_rate`, which checks them).

    Example:
        >>> from flowerkit.options.training import FinderOptions
        >>> FinderOptions().steps, FinderOptions().end
        (100, 1.0)
    """

    start: float = option(1e-7, help="the first learning rate")
    end: float = option(1.0, help="the last learning rate")
    steps: int = option(100, help="how many rates (and batches) to try, at least 2")
    divergence: float = option(
        4.0, help="stop once the smoothed loss exceeds this many times its minimum"
    )
    smoothing: float = option(0.98, help="the loss's smoothing factor in [0, 1)")
    seed: int | None = option(None, help="seeds Keras' random state first")
