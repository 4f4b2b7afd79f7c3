"""The saved-model format: one ``.keras`` file with a ``flowerkit.json`` entry inside.

A ``.keras`` file is a zip archive (Keras' own format: ``config.json``,
``metadata.json``, ``model.weights.h5``). flowerkit adds ``flowerkit.json`` with the class
names, image size, preprocessing, preset, training history, metrics, calibration
temperature and versions. Plain ``keras.saving.load_model`` still opens the file; the
extra entry is ignored there. Saving is atomic: the file appears complete or not at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowerkit.exceptions import ModelFileError

if TYPE_CHECKING:
    import keras

__all__: list[str] = []

METADATA_NAME = "flowerkit.json"
FORMAT_NAME = "flowerkit.model"
FORMAT_VERSION = 1


def model_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with a ``.keras`` suffix (added when missing)."""
    p = Path(path).expanduser()
    return p if p.suffix == ".keras" else p.with_name(p.name + ".keras")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write(model: keras.Model, metadata: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``model`` plus ``metadata`` to ``path`` atomically; return the final path."""
    target = model_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **metadata}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".keras", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_NAME, json.dumps(document, indent=2, sort_keys=True))
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``flowerkit.json`` from a saved model."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelFileError(f"No saved model at {str(p)!r}.")
    if p.is_dir():
        raise ModelFileError(
            f"{str(p)!r} is a folder; pass the .keras file written by Classifier.save."
        )
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
            document = json.loads(archive.read(METADATA_NAME))
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as exc:
        raise ModelFileError(f"{str(p)!r} could not be read: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(p)!r} has a {METADATA_NAME} that is not flowerkit's.")
    if int(document.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(p)!r} was saved in flowerkit model format "
            f"{document.get('format_version')}, newer than this flowerkit understands "
            f"({FORMAT_VERSION}); upgrade flowerkit."
        )
    return document


def read_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load the Keras model in safe mode (no arbitrary code), without its optimizer."""
    import keras

    import flowerkit.models.layers  # noqa: F401  (registers flowerkit's custom layers)

    p = Path(path).expanduser()
    if p.suffix != ".keras":
        raise ModelFileError(f"Saved models end in .keras. Received: {str(p)!r}")
    try:
        return keras.saving.load_model(p, compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelFileError(f"{str(p)!r} could not be loaded by Keras: {exc}") from exc
