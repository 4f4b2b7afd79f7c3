"""Argument checks shared by every public function.

Messages name the argument, say what is allowed and end with ``Received: name=value``
(the Keras wording), so a user sees the bad value without a debugger.
"""

from __future__ import annotations

import numbers
import operator
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from flowerkit.exceptions import ConfigError, DatasetError

__all__ = [
    "check_choice",
    "check_class_names",
    "check_directory",
    "check_fraction",
    "check_image_size",
    "check_non_negative_float",
    "check_positive_int",
    "check_seed",
]

_T = TypeVar("_T")


def _received(name: str, value: object) -> str:
    return f"Received: {name}={value!r}"


def check_image_size(value: object, name: str = "image_size") -> tuple[int, int]:
    """Return ``(height, width)`` from an int or a pair of ints, each between 8 and 4096.

    Raises:
        ~flowerkit.ConfigError: ``value`` is neither.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
        and all(8 <= int(v) <= 4096 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ConfigError(
        f"`{name}` must be a (height, width) pair of integers between 8 and 4096, "
        f"or one such integer. {_received(name, value)}"
    )


def _as_int(value: object) -> int | None:
    """``value`` as an int when it is an integer (numpy ones included, bools not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return operator.index(value)


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    number = _as_int(value)
    if number is not None and number >= minimum:
        return number
    raise ConfigError(f"`{name}` must be an integer >= {minimum}. {_received(name, value)}")


def check_fraction(
    value: object, name: str, *, allow_zero: bool = False, allow_one: bool = False
) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        low_ok = v > 0 or (allow_zero and v == 0)
        high_ok = v < 1 or (allow_one and v == 1)
        if low_ok and high_ok:
            return v
    low = "[0" if allow_zero else "(0"
    high = "1]" if allow_one else "1)"
    raise ConfigError(f"`{name}` must be a number in {low}, {high}. {_received(name, value)}")


def check_non_negative_float(value: object, name: str) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value) >= 0:
        return float(value)
    raise ConfigError(f"`{name}` must be a number >= 0. {_received(name, value)}")


def check_one_line(value: object, name: str, *, example: str) -> str:
    """``value``, a string of one line, with surrounding spaces removed (``""`` allowed).

    Raises:
        ~flowerkit.ConfigError: ``value`` is not a string, or holds a line break.
    """
    if isinstance(value, str) and "\n" not in value and "\r" not in value:
        return value.strip()
    raise ConfigError(
        f"`{name}` must be one line of text, such as {example!r}. {_received(name, value)}"
    )


def check_seed(value: object, name: str = "seed") -> int | None:
    if value is None:
        return None
    number = _as_int(value)
    if number is not None and 0 <= number < 2**32:
        return number
    raise ConfigError(
        f"`{name}` must be None or an integer in [0, 2**32). {_received(name, value)}"
    )


def check_choice(value: _T, name: str, choices: Iterable[_T]) -> _T:
    options = tuple(choices)
    if value in options:
        return value
    allowed = ", ".join(repr(c) for c in options)
    raise ConfigError(f"`{name}` must be one of {allowed}. {_received(name, value)}")


def check_directory(value: object, name: str = "directory") -> Path:
    """Return an existing directory as a ``Path``.

    Raises:
        ~flowerkit.ConfigError: ``value`` is not a path.
        ~flowerkit.DatasetError: ``value`` does not exist or is a file.
    """
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(f"`{name}` must be a path to a folder. {_received(name, value)}")
    path = Path(value).expanduser()
    if not path.exists():
        raise DatasetError(
            f"The folder {str(path)!r} does not exist. Pass the folder that holds one "
            f"sub-folder per class. {_received(name, value)}"
        )
    if not path.is_dir():
        raise DatasetError(
            f"{str(path)!r} is a file, not a folder. Pass the folder that holds one "
            f"sub-folder per class. {_received(name, value)}"
        )
    return path


def check_class_names(value: object, name: str = "class_names") -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"`{name}` must be a list of strings. {_received(name, value)}")
    names = tuple(value)
    if len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            f"`{name}` must list at least two non-empty strings. {_received(name, value)}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"`{name}` must not repeat a name. {_received(name, value)}")
    return names
