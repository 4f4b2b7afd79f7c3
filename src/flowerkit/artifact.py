"""The saved-model format: one ``.keras`` file with a ``flowerkit.json`` entry inside.

A ``.keras`` file is a zip archive (Keras' own format: ``config.json``,
``metadata.json``, ``model.weights.h5``). flowerkit adds ``flowerkit.json`` with the class
names, image size, preprocessing, preset, training history, metrics, calibration
temperature and versions. Plain ``keras.saving.load_model`` still opens the file; the
extra entry is ignored there. Saving is atomic: the file appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from flowerkit._version import __version__
from flowerkit.core.description import MAX_SIDE as MAX_SIDE  # still importable from here
from flowerkit.core.description import (
    ModelDescription,
    Reader,
    optional,
    or_default,
    read_object,
)
from flowerkit.core.paths import new_file_mode, remove_stale_temporaries, temporary_prefix
from flowerkit.exceptions import ModelFileError, VersionMismatchWarning

if TYPE_CHECKING:
    import keras

__all__ = [
    "PREPROCESSING",
    "ModelMetadata",
    "check_decode_rules",
    "current_preprocessing",
    "current_versions",
    "find",
    "model_path",
    "read",
    "read_metadata",
    "read_model",
    "write",
]

METADATA_NAME = "flowerkit.json"
FORMAT_NAME = "flowerkit.model"
#: The format of ``flowerkit.json``; a file of a newer format is refused, an older one read.
FORMAT_VERSION = 1
#: The largest ``flowerkit.json`` read (a long training history is well under 1 MB).
MAX_METADATA_BYTES = 64 * 2**20


#: How images reach a saved model: what ``Classifier.predict`` does before the model runs.
PREPROCESSING: dict[str, str] = {
    "input": "RGB uint8 pixels 0..255 (the model rescales inside)",
    "decode": "flowerkit.images.load_image",
    "resize": "squash to image_size, Pillow bilinear (anti-aliased)",
    "alpha": "composited on white",
    "exif_orientation": "applied",
}


def _decode_rules() -> int:
    # Imported here: the images layer brings Pillow, which reading metadata never needs.
    from flowerkit.images.decode import DECODE_RULES

    return DECODE_RULES


def current_preprocessing() -> dict[str, str]:
    """:data:`PREPROCESSING` and the decode rules of this flowerkit."""
    return {**PREPROCESSING, "decode_rules": str(_decode_rules())}


def current_versions() -> dict[str, str]:
    """The flowerkit, TensorFlow, Keras and Python versions of this process, as a saved
    model and an export record them (``versions``).

    Returns:
        ``{"flowerkit", "tensorflow", "keras", "python"}`` to version strings.

    Example:
        >>> from flowerkit.artifact import current_versions
        >>> sorted(current_versions())
        ['flowerkit', 'keras', 'python', 'tensorflow']
    """
    import keras
    import tensorflow as tf

    return {
        "flowerkit": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def _floats(value: object) -> dict[str, float]:
    return {str(k): float(x) for k, x in (value or {}).items()} if isinstance(value, dict) else {}


def _history(value: Any) -> dict[str, list[float]]:
    return {str(k): [float(x) for x in v] for k, v in value.items()}


def _rate(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, kw_only=True)
class ModelMetadata(ModelDescription):
    """The ``flowerkit.json`` document saved inside a model file, typed.

    A :class:`~flowerkit.core.description.ModelDescription` (class names, image size,
    preset, outputs, temperature, preprocessing, versions) with the fields of training.
    Only ``class_names`` and ``image_size`` may be given by position.

    Attributes:
        class_names: one name per model output, in output order.
        image_size: ``(height, width)`` the model takes.
        preset: the preset the model was built from, if any.
        outputs: ``"logits"`` or ``"probabilities"``.
        temperature: the calibration temperature (1.0 when not calibrated).
        preprocessing: how images are decoded and resized before the model (see
            :data:`PREPROCESSING`); by default, and for a document without it, this
            flowerkit's (:func:`current_preprocessing`).
        versions: flowerkit, TensorFlow, Keras and Python versions that saved it.
        calibration: ``{"temperature", "ece_before", "ece_after"}`` when calibrated.
        history: per-epoch training metrics.
        metrics: the last epoch's metrics.
        build_config: how the model was built, for the record.
        scheduled_learning_rate: the base rate of the recipe's schedule (``None``: the
            user's own optimizer), so that ``fit`` on a loaded model runs the schedule again
            instead of continuing at the decayed rate the saved optimizer ended with.
        recipe: the :class:`~flowerkit.TrainingRecipe` the model was trained with, as
            ``dataclasses.asdict(recipe)`` (``None``: not recorded).
        saved_at: when, as an ISO 8601 UTC timestamp.

    Example:
        >>> import dataclasses
        >>> import flowerkit as fk
        >>> from flowerkit.artifact import ModelMetadata
        >>> metadata = ModelMetadata(
        ...     class_names=("daisy", "roses"),
        ...     image_size=(64, 64),
        ...     preset="tutorial",
        ...     recipe=dataclasses.asdict(fk.TrainingRecipe(learning_rate=2e-3)),
        ... )
        >>> document = metadata.to_document()
        >>> document["format"], document["format_version"], document["recipe"]["learning_rate"]
        ('flowerkit.model', 1, 0.002)
        >>> ModelMetadata.from_document(document) == metadata
        True
        >>> ModelMetadata.from_document({**document, "recipe": ["adam"]})
        Traceback (most recent call last):
            ...
        ValueError: recipe must be a JSON object with string keys, not ['adam']
    """

    preprocessing: dict[str, str] = field(default_factory=current_preprocessing)
    calibration: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    build_config: dict[str, Any] = field(default_factory=dict)
    scheduled_learning_rate: float | None = None
    recipe: dict[str, Any] | None = None
    saved_at: str = ""

    #: The description's readers, and the training fields read as flowerkit always read
    #: them (``history`` must be an object of lists of numbers; a ``calibration`` or
    #: ``metrics`` that is not an object, or a rate that is not a number, is dropped).
    #:
    #: :meta hide-value:
    READERS: ClassVar[Mapping[str, Reader]] = {
        **ModelDescription.READERS,
        "calibration": _floats,
        "history": or_default(_history),
        "metrics": _floats,
        "build_config": or_default(dict),
        "scheduled_learning_rate": _rate,
        "recipe": optional(read_object),
        "saved_at": str,
    }

    @classmethod
    def now(cls, **fields: Any) -> ModelMetadata:
        """Metadata for a model being saved now, with this process's versions.

        Args:
            **fields: the fields but ``versions`` and ``saved_at``.

        Returns:
            The metadata, stamped with :func:`current_versions` and the time.
        """
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        return cls(versions=current_versions(), saved_at=stamp, **fields)

    def to_document(self) -> dict[str, Any]:
        """The JSON document (format name and version included).

        Returns:
            The document :func:`write` saves as ``flowerkit.json``.
        """
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **super().to_document()}

    def check_version(self, path: str | os.PathLike[str], stacklevel: int = 3) -> None:
        """Warn when another flowerkit version saved this model, or one that decoded
        images by other rules (:data:`flowerkit.images.decode.DECODE_RULES`; a model
        saved without the number used rules 1).

        The warning is a :class:`~flowerkit.VersionMismatchWarning`.

        Args:
            path: the model file, named in the warning.
            stacklevel: the warning's ``stacklevel``.
        """
        saved = self.versions.get("flowerkit")
        if saved != __version__:
            warnings.warn(
                f"{str(path)!r} was saved by flowerkit {saved}; this is {__version__}.",
                VersionMismatchWarning,
                stacklevel=stacklevel,
            )
        check_decode_rules(self.preprocessing, path, stacklevel=stacklevel + 1)


def check_decode_rules(
    preprocessing: dict[str, str], path: str | os.PathLike[str], stacklevel: int = 3
) -> None:
    """Warn with :class:`~flowerkit.VersionMismatchWarning` when the model at ``path``
    was trained on images decoded by other rules than this flowerkit's
    (:data:`flowerkit.images.decode.DECODE_RULES`; a model saved without the number used
    rules 1).

    Args:
        preprocessing: the model's ``preprocessing`` record.
        path: the model file, named in the warning.
        stacklevel: the warning's ``stacklevel``.
    """
    rules, current = preprocessing.get("decode_rules", "1"), _decode_rules()
    if rules != str(current):
        warnings.warn(
            f"{str(path)!r} was trained on photos decoded by flowerkit's decode rules "
            f"{rules}; this flowerkit decodes by rules {current} (see "
            "flowerkit.images.decode), so some photos give it slightly different pixels "
            "than in training (rules 2: JPEGs 4x its input size or more are DCT-scaled; "
            "rules 3: embedded colour profiles are converted to sRGB). "
            "Retrain or fine-tune it to match.",
            VersionMismatchWarning,
            stacklevel=stacklevel,
        )


def model_path(path: str | os.PathLike[str]) -> Path:
    """The file :func:`write` writes for ``path``.

    That is ``path`` itself when it ends in ``.keras``, else ``path`` with ``.keras``
    appended (when it has another suffix or none).
    """
    p = Path(path).expanduser()
    return p if p.suffix == ".keras" else p.with_name(p.name + ".keras")


def find(path: str | os.PathLike[str]) -> Path:
    """The saved model that ``path`` names.

    That is the file :func:`write` writes for ``path`` (``model`` finds ``model.keras``),
    else ``path`` itself when it is a file.

    Raises:
        ~flowerkit.ModelFileError: neither exists; the message names every path
            tried.
    """
    p = Path(path).expanduser()
    tried = [model_path(p)] if p.suffix == ".keras" else [model_path(p), p]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    if p.is_dir():
        raise ModelFileError(
            f"{str(p)!r} is a folder; pass the .keras file written by Classifier.save."
        )
    raise ModelFileError("No saved model at " + " or ".join(repr(str(c)) for c in tried) + ".")


@contextlib.contextmanager
def _without_training_state(model: keras.Model) -> Iterator[None]:
    """Hide the optimizer and compile settings of ``model`` while it is saved.

    A shipped model needs its layers and weights; the optimizer's state (Adam keeps two
    values per weight: 32 of the 48 MB of a trained ``tutorial`` model) belongs in the
    training checkpoint. Without a compile config the loaded model is uncompiled (no
    warning about optimizer variables it cannot restore), and ``Classifier.fit`` compiles
    it with the recipe, as it does any uncompiled model.
    """
    compiled = getattr(model, "compiled", False)
    optimizer = getattr(model, "optimizer", None)
    model.compiled, model.optimizer = False, None
    try:
        yield
    finally:
        model.compiled, model.optimizer = compiled, optimizer


def write(model: keras.Model, metadata: ModelMetadata, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` (layers and weights, without optimizer state) plus ``metadata`` to
    ``path`` atomically.

    The file is written under a temporary name beside ``path`` and renamed into place, so
    a process killed at any moment leaves the previous file intact; the temporaries such
    kills leave are removed by the next save into that folder.

    Returns:
        The final path (:func:`model_path`).
    """
    target = model_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)  # what saves killed mid-write left
    document = metadata.to_document()
    fd, tmp_name = tempfile.mkstemp(
        prefix=temporary_prefix(target), suffix=".keras", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _without_training_state(model):
            model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            document["checksums"] = _checksums(archive)
            archive.writestr(METADATA_NAME, json.dumps(document, indent=2, sort_keys=True))
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _checksums(archive: zipfile.ZipFile) -> dict[str, str]:
    """SHA-256 of every entry but the metadata: a zip's CRC catches a damaged file, not an
    entry rewritten (or a copy damaged and re-zipped) with valid CRCs."""
    sums = {}
    for info in archive.infolist():
        if info.filename == METADATA_NAME:
            continue
        digest = hashlib.sha256()
        with archive.open(info) as entry:
            for block in iter(lambda: entry.read(1 << 20), b""):
                digest.update(block)
        sums[info.filename] = digest.hexdigest()
    return sums


def _verify_checksums(path: Path, document: dict[str, Any]) -> None:
    """Check the entries against the checksums saved with them (files saved before
    checksums were kept have none)."""
    expected = document.get("checksums")
    if expected is None:
        return
    if not isinstance(expected, dict):
        raise ModelFileError(f"{str(path)!r} has damaged flowerkit metadata: bad checksums.")
    try:
        with zipfile.ZipFile(path) as archive:
            actual = _checksums(archive)
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error, EOFError) as exc:
        raise ModelFileError(f"{str(path)!r} could not be read: {exc!r}") from exc
    for name in sorted(set(expected) | set(actual)):
        if expected.get(name) != actual.get(name):
            what = "is missing" if name not in actual else "does not match its checksum"
            if name not in expected:
                what = "was added after saving"
            raise ModelFileError(
                f"{str(path)!r} is corrupted: its entry {name!r} {what}. Save or copy the "
                "model again."
            )


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check the ``flowerkit.json`` document of the saved model ``path`` names.

    The model is found as by :func:`find`; TensorFlow is not needed.

    Raises:
        ~flowerkit.ModelFileError: no such model, or a file that is not a
            readable flowerkit model of a format this version understands.
    """
    p = find(path)
    if not zipfile.is_zipfile(p):
        raise ModelFileError(
            f"{str(p)!r} is not a .keras model file (not a zip archive); it may be damaged "
            "or a different format."
        )
    try:
        with zipfile.ZipFile(p) as archive:
            if METADATA_NAME not in archive.namelist():
                raise ModelFileError(
                    f"{str(p)!r} is a Keras model without flowerkit metadata. Wrap it with "
                    "Classifier(keras.saving.load_model(path), class_names, trained=True)."
                )
            size = archive.getinfo(METADATA_NAME).file_size
            if size > MAX_METADATA_BYTES:
                raise ModelFileError(
                    f"{str(p)!r} has a {METADATA_NAME} of {size:,} bytes, more than the "
                    f"{MAX_METADATA_BYTES:,} flowerkit reads; the file is damaged or not "
                    "flowerkit's."
                )
            document = json.loads(archive.read(METADATA_NAME))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ModelFileError(f"{str(p)!r} could not be read: {exc}") from exc
    except (ValueError, RecursionError, zlib.error, EOFError) as exc:  # damaged entries
        raise ModelFileError(f"{str(p)!r} could not be read: {exc!r}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(p)!r} has a {METADATA_NAME} that is not flowerkit's.")
    version = document.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ModelFileError(
            f"{str(p)!r} has damaged flowerkit metadata: format_version={version!r} is not "
            "a format number."
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(p)!r} was saved in flowerkit model format "
            f"{document.get('format_version')}, newer than this flowerkit understands "
            f"({FORMAT_VERSION}); upgrade flowerkit."
        )
    return document


def read_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load the Keras model in safe mode (no arbitrary code), without its optimizer.

    Raises:
        ~flowerkit.ModelFileError: no such model, a file not ending in
            ``.keras``, or one Keras cannot load.
    """
    import keras

    import flowerkit.models.layers  # noqa: F401  (registers flowerkit's custom layers)

    p = find(path)
    if p.suffix != ".keras":
        raise ModelFileError(f"Saved models end in .keras. Received: {str(p)!r}")
    try:
        return keras.saving.load_model(p, compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelFileError(f"{str(p)!r} could not be loaded: {_load_failure(exc)}") from exc


def _load_failure(exc: Exception) -> str:
    """What a failed Keras load means for a flowerkit user, from Keras' message."""
    text = str(exc)
    if "Lambda" in text and ("safe_mode" in text or "lambda" in text):
        return (
            "it contains a Lambda layer, whose Python code flowerkit never runs (Keras safe "
            "mode). Rebuild the model with a registered custom layer instead (see "
            "'Writing your own preset')."
        )
    if "Could not locate" in text or "register_keras_serializable" in text:
        return (
            "it uses a layer or function that is not registered in this process. Import "
            "the module that defines it (registered with "
            "keras.saving.register_keras_serializable) before loading. Keras said: " + text
        )
    if "safe_mode" in text or "not allowed" in text or "disallowed" in text:
        return "it asks Keras to run code, which safe mode refuses. Keras said: " + text
    return f"Keras could not load it ({type(exc).__name__}: {text})"


def read(path: str | os.PathLike[str]) -> tuple[keras.Model, ModelMetadata]:
    """The model and its :class:`ModelMetadata` from the saved model ``path`` names.

    Warns with :class:`~flowerkit.VersionMismatchWarning` when another flowerkit
    version saved it.

    Raises:
        ~flowerkit.ModelFileError: no such model, or a file that is not a
            readable flowerkit model.
    """
    document = read_metadata(path)
    _verify_checksums(find(path), document)
    try:
        metadata = ModelMetadata.from_document(document)
    except ValueError as exc:
        raise ModelFileError(f"{str(path)!r} has damaged flowerkit metadata: {exc}") from exc
    metadata.check_version(path, stacklevel=4)
    return read_model(path), metadata
