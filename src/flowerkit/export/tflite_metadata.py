"""The standard TFLite model metadata (``TFLITE_METADATA``) that MediaPipe Tasks reads.

MediaPipe Tasks' ``ImageClassifier`` (Python, Android, iOS, Web) and the LiteRT support
libraries take a ``.tflite`` image classifier's preprocessing and labels from this
metadata, the way MediaPipe Model Maker writes it:

* the input ``image``: RGB, ``NormalizationOptions`` mean ``[0]`` and std ``[1]`` (a
  flowerkit model rescales its 0..255 pixels itself), stats 0..255 and the model's size;
  its description says how flowerkit decodes photos before the model, the part the schema
  has no fields for;
* the output ``score``: class probabilities 0..1, with ``labels.txt`` as its
  ``TENSOR_AXIS_LABELS`` associated file;
* the model's name, description, version, author and licence, and the minimum metadata
  parser version ``"1.0.0"`` (no field newer than that is used).

The file is the flatbuffer with the metadata as one more buffer, followed by **one** zip
archive whose entries are **stored**, not compressed (MediaPipe refuses a compressed
entry: ``Expected uncompressed zip archive``): ``labels.txt`` and flowerkit's own
``flowerkit.json``, which :mod:`flowerkit.lite` reads.

The metadata table is written with the ``flatbuffers`` package (a TensorFlow dependency)
and read back by hand, following ``metadata_schema.fbs`` (schema 1.5.0, from the
MediaPipe and TFLite Support sources, Apache-2.0). No maintained Python package ships that
schema in a form that installs next to TensorFlow 2.21: ``tflite-support`` requires
``protobuf<4``, and ``mediapipe`` 1.2's metadata writer does not import (its wheel lacks
the native module ``metadata.py`` needs; see ``notes/issue-30-mediapipe.md``). The
metadata is added to the model by TensorFlow's own TFLite object API, the route the
converter takes to add its ``CONVERSION_METADATA``. Reading needs neither TensorFlow nor
``flatbuffers``.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flatbuffers

from flowerkit.exceptions import ModelFileError
from flowerkit.lite import LABELS_NAME, METADATA_NAME, labels_text

__all__ = [
    "METADATA_BUFFER_NAME",
    "NORMALIZATION_MEAN",
    "NORMALIZATION_STD",
    "MetadataSummary",
    "read_metadata_summary",
    "write_metadata",
]

#: The name of the model's metadata entry that holds the metadata flatbuffer.
METADATA_BUFFER_NAME = "TFLITE_METADATA"
#: ``NormalizationOptions`` of the input: pixels go in as they are (0..255); the model
#: rescales them itself.
NORMALIZATION_MEAN: tuple[float, ...] = (0.0,)
#: See :data:`NORMALIZATION_MEAN`.
NORMALIZATION_STD: tuple[float, ...] = (1.0,)
_MIN_PARSER_VERSION = "1.0.0"
_METADATA_IDENTIFIER = b"M001"
_MODEL_IDENTIFIER = b"TFL3"

# Enum and union values of metadata_schema.fbs.
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2  # ContentProperties
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions
_RGB = 1  # ColorSpaceType
_DESCRIPTIONS, _TENSOR_AXIS_LABELS = 1, 2  # AssociatedFileType
_COLOR_SPACES = {0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}

_LABELS_DESCRIPTION = "Labels for categories that the model can recognize."
_OUTPUT_DESCRIPTION = (
    "Probabilities of the classes, in the order of labels.txt (softmax; flowerkit's "
    "calibration temperature is already applied)."
)
_FLOWERKIT_JSON_DESCRIPTION = (
    "flowerkit's own metadata: class names, image size, quantization, input type, "
    "temperature, how photos are decoded (preprocessing) and the versions that exported it."
)


# ----------------------------------------------------------------------------- writing
_Field = tuple[int, str, Any]  # (slot, kind: "o" offset | "b" byte | "u" uint32, value)


def _floats(builder: Any, values: Sequence[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(float(value))
    return int(builder.EndVector())


def _offsets(builder: Any, offsets: Sequence[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return int(builder.EndVector())


def _table(builder: Any, slots: int, fields: Sequence[_Field]) -> int:
    """A table of ``slots`` fields; a field whose value is ``None`` is left out."""
    builder.StartObject(slots)
    for slot, kind, value in fields:
        if value is None:
            continue
        if kind == "o":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "b":
            builder.PrependInt8Slot(slot, value, 0)
        else:
            builder.PrependUint32Slot(slot, value, 0)
    return int(builder.EndObject())


def _string(builder: Any, text: str) -> int | None:
    return int(builder.CreateString(text)) if text else None


def _file(builder: Any, name: str, description: str, kind: int) -> int:
    fields = [(0, "o", _string(builder, name)), (1, "o", _string(builder, description))]
    return _table(builder, 5, [*fields, (2, "b", kind)])


def _stats(builder: Any, low: Sequence[float], high: Sequence[float]) -> int:
    highs, lows = _floats(builder, high), _floats(builder, low)
    return _table(builder, 2, [(0, "o", highs), (1, "o", lows)])


def _input_description(image_size: tuple[int, int]) -> str:
    height, width = image_size
    return (
        f"RGB pixels 0..255, {width}x{height} (width x height); the model rescales them "
        "itself. flowerkit decodes a photo before the model by applying its EXIF "
        "orientation, converting an embedded ICC colour profile to sRGB, compositing "
        "transparency on white and squashing it (no crop) to the model's size with an "
        "anti-aliased bilinear resize: see preprocessing in flowerkit.json."
    )


def _input_tensor(builder: Any, image_size: tuple[int, int]) -> int:
    """TensorMetadata of the input: an RGB image, normalization and stats."""
    height, width = image_size
    size = _table(builder, 2, [(0, "u", width), (1, "u", height)])
    image = _table(builder, 2, [(0, "b", _RGB), (1, "o", size)])
    content = _table(builder, 3, [(0, "b", _IMAGE_PROPERTIES), (1, "o", image)])
    mean, std = _floats(builder, NORMALIZATION_MEAN), _floats(builder, NORMALIZATION_STD)
    options = _table(builder, 2, [(0, "o", mean), (1, "o", std)])
    unit = _table(builder, 2, [(0, "b", _NORMALIZATION_OPTIONS), (1, "o", options)])
    units = _offsets(builder, [unit])
    low = [(0.0 - m) / s for m, s in zip(NORMALIZATION_MEAN, NORMALIZATION_STD, strict=True)]
    high = [(255.0 - m) / s for m, s in zip(NORMALIZATION_MEAN, NORMALIZATION_STD, strict=True)]
    stats = _stats(builder, low, high)
    name = _string(builder, "image")
    description = _string(builder, _input_description(image_size))
    fields = [(0, "o", name), (1, "o", description), (3, "o", content)]
    return _table(builder, 7, [*fields, (4, "o", units), (5, "o", stats)])


def _output_tensor(builder: Any) -> int:
    """TensorMetadata of the output: class scores 0..1 labelled by ``labels.txt``."""
    features = _table(builder, 0, [])
    content = _table(builder, 3, [(0, "b", _FEATURE_PROPERTIES), (1, "o", features)])
    stats = _stats(builder, [0.0], [1.0])
    labels = _file(builder, LABELS_NAME, _LABELS_DESCRIPTION, _TENSOR_AXIS_LABELS)
    files = _offsets(builder, [labels])
    name, description = _string(builder, "score"), _string(builder, _OUTPUT_DESCRIPTION)
    fields = [(0, "o", name), (1, "o", description), (3, "o", content)]
    return _table(builder, 7, [*fields, (5, "o", stats), (6, "o", files)])


def _model_metadata(image_size: tuple[int, int], general: dict[str, str]) -> bytes:
    """The ``ModelMetadata`` flatbuffer: one subgraph, one input, one output.

    Args:
        image_size: ``(height, width)``.
        general: ``name``, ``description``, ``version``, ``author`` and ``licence``
            (an empty one is left out).

    Returns:
        The flatbuffer, file identifier ``M001``.
    """
    builder = flatbuffers.Builder(1024)
    inputs = _offsets(builder, [_input_tensor(builder, image_size)])
    outputs = _offsets(builder, [_output_tensor(builder)])
    subgraph = _table(builder, 10, [(2, "o", inputs), (3, "o", outputs)])
    subgraphs = _offsets(builder, [subgraph])
    own = _file(builder, METADATA_NAME, _FLOWERKIT_JSON_DESCRIPTION, _DESCRIPTIONS)
    files = _offsets(builder, [own])
    text = {key: _string(builder, value) for key, value in general.items()}
    parser = _string(builder, _MIN_PARSER_VERSION)
    fields: list[_Field] = [
        (0, "o", text["name"]),
        (1, "o", text["description"]),
        (2, "o", text["version"]),
        (3, "o", subgraphs),
        (4, "o", text["author"]),
        (5, "o", text["licence"]),
        (6, "o", files),
        (7, "o", parser),
    ]
    builder.Finish(_table(builder, 8, fields), file_identifier=_METADATA_IDENTIFIER)
    return bytes(builder.Output())


def _with_buffer(model_bytes: bytes, metadata: bytes) -> bytes:
    """The model flatbuffer with ``metadata`` as its :data:`METADATA_BUFFER_NAME` entry
    (replaced when there is one), repacked by TensorFlow's TFLite object API; whatever
    followed the flatbuffer (an older export's zip) is dropped."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    buffer = schema.BufferT()
    buffer.data = list(metadata)
    model.buffers = list(model.buffers or [])
    for entry in model.metadata or []:
        if entry.name.decode() == METADATA_BUFFER_NAME:
            model.buffers[entry.buffer] = buffer
            break
    else:
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_BUFFER_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def write_metadata(
    model_bytes: bytes,
    *,
    class_names: Sequence[str],
    image_size: tuple[int, int],
    name: str,
    version: str,
    description: str,
    author: str,
    licence: str,
    flowerkit_json: bytes,
) -> bytes:
    """A ``.tflite`` model with the image-classifier metadata and its files.

    The metadata is added to the flatbuffer (replacing any earlier one), and one zip
    archive of stored entries is appended: ``labels.txt`` (one class a line, in output
    order) and ``flowerkit.json``. Anything that followed the flatbuffer in
    ``model_bytes`` (the zip of an older flowerkit export) is dropped. Needs TensorFlow.

    Args:
        model_bytes: the converter's flatbuffer (or a whole older ``.tflite`` export).
        class_names: the classes, in output order.
        image_size: ``(height, width)`` the model takes.
        name: the model's name (MediaPipe Model Maker writes ``"ImageClassifier"``).
        version: the model's version.
        description: what the model does.
        author: who made it.
        licence: its licence; an empty string leaves the field out.
        flowerkit_json: the ``flowerkit.json`` document, encoded.

    Returns:
        The file's bytes.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.export.tflite_metadata import read_metadata_summary, write_metadata
        >>> model = Path("flowers.tflite").read_bytes()  # its own zip is replaced
        >>> relabelled = write_metadata(
        ...     model, class_names=["daisy", "roses", "tulips"], image_size=(64, 64),
        ...     name="flowers", version="2", description="Three flowers.", author="me",
        ...     licence="CC-BY-4.0", flowerkit_json=b"{}",
        ... )
        >>> summary = read_metadata_summary(relabelled)
        >>> summary.name, summary.version, summary.licence, summary.labels
        ('flowers', '2', 'CC-BY-4.0', ('daisy', 'roses', 'tulips'))
        >>> summary.files, summary.stored
        (('labels.txt', 'flowerkit.json'), True)
    """
    general = {
        "name": name,
        "description": description,
        "version": version,
        "author": author,
        "licence": licence,
    }
    flatbuffer = _with_buffer(model_bytes, _model_metadata(image_size, general))
    out = io.BytesIO(flatbuffer)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_NAME, labels_text(class_names))
        archive.writestr(METADATA_NAME, flowerkit_json)
    return out.getvalue()


# ----------------------------------------------------------------------------- reading
class _Reader:
    """Tables of one flatbuffer, read by offset (``struct`` errors mean damage)."""

    def __init__(self, data: bytes, identifier: bytes) -> None:
        if len(data) < 8 or data[4:8] != identifier:
            raise ValueError(f"no {identifier.decode()} flatbuffer")
        self.data = data
        self.root = self._ref(0)

    def _u32(self, at: int) -> int:
        return int(struct.unpack_from("<I", self.data, at)[0])

    def _ref(self, at: int) -> int:
        return at + self._u32(at)

    def field(self, table: int, slot: int) -> int | None:
        """Where field ``slot`` of the table at ``table`` is, or ``None`` if absent."""
        vtable = table - int(struct.unpack_from("<i", self.data, table)[0])
        if vtable < 0:
            raise ValueError("a table points before the start of the flatbuffer")
        vtable_size = int(struct.unpack_from("<H", self.data, vtable)[0])
        if 4 + 2 * slot >= vtable_size:
            return None
        offset = int(struct.unpack_from("<H", self.data, vtable + 4 + 2 * slot)[0])
        return table + offset if offset else None

    def scalar(self, table: int, slot: int, fmt: str) -> int:
        at = self.field(table, slot)
        return 0 if at is None else int(struct.unpack_from(fmt, self.data, at)[0])

    def string(self, table: int, slot: int) -> str:
        start, count = self._vector(table, slot, 1)
        return self.data[start : start + count].decode("utf-8")

    def _vector(self, table: int, slot: int, item: int) -> tuple[int, int]:
        """Where the items of vector field ``slot`` start, and how many there are."""
        at = self.field(table, slot)
        if at is None:
            return 0, 0
        start = self._ref(at)
        count = self._u32(start)
        if start + 4 + count * item > len(self.data):
            raise ValueError("a vector runs past the end of the flatbuffer")
        return start + 4, count

    def tables(self, table: int, slot: int) -> list[int]:
        start, count = self._vector(table, slot, 4)
        return [self._ref(start + 4 * i) for i in range(count)]

    def table(self, table: int, slot: int) -> int | None:
        at = self.field(table, slot)
        return None if at is None else self._ref(at)

    def floats(self, table: int | None, slot: int) -> tuple[float, ...]:
        if table is None:
            return ()
        start, count = self._vector(table, slot, 4)
        return tuple(float(x) for x in struct.unpack_from(f"<{count}f", self.data, start))

    def raw(self, table: int, slot: int) -> bytes:
        start, count = self._vector(table, slot, 1)
        return self.data[start : start + count]


@dataclass(frozen=True)
class MetadataSummary:
    """What a ``.tflite`` file's ``TFLITE_METADATA`` says, as far as flowerkit writes it.

    Attributes:
        name: the model's name.
        description: the model's description.
        version: the model's version.
        author: the model's author.
        licence: the model's licence (``""``: none given).
        min_parser_version: the oldest metadata parser that reads it.
        input_name: the input tensor's name (``"image"``).
        color_space: ``"RGB"``, ``"GRAYSCALE"`` or ``"UNKNOWN"``.
        mean: ``NormalizationOptions.mean`` of the input (``()``: none).
        std: ``NormalizationOptions.std`` of the input.
        input_range: the input's stats, ``(min, max)``.
        image_size: ``(height, width)`` from ``ImageProperties.default_size``, if given.
        output_name: the output tensor's name (``"score"``).
        labels_file: the output's ``TENSOR_AXIS_LABELS`` file (``""``: none).
        labels: the lines of that file in the appended zip, in order.
        files: the names in the appended zip, in order.
        stored: every entry of that zip is stored, not compressed (MediaPipe needs it).

    Example:
        >>> from flowerkit.export.tflite_metadata import read_metadata_summary
        >>> summary = read_metadata_summary("flowers.tflite")
        >>> summary.output_name, summary.labels_file, summary.files
        ('score', 'labels.txt', ('labels.txt', 'flowerkit.json'))
    """

    name: str
    description: str
    version: str
    author: str
    licence: str
    min_parser_version: str
    input_name: str
    color_space: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_range: tuple[tuple[float, ...], tuple[float, ...]]
    image_size: tuple[int, int] | None
    output_name: str
    labels_file: str
    labels: tuple[str, ...]
    files: tuple[str, ...]
    stored: bool


def _metadata_bytes(data: bytes) -> bytes:
    """The ``TFLITE_METADATA`` buffer of the model flatbuffer ``data``."""
    model = _Reader(data, _MODEL_IDENTIFIER)
    for entry in model.tables(model.root, 6):  # Model.metadata
        if model.string(entry, 0) != METADATA_BUFFER_NAME:
            continue
        buffers = model.tables(model.root, 4)  # Model.buffers
        buffer = buffers[model.scalar(entry, 1, "<I")]
        inline = model.raw(buffer, 0)  # Buffer.data, else Buffer.offset and .size
        if inline:
            return inline
        offset, size = model.scalar(buffer, 1, "<Q"), model.scalar(buffer, 2, "<Q")
        if offset <= 1 or offset + size > len(data):
            break
        return data[offset : offset + size]
    raise ValueError(f"the model has no {METADATA_BUFFER_NAME} buffer")


def _zip(data: bytes, wanted: str) -> tuple[tuple[str, ...], bool, bytes | None]:
    """The appended zip's entry names, whether all are stored, and the entry ``wanted``
    (``None``: not there)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        names = tuple(info.filename for info in infos)
        stored = all(info.compress_type == zipfile.ZIP_STORED for info in infos)
        content = archive.read(wanted) if wanted in names else None
    return names, stored, content


def _tensor(meta: _Reader, subgraph: int, slot: int) -> int:
    tensors = meta.tables(subgraph, slot)
    if len(tensors) != 1:
        raise ValueError(f"{len(tensors)} tensors described where there is one")
    return tensors[0]


def _input_fields(meta: _Reader, tensor: int) -> dict[str, Any]:
    """The summary's input fields, from the input's ``TensorMetadata``."""
    content = meta.table(tensor, 3)
    image = None
    if content is not None and meta.scalar(content, 0, "<B") == _IMAGE_PROPERTIES:
        image = meta.table(content, 1)
    size = None if image is None else meta.table(image, 1)
    units = meta.tables(tensor, 4)
    options = next(
        (meta.table(u, 1) for u in units if meta.scalar(u, 0, "<B") == _NORMALIZATION_OPTIONS),
        None,
    )
    stats = meta.table(tensor, 5)
    return {
        "input_name": meta.string(tensor, 0),
        "color_space": _COLOR_SPACES.get(
            0 if image is None else meta.scalar(image, 0, "<b"), "UNKNOWN"
        ),
        "mean": meta.floats(options, 0),
        "std": meta.floats(options, 1),
        "input_range": (meta.floats(stats, 1), meta.floats(stats, 0)),
        "image_size": None
        if size is None
        else (meta.scalar(size, 1, "<I"), meta.scalar(size, 0, "<I")),
    }


def _labels_file(meta: _Reader, tensor: int) -> str:
    for entry in meta.tables(tensor, 6):
        if meta.scalar(entry, 2, "<b") == _TENSOR_AXIS_LABELS:
            return meta.string(entry, 0)
    return ""


def _summary(data: bytes) -> MetadataSummary:
    meta = _Reader(_metadata_bytes(data), _METADATA_IDENTIFIER)
    subgraphs = meta.tables(meta.root, 3)
    if len(subgraphs) != 1:
        raise ValueError(f"{len(subgraphs)} subgraphs described where there is one")
    output = _tensor(meta, subgraphs[0], 3)
    labels_file = _labels_file(meta, output)
    files, stored, content = _zip(data, labels_file)
    if labels_file and content is None:
        raise ValueError(f"the labels file {labels_file!r} is not in the appended zip")
    lines = [] if content is None else content.decode("utf-8").split("\n")
    labels = lines[:-1] if lines and not lines[-1] else lines  # one name a line, as MediaPipe
    return MetadataSummary(
        name=meta.string(meta.root, 0),
        description=meta.string(meta.root, 1),
        version=meta.string(meta.root, 2),
        author=meta.string(meta.root, 4),
        licence=meta.string(meta.root, 5),
        min_parser_version=meta.string(meta.root, 7),
        **_input_fields(meta, _tensor(meta, subgraphs[0], 2)),
        output_name=meta.string(output, 0),
        labels_file=labels_file,
        labels=tuple(labels),
        files=files,
        stored=stored,
    )


def read_metadata_summary(model: str | os.PathLike[str] | bytes) -> MetadataSummary:
    """Parse a ``.tflite`` file's ``TFLITE_METADATA`` and the labels it names.

    Only what flowerkit writes is read (one subgraph, one input, one output); the labels
    come from the appended zip, as MediaPipe reads them. Needs neither TensorFlow nor
    LiteRT.

    Args:
        model: the path of a ``.tflite`` file, or its bytes.

    Returns:
        The :class:`MetadataSummary`.

    Raises:
        ~flowerkit.ModelFileError: no such file, no metadata (an export of an earlier
            flowerkit, or another tool's model without it), or metadata or
            a zip that does not parse.

    Example:
        >>> from flowerkit.export.tflite_metadata import read_metadata_summary
        >>> summary = read_metadata_summary("flowers.tflite")
        >>> summary.name, summary.input_name, summary.color_space, summary.output_name
        ('flowerkit tutorial image classifier', 'image', 'RGB', 'score')
        >>> summary.mean, summary.std, summary.input_range, summary.image_size
        ((0.0,), (1.0,), ((0.0,), (255.0,)), (64, 64))
        >>> summary.labels_file, summary.labels, summary.stored
        ('labels.txt', ('daisy', 'roses', 'tulips'), True)
        >>> read_metadata_summary(b"not a model")
        Traceback (most recent call last):
            ...
        flowerkit.ModelFileError: The TFLite metadata of the model does not parse: no TFL3
        flatbuffer
    """
    where = "the model"
    if not isinstance(model, bytes):
        path = Path(model).expanduser()
        where = repr(str(path))
        try:
            model = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"{where} could not be read: {exc}") from exc
    try:
        return _summary(model)
    except (ValueError, IndexError, KeyError, struct.error, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"The TFLite metadata of {where} does not parse: {exc}") from exc
