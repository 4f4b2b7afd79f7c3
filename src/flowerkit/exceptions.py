"""Every error and warning flowerkit raises, in one tree.

::

    FlowerkitError
    ├── ConfigError (ValueError)              a bad argument or option
    │   └── UnknownPresetError                no preset by that name (suggests close ones)
    ├── DatasetError (ValueError)             a folder that cannot be trained on
    │   ├── UnreadableImageError              one file that is not a usable image
    │   └── PlanError                         a plan of moves refused whole (nothing moved)
    ├── NotFittedError (RuntimeError, AttributeError)
    │                                         predict/evaluate/save before fit or load
    ├── ModelFileError (OSError)              a saved model that cannot be read or written
    ├── ExportError (RuntimeError)            an export that failed to convert or verify
    ├── DistributedError (RuntimeError)       training a tf.distribute strategy cannot run
    └── DownloadError (OSError)               a download that failed or did not verify

    FlowerkitWarning (UserWarning)
    ├── BadFilesWarning                       files were left out of a data set
    ├── VersionMismatchWarning                a model saved by another flowerkit version
    └── RecipeWarning                         a model's training recipe had to be guessed

Each error also subclasses the matching builtin so an ordinary ``except ValueError``
or ``except OSError`` keeps working. All of them are importable from ``flowerkit``
(``flowerkit.ConfigError``), which is also their ``__module__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "BadFilesWarning",
    "ConfigError",
    "DatasetError",
    "DistributedError",
    "DownloadError",
    "ExportError",
    "FlowerkitError",
    "FlowerkitWarning",
    "ModelFileError",
    "NotFittedError",
    "PlanError",
    "RecipeWarning",
    "UnknownPresetError",
    "UnreadableImageError",
    "VersionMismatchWarning",
]


class FlowerkitError(Exception):
    """Root of every error flowerkit raises on purpose."""


class ConfigError(FlowerkitError, ValueError):
    """An argument or option has a value flowerkit cannot use."""


class UnknownPresetError(ConfigError, KeyError):
    """No model preset is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DatasetError(FlowerkitError, ValueError):
    """A folder of images cannot be turned into a training data set."""


class UnreadableImageError(DatasetError):
    """One file could not be decoded as an image.

    ``path`` is the file (``None`` for in-memory input), ``reason`` a short stable code
    such as ``"truncated"`` or ``"not_an_image"``, and the message says what to do.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, reason: str = "decode_error"
    ):
        super().__init__(message)
        self.path = None if path is None else Path(path)
        self.reason = reason


class PlanError(DatasetError):
    """A plan of file moves (``flowerkit audit --write-plan``, ``--apply``, ``--undo``) was
    refused whole, before anything moved.

    ``problems`` lists every problem found, each with its line in the plan where it has
    one (an unknown file, a missing class folder, a file changed since the plan was
    written, a target that exists, a read-only folder, ...); the message lists them all
    and says what to do.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class NotFittedError(FlowerkitError, RuntimeError, AttributeError):
    """The classifier has no trained weights yet: call ``fit`` or ``Classifier.load`` first."""

    @classmethod
    def cannot(cls, action: str) -> NotFittedError:
        """The error for an untrained classifier asked to ``action``, saying what to do."""
        return cls(
            f"This Classifier is not trained yet, so it cannot {action}. Call "
            "fit(...) first, load a trained one with Classifier.load(path), or wrap "
            "trained weights with Classifier(model, class_names, trained=True)."
        )


class ModelFileError(FlowerkitError, OSError):
    """A saved model file is missing, damaged, or not a flowerkit model."""


class ExportError(FlowerkitError, RuntimeError):
    """An export could not be converted, or what it wrote did not verify.

    ``format`` is the export format (``"saved_model"``, ``"tflite"``, ...); nothing is
    left at the target path when this is raised.
    """

    def __init__(self, message: str, *, format: str = "") -> None:
        super().__init__(message)
        self.format = format


class DistributedError(FlowerkitError, RuntimeError):
    """Training under a ``tf.distribute`` strategy failed for a reason of the strategy's
    own: another worker of a multi-worker run was lost, or this Keras release is not one
    flowerkit's multi-worker training is tested on."""


class DownloadError(FlowerkitError, OSError):
    """A download failed, or its bytes did not match the expected checksum.

    ``url`` is the address tried (``None`` when nothing was tried), and ``reason`` a short
    stable code: ``"offline"`` (downloads are switched off), ``"network"`` (no route,
    refused, DNS, a timeout), ``"not_found"`` (HTTP 404/410, or no such file in a folder
    mirror), ``"size"``, ``"checksum"`` or ``"invalid"`` (the bytes arrived but are not the
    expected file; they were deleted), or ``"failed"``. The message says what to do.
    """

    def __init__(self, message: str, *, url: str | None = None, reason: str = "failed") -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


class FlowerkitWarning(UserWarning):
    """Root of every warning flowerkit emits."""


class BadFilesWarning(FlowerkitWarning):
    """Some files in a data folder were left out because they are not usable images."""


class VersionMismatchWarning(FlowerkitWarning):
    """A model was saved by a different flowerkit version than the one loading it."""


class RecipeWarning(FlowerkitWarning):
    """A classifier is about to train by a recipe that was guessed, not saved: a model
    saved before flowerkit kept its recipe, or a preset that is not registered here."""


# One public namespace: tracebacks and docs show ``flowerkit.ConfigError``, not the module
# that happens to define it (as httpx does).
for _name in __all__:
    globals()[_name].__module__ = "flowerkit"
del _name
