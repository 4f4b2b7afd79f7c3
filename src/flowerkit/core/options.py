"""Options declared once: a field of a frozen dataclass carries everything about it.

Each user-facing option of flowerkit (those of ``Classifier.fit``, ``load_datasets``,
``Classifier.predict``, ``Classifier.export``, ...) is declared once, as a field of an
:class:`Options` dataclass made with :func:`option`: its name, its type (the annotation),
its default (or :data:`RECIPE`, "the recipe's", distinct from ``None``), the check that
validates and normalises a value, and its command-line flag with its help text. From that
one declaration:

- the public signatures are pinned (a test compares each method's keyword-only
  parameters with the fields: same names, defaults and annotations);
- a call is validated once, at the boundary, into one normalised object
  (:meth:`Options.from_call`) that the layers below read;
- the ``flowerkit`` command generates its flags (``flowerkit.cli``), and a flag the user
  did not give is left out, so the API's default applies.

This module imports no TensorFlow, so ``flowerkit --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import enum
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, TypeVar

__all__ = ["RECIPE", "Flag", "OptionSpec", "Options", "UseRecipe", "option"]


class _Recipe(enum.Enum):
    RECIPE = "RECIPE"

    def __repr__(self) -> str:
        return "RECIPE"

    def __reduce__(self) -> str:  # pickles (and deep-copies) as the one sentinel
        return "RECIPE"


#: "The recipe's": the default of an option whose value comes from the model's
#: :class:`~flowerkit.TrainingRecipe` unless the user gives one. Distinct from ``None``,
#: which some options take as a value of their own (as httpx's ``USE_CLIENT_DEFAULT``).
#:
#: >>> import flowerkit as fk
#: >>> fk.RECIPE
#: RECIPE
RECIPE: Final = _Recipe.RECIPE

#: The type of :data:`RECIPE`, for annotations: ``epochs: int | UseRecipe = RECIPE``.
UseRecipe = Literal[_Recipe.RECIPE]

Check = Callable[[Any, str], Any]
_O = TypeVar("_O", bound="Options")


@dataclass(frozen=True)
class Flag:
    """How an option appears on the command line.

    Attributes:
        metavar: the placeholder in ``--help`` (e.g. ``"N"``).
        choices: the values the flag accepts, when they are few.
        parse: turns the flag's text into the option's value (default: the text).
        kind: ``"value"`` (``--flag VALUE``), ``"switch"`` (``--flag`` sets ``True``)
            or ``"negatable"`` (``--flag`` / ``--no-flag``).
        name: the flag, when it is not ``--`` and the option's name with ``-`` for
            ``_``.
    """

    metavar: str | None = None
    choices: tuple[object, ...] | None = None
    parse: Callable[[str], Any] | None = None
    kind: Literal["value", "switch", "negatable"] = "value"
    name: str | None = None


@dataclass(frozen=True)
class OptionSpec:
    """What :func:`option` declares beyond the name, type and default.

    Attributes:
        help: one line that says what the option does (the flag's help text).
        check: ``check(value, name)`` returns the value normalised or raises
            :class:`~flowerkit.ConfigError`; not called for :data:`RECIPE`.
        flag: the command-line flag, or ``None`` for an option the API alone takes.
        no_flag_because: why an option has no flag (a test asks for a reason).
        recipe_field: the :class:`~flowerkit.TrainingRecipe` field a value overrides.
        none_means_recipe: ``None`` is taken as :data:`RECIPE` with a
            ``DeprecationWarning`` (it meant "the recipe's" before the sentinel).
    """

    help: str
    check: Check | None = None
    flag: Flag | None = None
    no_flag_because: str = ""
    recipe_field: str | None = None
    none_means_recipe: bool = False


def option(
    default: Any,
    *,
    help: str,
    check: Check | None = None,
    flag: Flag | None = None,
    no_flag_because: str = "",
    recipe_field: str | None = None,
    none_means_recipe: bool = False,
) -> Any:
    """Declare an option: a dataclass field whose metadata is its :class:`OptionSpec`.

    Args:
        default: the API's default (:data:`RECIPE` for "the recipe's").
        help: one line saying what it does.
        check: validates and normalises a value.
        flag: its command-line flag (``Flag()`` for the usual ``--name VALUE``).
        no_flag_because: why it has no flag, when ``flag`` is ``None``.
        recipe_field: the recipe field it overrides.
        none_means_recipe: accept ``None`` as :data:`RECIPE`, with a deprecation warning.

    Returns:
        The field, for a class body.

    Example:
        >>> from dataclasses import dataclass
        >>> from flowerkit.core.options import Flag, Options, option
        >>> @dataclass(frozen=True, kw_only=True)
        ... class Demo(Options):
        ...     top_k: int = option(3, help="how many classes to list", flag=Flag("K"))
        >>> Demo.spec("top_k").help, Demo().top_k
        ('how many classes to list', 3)
    """
    spec = OptionSpec(help, check, flag, no_flag_because, recipe_field, none_means_recipe)
    return field(default=default, metadata={"option": spec})


@dataclass(frozen=True, kw_only=True)
class Options:
    """Base of the option declarations: a frozen dataclass whose fields are options.

    Creating one checks every value given (each field's ``check``) once; the instance
    holds the normalised values.

    Raises:
        ~flowerkit.ConfigError: a value that its check refuses.

    Example:
        >>> from flowerkit.options.training import TrainOptions
        >>> TrainOptions(epochs=3, time_budget=60).epochs
        3
        >>> TrainOptions(epochs=0)
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: `epochs` must be an integer >= 1. Received: epochs=0
    """

    #: Fields a subclass declares that are not options of every method (see ``from_call``).
    _methods: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            spec = item.metadata.get("option")
            if spec is None:
                continue
            value = getattr(self, item.name)
            if value is None and spec.none_means_recipe:
                warnings.warn(
                    f"{item.name}=None is deprecated: leave it out (or pass "
                    f"flowerkit.RECIPE) for the recipe's value.",
                    DeprecationWarning,
                    stacklevel=5,
                )
                value = RECIPE
            elif value is not RECIPE and spec.check is not None:
                value = spec.check(value, item.name)
            object.__setattr__(self, item.name, value)

    @classmethod
    def specs(cls) -> Iterator[tuple[dataclasses.Field[Any], OptionSpec]]:
        """Every option field with its spec, in declaration order."""
        for item in dataclasses.fields(cls):
            spec = item.metadata.get("option")
            if spec is not None:
                yield item, spec

    @classmethod
    def spec(cls, name: str) -> OptionSpec:
        """The spec of the option ``name``."""
        for item, spec in cls.specs():
            if item.name == name:
                return spec
        raise KeyError(name)

    @classmethod
    def names(cls, method: str | None = None) -> tuple[str, ...]:
        """The option names, or those that ``method`` takes (``_methods``)."""
        if method is not None:
            return cls._methods[method]
        return tuple(item.name for item, _ in cls.specs())

    @classmethod
    def from_call(cls: type[_O], arguments: Mapping[str, Any], method: str | None = None) -> _O:
        """The options of one call, checked, from its arguments (``locals()``).

        Only the names that ``method`` takes (every option when ``None``) are read;
        the others keep their defaults.
        """
        return cls(**{name: arguments[name] for name in cls.names(method) if name in arguments})

    def kwargs(self, method: str | None = None) -> dict[str, Any]:
        """The values of the options ``method`` takes (every option when ``None``), to
        pass on as keyword arguments."""
        return {name: getattr(self, name) for name in self.names(method)}

    def given(self) -> dict[str, Any]:
        """The options whose value is not the default."""
        return {
            item.name: getattr(self, item.name)
            for item, _ in self.specs()
            if getattr(self, item.name) != item.default
        }
