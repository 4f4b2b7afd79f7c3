"""One description of a model: the fields every flowerkit file carries, read in one place.

A saved ``.keras`` model (:class:`flowerkit.artifact.ModelMetadata`), the
``flowerkit.json`` of an export (:class:`flowerkit.lite.LiteMetadata`, beside a
SavedModel, inside a ``.tflite`` file and in an ONNX model's metadata), what an export is
made from (:class:`flowerkit.export.ExportSource`) and
:class:`flowerkit.lite.LiteClassifier` all describe a model by the same fields: its class
names, image size, preset, output kind, calibration temperature, how its images are
decoded and the versions that wrote it. :class:`ModelDescription` declares them once;
the documents add their own fields by subclassing it.

:meth:`ModelDescription.from_document` is the one parser of those JSON documents. Each
field is read by the reader its class lists in :attr:`ModelDescription.READERS`, so a
bad field is refused with the same :class:`ValueError` (naming the field) whichever file
it is in; the readers of the files turn it into a :class:`~flowerkit.ModelFileError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar, Self

__all__ = [
    "MAX_SIDE",
    "OUTPUTS",
    "ModelDescription",
    "Reader",
    "optional",
    "or_default",
    "read_object",
    "read_string",
    "read_strings",
]

#: The largest side of an image size a document may give.
MAX_SIDE = 16_384

#: What a model outputs: raw scores (softmax applied by flowerkit) or probabilities.
OUTPUTS = ("logits", "probabilities")

#: A field's reader: the JSON value in, the field's value out (or, wrapped in
#: :func:`optional` or :func:`or_default`, "the field's default"). A bad value raises
#: :class:`ValueError`, or the ``TypeError``, ``KeyError``... of a failed conversion: either
#: becomes a ``ValueError`` naming the field.
Reader = Callable[[Any], Any]


class _Default:
    """What a reader returns for a value that means "the field's default"."""

    def __repr__(self) -> str:
        return "<the field's default>"


_DEFAULT = _Default()

#: The errors a conversion in a reader may raise, reported as the field's error.
_CONVERSION_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)


class _FieldError(ValueError):
    """A reader's refusal, worded to follow the field's name ("must be a string, not 5")."""


def optional(reader: Reader) -> Reader:
    """``reader``, with JSON ``null`` standing for the field's default.

    Args:
        reader: how a value that is not ``null`` is read.

    Returns:
        The reader for a :attr:`ModelDescription.READERS` table.

    Example:
        >>> from flowerkit.core.description import optional, read_string
        >>> optional(read_string)("tutorial")
        'tutorial'
        >>> optional(read_string)(None)
        <the field's default>
    """

    def read(value: Any) -> Any:
        return _DEFAULT if value is None else reader(value)

    return read


def or_default(reader: Reader) -> Reader:
    """``reader``, with ``null`` and every empty or false value (``{}``, ``[]``, ``""``,
    ``0``, ``false``) standing for the field's default, as ``value or default`` reads.

    Args:
        reader: how any other value is read.

    Returns:
        The reader for a :attr:`ModelDescription.READERS` table.

    Example:
        >>> from flowerkit.core.description import or_default, read_strings
        >>> or_default(read_strings)({"decode_rules": "3"})
        {'decode_rules': '3'}
        >>> or_default(read_strings)({})
        <the field's default>
    """

    def read(value: Any) -> Any:
        return reader(value) if value else _DEFAULT

    return read


def read_string(value: Any) -> str:
    """A JSON string.

    Args:
        value: the JSON value.

    Returns:
        ``value``.

    Raises:
        ValueError: ``value`` is not a string.

    Example:
        >>> from flowerkit.core.description import read_string
        >>> read_string("tutorial")
        'tutorial'
    """
    if not isinstance(value, str):
        raise _FieldError(f"must be a string, not {value!r:.100}")
    return value


def read_strings(value: Any) -> dict[str, str]:
    """A JSON object whose values are strings, as a new ``dict``.

    Args:
        value: the JSON value.

    Returns:
        A copy of ``value``.

    Raises:
        ValueError: ``value`` is not an object of strings.

    Example:
        >>> from flowerkit.core.description import read_strings
        >>> read_strings({"flowerkit": "0.1.0", "keras": "3.15.1"})
        {'flowerkit': '0.1.0', 'keras': '3.15.1'}
    """
    if not (
        isinstance(value, Mapping)
        and all(isinstance(k, str) and isinstance(x, str) for k, x in value.items())
    ):
        raise _FieldError(f"must be a JSON object of strings, not {value!r:.100}")
    return dict(value)


def read_object(value: Any) -> dict[str, Any]:
    """A JSON object (string keys, any values), as a new ``dict``.

    Args:
        value: the JSON value.

    Returns:
        A copy of ``value``.

    Raises:
        ValueError: ``value`` is not an object with string keys.

    Example:
        >>> from flowerkit.core.description import read_object
        >>> read_object({"learning_rate": 0.001, "schedule": "cosine"})
        {'learning_rate': 0.001, 'schedule': 'cosine'}
    """
    if not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
        raise _FieldError(f"must be a JSON object with string keys, not {value!r:.100}")
    return dict(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_class_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise _FieldError(f"must be a list of strings, not {value!r:.100}")
    if not value or len(set(value)) != len(value):
        raise _FieldError(f"must be distinct and not empty, not {value!r:.100}")
    return tuple(value)


def _read_image_size(value: Any) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(_is_int(x) for x in value)):
        raise _FieldError(f"must be [height, width] integers, not {value!r:.100}")
    size = (int(value[0]), int(value[1]))
    if not all(0 < side <= MAX_SIDE for side in size):
        raise _FieldError(f"{size} is out of range 1..{MAX_SIDE}")
    return size


def _read_outputs(value: Any) -> str:
    if value not in OUTPUTS:
        raise _FieldError(f"must be 'logits' or 'probabilities', not {value!r:.100}")
    return str(value)


def _read_temperature(value: Any) -> float:
    if not (isinstance(value, int | float) and not isinstance(value, bool)):
        raise _FieldError(f"must be a positive number, not {value!r:.100}")
    if not (math.isfinite(value) and value > 0):
        raise _FieldError(f"must be a positive number, not {value}")
    return float(value)


def _read_field(name: str, reader: Reader, value: Any) -> Any:
    """``reader(value)``; whatever it refuses is a :class:`ValueError` naming ``name``."""
    try:
        return reader(value)
    except _FieldError as exc:
        raise ValueError(f"{name} {exc}") from None
    except _CONVERSION_ERRORS as exc:
        raise ValueError(f"{name}: {type(exc).__name__}: {exc}") from exc


def _required(spec: dataclasses.Field[Any]) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


@dataclass(frozen=True)
class ModelDescription:
    """What every flowerkit file says about its model, declared and read once.

    :class:`~flowerkit.artifact.ModelMetadata` (a saved ``.keras`` model) and
    :class:`~flowerkit.lite.LiteMetadata` (an export) are descriptions with fields of their
    own; :attr:`flowerkit.export.ExportSource.description` is the description an export
    is made from. Only ``class_names`` and ``image_size`` may be given by position.

    Args:
        class_names: one name per model output, in output order.
        image_size: ``(height, width)`` the model takes.
        preset: the preset the model was built from, if any.
        outputs: ``"logits"`` or ``"probabilities"``.
        temperature: the calibration temperature (1.0 when not calibrated).
        preprocessing: how images are decoded and resized before the model, with the
            ``"decode_rules"`` number (see :data:`flowerkit.artifact.PREPROCESSING`);
            empty when the document does not say.
        versions: the flowerkit, TensorFlow, Keras and Python versions that wrote it.

    Example:
        >>> from flowerkit.core.description import ModelDescription
        >>> description = ModelDescription(("daisy", "roses"), (64, 64), preset="tutorial")
        >>> document = description.to_document()
        >>> document["class_names"], document["image_size"], document["outputs"]
        (['daisy', 'roses'], [64, 64], 'logits')
        >>> ModelDescription.from_document(document) == description
        True
        >>> ModelDescription.from_document({**document, "image_size": [64, 0]})
        Traceback (most recent call last):
            ...
        ValueError: image_size (64, 0) is out of range 1..16384
    """

    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    _: KW_ONLY
    preset: str | None = None
    outputs: str = "logits"
    temperature: float = 1.0
    preprocessing: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    #: How :meth:`from_document` reads each field, by name: a subclass extends the table
    #: with a reader for each field it adds. A missing field takes its default (only
    #: ``class_names`` and ``image_size`` must be there); the stricter checks of the
    #: readers that came before this class are kept.
    #:
    #: :meta hide-value:
    READERS: ClassVar[Mapping[str, Reader]] = {
        "class_names": _read_class_names,
        "image_size": _read_image_size,
        "preset": optional(read_string),
        "outputs": or_default(_read_outputs),
        "temperature": _read_temperature,
        "preprocessing": or_default(read_strings),
        "versions": or_default(read_strings),
    }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Self:
        """Read a description (of this class: its fields and readers) from a JSON document.

        Each field is read by its reader in :attr:`READERS`; a missing field takes its
        default and a field of no reader's is ignored, so a document of any flowerkit
        version of the format reads.

        Args:
            document: the parsed JSON document.

        Returns:
            The description.

        Raises:
            ValueError: a field is missing or of the wrong type or out of range; the
                message starts with the field's name and says why.

        Example:
            >>> from flowerkit.core.description import ModelDescription
            >>> ModelDescription.from_document({"class_names": ["a", "b"], "image_size": [8, 8]})
            ModelDescription(class_names=('a', 'b'), image_size=(8, 8), preset=None,
                             outputs='logits', temperature=1.0, preprocessing={}, versions={})
            >>> ModelDescription.from_document({"class_names": ["a", "a"], "image_size": [8, 8]})
            Traceback (most recent call last):
                ...
            ValueError: class_names must be distinct and not empty, not ['a', 'a']
        """
        if not isinstance(document, Mapping):
            raise ValueError(f"the document must be a JSON object, not {document!r:.100}")
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            if spec.name not in document:
                if _required(spec):
                    raise ValueError(f"{spec.name} is missing")
                continue
            value = _read_field(spec.name, cls.READERS[spec.name], document[spec.name])
            if value is not _DEFAULT:
                values[spec.name] = value
        return cls(**values)

    def to_document(self) -> dict[str, Any]:
        """The fields as a JSON-ready document, which :meth:`from_document` reads back.

        Returns:
            One entry per field (``class_names`` and ``image_size`` as lists).

        Example:
            >>> from flowerkit.core.description import ModelDescription
            >>> sorted(ModelDescription(("a", "b"), (8, 8)).to_document())
            ['class_names', 'image_size', 'outputs', 'preprocessing', 'preset',
             'temperature', 'versions']
        """
        document = dataclasses.asdict(self)
        document["class_names"] = list(self.class_names)
        document["image_size"] = list(self.image_size)
        return document

    @classmethod
    def from_description(cls, description: ModelDescription, **fields: Any) -> Self:
        """A description of this class with the shared fields of ``description``.

        Args:
            description: any description (a :class:`ModelDescription` or a subclass).
            **fields: this class's own fields, and shared ones to replace.

        Returns:
            The new description.

        Example:
            >>> from flowerkit.core.description import ModelDescription
            >>> from flowerkit.lite import LiteMetadata
            >>> description = ModelDescription(("a", "b"), (8, 8), temperature=1.5)
            >>> lite = LiteMetadata.from_description(description, quantization="int8")
            >>> lite.class_names, lite.temperature, lite.quantization
            (('a', 'b'), 1.5, 'int8')
        """
        shared = {
            spec.name: _copied(getattr(description, spec.name))
            for spec in dataclasses.fields(ModelDescription)
        }
        return cls(**{**shared, **fields})


def _copied(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value
