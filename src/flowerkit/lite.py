"""Classify photos with an exported ``.tflite`` file, without TensorFlow or Keras.

:meth:`Classifier.export(path, format="tflite") <flowerkit.classifier.Classifier.export>`
writes a LiteRT flatbuffer and appends a zip archive to it with two entries, the way
TFLite metadata packs its associated files (the interpreter reads the flatbuffer and
ignores the bytes after it; ``unzip -l model.tflite`` lists them):

``labels.txt``
    one class name per line, in output order (what MediaPipe and most LiteRT samples read);
``flowerkit.json``
    the :class:`LiteMetadata` document: class names, image size, input type and
    quantization, the temperature already applied to the outputs, how images must be
    decoded (flowerkit's decode rules) and the versions that exported it.

:class:`LiteClassifier` reads both and runs the file through the LiteRT interpreter of the
``ai-edge-litert`` package (``pip install "flowerkit[lite]"``); images are decoded by
:func:`~flowerkit.images.load_image`, exactly as for training, and the results are the
same :class:`~flowerkit.prediction.Predictions` that ``Classifier.predict`` returns.
Importing this module and predicting imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from flowerkit import artifact
from flowerkit.core.description import ModelDescription, Reader, or_default
from flowerkit.core.runtime import available_cores
from flowerkit.exceptions import ModelFileError
from flowerkit.prediction import Predictions, predict_arrays, predict_inputs

__all__ = [
    "LABELS_NAME",
    "METADATA_NAME",
    "LiteClassifier",
    "LiteMetadata",
    "labels_text",
    "read_metadata",
    "require_interpreter",
]

#: The name of the metadata (class names, image size, preprocessing) a ``.tflite``
#: export carries in its appended zip archive.
METADATA_NAME = "flowerkit.json"
#: The class names, one a line, beside the metadata (the LiteRT metadata convention).
LABELS_NAME = "labels.txt"
FORMAT_NAME = "flowerkit.tflite"
FORMAT_VERSION = 1

_INSTALL_HINT = 'pip install "flowerkit[lite]" (or pip install ai-edge-litert)'

#: The quantizations :func:`flowerkit.export.export_model` writes.
Quantization = Literal["float32", "float16", "dynamic", "int8"]


def _input(value: Any) -> dict[str, str]:
    return {str(k): str(x) for k, x in dict(value).items()}


@dataclass(frozen=True, kw_only=True)
class LiteMetadata(ModelDescription):
    """The ``flowerkit.json`` document inside an exported ``.tflite`` file, typed.

    A :class:`~flowerkit.core.description.ModelDescription` (class names, image size,
    preset, outputs, temperature, preprocessing, versions) with the fields of an export.
    Only ``class_names`` and ``image_size`` may be given by position.

    Attributes:
        class_names: one name per output column, in order.
        image_size: ``(height, width)`` the model takes.
        quantization: ``"float32"``, ``"float16"``, ``"dynamic"`` or ``"int8"``.
        input: the input tensor: ``{"name", "dtype", "layout", "range"}``; pixels are RGB
            0..255 in ``(N, height, width, 3)``; an ``"int8"`` file takes ``uint8``.
        outputs: always ``"probabilities"``: the softmax, temperature applied.
        temperature: the calibration temperature already applied to the outputs.
        preset: the preset the model was built from, if any.
        preprocessing: how images are decoded and resized before the model, with the
            ``"decode_rules"`` number (see :data:`flowerkit.artifact.PREPROCESSING`).
        versions: flowerkit, TensorFlow and Keras versions that exported it.
        exported_at: when, as an ISO 8601 UTC timestamp.
        licence: the model's licence as the exporter stated it (``""``: none stated).

    Example:
        >>> from flowerkit.lite import LiteMetadata, read_metadata
        >>> metadata = read_metadata("flowers.tflite")
        >>> metadata.class_names, metadata.image_size, metadata.quantization
        (('daisy', 'roses', 'tulips'), (64, 64), 'float32')
        >>> metadata.outputs, metadata.preset, metadata.preprocessing["decode"]
        ('probabilities', 'tutorial', 'flowerkit.images.load_image')
        >>> metadata = LiteMetadata(class_names=("daisy", "roses"), image_size=(64, 64))
        >>> document = metadata.to_document()
        >>> document["format"], document["format_version"], document["class_names"]
        ('flowerkit.tflite', 1, ['daisy', 'roses'])
        >>> LiteMetadata.from_document(document).image_size
        (64, 64)
    """

    outputs: str = "probabilities"
    quantization: str = "float32"
    input: dict[str, str] = field(default_factory=dict)
    exported_at: str = ""
    licence: str = ""

    #: The description's readers, and the export's own fields read as flowerkit always
    #: read them.
    #:
    #: :meta hide-value:
    READERS: ClassVar[Mapping[str, Reader]] = {
        **ModelDescription.READERS,
        "quantization": str,
        "input": or_default(_input),
        "exported_at": str,
        "licence": str,
    }

    def to_document(self, format_name: str = FORMAT_NAME) -> dict[str, Any]:
        """The JSON document (format name and version included).

        Args:
            format_name: ``"flowerkit.tflite"``; an ONNX export writes the same document
                as ``"flowerkit.onnx"``.

        Returns:
            The document, stamped with the time now when ``exported_at`` is empty.
        """
        document = super().to_document()
        if not document["exported_at"]:
            document["exported_at"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        return {"format": format_name, "format_version": FORMAT_VERSION, **document}


def read_metadata(path: str | os.PathLike[str]) -> LiteMetadata:
    """The :class:`LiteMetadata` inside the exported ``.tflite`` file at ``path``.

    Only the ``flowerkit.json`` entry is read: this needs neither TensorFlow nor the
    LiteRT interpreter. A model exported by a flowerkit that decodes photos by other rules
    gives a :class:`~flowerkit.VersionMismatchWarning`.

    Args:
        path: a file written by ``Classifier.export(path, format="tflite")``.

    Returns:
        Its metadata: class names, image size, quantization and the rest.

    Raises:
        ~flowerkit.ModelFileError: no such file, or not a ``.tflite`` file exported by
            flowerkit (no ``flowerkit.json`` inside, damaged, or of a newer format).

    Example:
        >>> from flowerkit.lite import read_metadata
        >>> read_metadata("flowers.tflite").class_names
        ('daisy', 'roses', 'tulips')
        >>> read_metadata("my_rose.jpg")
        Traceback (most recent call last):
            ...
        flowerkit.ModelFileError: 'my_rose.jpg' has no flowerkit metadata: it is not a
        .tflite file written by Classifier.export (or flowerkit export), which carries the
        class names.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelFileError(f"No exported model at {str(p)!r}.")
    try:
        with zipfile.ZipFile(p) as archive:
            size = archive.getinfo(METADATA_NAME).file_size
            if size > artifact.MAX_METADATA_BYTES:
                raise ModelFileError(
                    f"{str(p)!r}: its {METADATA_NAME} claims {size:,} bytes, more than the "
                    f"{artifact.MAX_METADATA_BYTES:,} flowerkit reads; the file is damaged or "
                    "not one flowerkit exported."
                )
            document = json.loads(archive.read(METADATA_NAME))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(
            f"{str(p)!r} has no flowerkit metadata: it is not a .tflite file written by "
            "Classifier.export (or flowerkit export), which carries the class names."
        ) from exc
    except (json.JSONDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{str(p)!r}: its {METADATA_NAME} could not be read: {exc}") from exc
    if isinstance(document, dict) and document.get("format") == artifact.FORMAT_NAME:
        raise ModelFileError(
            f"{str(p)!r} is a saved Keras model (Classifier.save), not a .tflite export: "
            "load it with flowerkit.Classifier.load, or export it with "
            "Classifier.export(path, format='tflite') to predict without TensorFlow."
        )
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(p)!r} holds a {METADATA_NAME} that is not flowerkit's.")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(p)!r} was exported in flowerkit's tflite format {version!r}; this "
            f"flowerkit reads format {FORMAT_VERSION} and older. Upgrade flowerkit."
        )
    try:
        metadata = LiteMetadata.from_document(document)
    except ValueError as exc:
        raise ModelFileError(f"{str(p)!r} has damaged flowerkit metadata: {exc}") from exc
    artifact.check_decode_rules(metadata.preprocessing, p, stacklevel=4)
    return metadata


def require_interpreter() -> Any:
    """The LiteRT ``Interpreter`` class of ``ai-edge-litert``.

    :class:`LiteClassifier` calls it; call it yourself to fail early, with an
    installation hint, when the optional dependency is missing
    (``pip install "flowerkit[lite]"``).

    Returns:
        The ``ai_edge_litert.interpreter.Interpreter`` class.

    Raises:
        ModuleNotFoundError: ``ai-edge-litert`` is not installed; the message says how to
            install it.

    Example:
        >>> from flowerkit.lite import require_interpreter
        >>> Interpreter = require_interpreter()
        >>> Interpreter.__module__, Interpreter.__name__
        ('ai_edge_litert.interpreter', 'Interpreter')
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"Running a .tflite model needs the LiteRT interpreter: {_INSTALL_HINT}",
            name="ai_edge_litert",
        ) from exc
    return Interpreter


def _interpreter(path: Path, num_threads: int) -> Any:
    interpreter = require_interpreter()
    try:
        return interpreter(model_path=str(path), num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{str(path)!r} could not be loaded by LiteRT: {exc}") from exc


@contextlib.contextmanager
def _native_log_level() -> Iterator[None]:
    """Honour ``TF_CPP_MIN_LOG_LEVEL`` for LiteRT, which ignores it for the one INFO line
    it prints when it applies the XNNPACK delegate: with the level at 1 or more, the C
    library's stderr is closed while the interpreter first allocates its tensors. Errors
    are unaffected: they reach Python as exceptions."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiteClassifier:
    """A classifier exported to ``.tflite``, run by the LiteRT interpreter.

    It predicts like :class:`~flowerkit.Classifier` (same inputs, arguments and
    :class:`~flowerkit.prediction.Predictions`) without importing TensorFlow or Keras. The
    model is run once on a blank image when it is loaded, so a file LiteRT cannot run
    fails here rather than at the first prediction. One instance may be shared by several
    threads: calls into the interpreter take turns.

    Args:
        path: a file written by ``Classifier.export(path, format="tflite")``.
        num_threads: interpreter threads (default: one per available core).

    Attributes:
        path: the file.
        metadata: its :class:`LiteMetadata`.
        class_names: the classes, in output order.
        image_size: ``(height, width)`` images are resized to.

    Raises:
        ~flowerkit.ModelFileError: the file is missing, not a flowerkit export, or not
            loadable by LiteRT.
        ModuleNotFoundError: ``ai-edge-litert`` is not installed.

    Example:
        >>> import numpy as np
        >>> from flowerkit.lite import LiteClassifier
        >>> lite = LiteClassifier("flowers.tflite", num_threads=1)
        >>> lite
        LiteClassifier('flowers.tflite', classes=3, image_size=(64, 64), quantization='float32')
        >>> predictions = lite.predict(["my_rose.jpg", "new_photos/new_daisy.jpg"])
        >>> [p.source for p in predictions], len(predictions[0].top_k)
        (['my_rose.jpg', 'new_photos/new_daisy.jpg'], 3)
        >>> round(sum(predictions[0].probabilities.values()), 3)
        1.0
        >>> lite.predict_proba(np.zeros((2, 64, 64, 3), dtype=np.uint8)).shape
        (2, 3)
        >>> LiteClassifier("no_such_model.tflite")
        Traceback (most recent call last):
            ...
        flowerkit.ModelFileError: No exported model at 'no_such_model.tflite'.
    """

    def __init__(self, path: str | os.PathLike[str], *, num_threads: int | None = None) -> None:
        self.path = Path(path).expanduser()
        self.metadata = read_metadata(self.path)
        self.class_names: tuple[str, ...] = self.metadata.class_names
        self.image_size: tuple[int, int] = self.metadata.image_size
        threads = available_cores() if num_threads is None else num_threads
        self._interpreter = _interpreter(self.path, max(1, threads))
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = 0
        self._lock = threading.Lock()
        with _native_log_level():
            self._run(np.zeros((1, *self.image_size, 3), dtype=np.uint8))  # fail early

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LiteClassifier:
        """The same as ``LiteClassifier(path)``, named like ``Classifier.load``."""
        return cls(path)

    def _quantize(self, images: NDArray[Any]) -> NDArray[Any]:
        dtype = np.dtype(self._input["dtype"])
        if dtype.kind == "f":
            return images.astype(dtype)
        scale, zero = self._input["quantization"]
        if (scale, zero) == (1.0, 0) and dtype == np.uint8:
            return images.astype(np.uint8)
        info = np.iinfo(dtype)
        q = np.round(images.astype(np.float32) / scale + zero)
        quantized: NDArray[Any] = np.clip(q, info.min, info.max).astype(dtype)
        return quantized

    def _run(self, images: NDArray[Any]) -> NDArray[np.float64]:
        with self._lock:
            try:
                if len(images) != self._batch:
                    self._batch = 0
                    self._interpreter.resize_tensor_input(
                        self._input["index"], [len(images), *self.image_size, 3]
                    )
                    self._interpreter.allocate_tensors()
                    self._batch = len(images)
                self._interpreter.set_tensor(self._input["index"], self._quantize(images))
                self._interpreter.invoke()
            except (RuntimeError, ValueError) as exc:
                raise ModelFileError(f"{str(self.path)!r} failed to run in LiteRT: {exc}") from exc
            out = np.array(self._interpreter.get_tensor(self._output["index"]))
        scale, zero = self._output["quantization"]
        if out.dtype.kind != "f":
            out = (out.astype(np.float64) - zero) * scale
        return out.astype(np.float64)

    def predict_proba(self, images: NDArray[Any], *, batch_size: int = 32) -> NDArray[np.float64]:
        """Class probabilities ``(N, classes)`` for images already at ``image_size``
        (uint8 or 0..255 floats, ``(N, H, W, 3)``)."""
        return predict_arrays(
            images,
            self._run,
            image_size=self.image_size,
            num_classes=len(self.class_names),
            batch_size=batch_size,
        )

    def predict(
        self,
        inputs: object,
        *,
        top_k: int = 3,
        batch_size: int = 32,
        errors: Literal["raise", "skip"] = "raise",
        progress: Callable[[int, int], None] | None = None,
        min_confidence: float | None = None,
    ) -> Predictions:
        """Classify images, as :meth:`Classifier.predict
        <flowerkit.classifier.Classifier.predict>` does (same inputs, arguments, errors
        and results)."""
        return predict_inputs(
            inputs,
            self._run,
            image_size=self.image_size,
            class_names=self.class_names,
            top_k=top_k,
            batch_size=batch_size,
            errors=errors,
            progress=progress,
            min_confidence=min_confidence,
        )

    def __repr__(self) -> str:
        return (
            f"LiteClassifier({str(self.path)!r}, classes={len(self.class_names)}, "
            f"image_size={self.image_size}, quantization={self.metadata.quantization!r})"
        )


def labels_text(class_names: Sequence[str]) -> str:
    """The ``labels.txt`` entry: one class name per line.

    The ``.tflite`` export writes it into the file beside ``flowerkit.json`` (for
    MediaPipe and most LiteRT samples, which read the labels from it), and the SavedModel
    export into its ``assets.extra`` folder.

    Args:
        class_names: the classes, in output order.

    Returns:
        The text, each name followed by a newline.

    Example:
        >>> import zipfile
        >>> from flowerkit.lite import labels_text
        >>> print(labels_text(["daisy", "roses"]), end="")
        daisy
        roses
        >>> with zipfile.ZipFile("flowers.tflite") as archive:
        ...     archive.read("labels.txt").decode() == labels_text(["daisy", "roses", "tulips"])
        True
    """
    return "".join(f"{name}\n" for name in class_names)
