"""Finding pretrained weights on this machine, and the preset the default command trains.

A transfer preset declares the names of the weights files it can start from
(``PresetSpec.pretrained_weights``). :func:`find_weights` looks for them, in order:

1. the folder named by ``$FLOWERKIT_WEIGHTS`` (:data:`WEIGHTS_ENV`);
2. ``weights/`` in flowerkit's cache folder (:func:`flowerkit.core.paths.default_cache_dir`);
3. Keras' own cache, ``$KERAS_HOME/models`` (default ``~/.keras/models``), where
   ``weights="imagenet"`` downloads land.

Nothing is ever downloaded here. :func:`default_preset` picks what ``flowerkit train``
trains when no ``--preset`` is given: the strongest preset whose weights are on this
machine (``mobilenet_v2``), else ``compact`` (trained from scratch), and says why.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from flowerkit.core.paths import default_cache_dir
from flowerkit.models.registry import PresetSpec, get_preset

__all__ = [
    "TRANSFER_PRESET",
    "WEIGHTS_ENV",
    "DefaultPreset",
    "default_preset",
    "find_weights",
    "weights_folders",
]

#: The environment variable naming a folder of pretrained weights files.
WEIGHTS_ENV = "FLOWERKIT_WEIGHTS"

#: The transfer preset the default command prefers, and the preset it falls back to.
TRANSFER_PRESET, SCRATCH_PRESET = "mobilenet_v2", "compact"


def weights_folders() -> list[Path]:
    """The folders :func:`find_weights` searches, in order (existing or not)."""
    folders = []
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        folders.append(Path(env).expanduser())
    folders.append(default_cache_dir() / "weights")
    keras_home = os.environ.get("KERAS_HOME")
    folders.append(Path(keras_home).expanduser() if keras_home else Path.home() / ".keras")
    folders[-1] = folders[-1] / "models"
    return folders


def find_weights(preset: str | PresetSpec) -> Path | None:
    """The first local weights file for ``preset`` in :func:`weights_folders`, or
    ``None`` (also for a preset that declares no ``pretrained_weights``)."""
    spec = get_preset(preset) if isinstance(preset, str) else preset
    for folder in weights_folders():
        if not folder.is_dir():
            continue
        for pattern in spec.pretrained_weights:
            matches = sorted(p for p in folder.glob(pattern) if p.is_file())
            if matches:
                return matches[0]
    return None


class DefaultPreset(NamedTuple):
    """What the default command trains, and why (see :func:`default_preset`).

    Attributes:
        preset: the preset name.
        options: options for it (``{"weights": path}`` for the transfer preset).
        reason: one line for people.
    """

    preset: str
    options: dict[str, Any]
    reason: str


def default_preset(weights: str | os.PathLike[str] | None = None) -> DefaultPreset:
    """The strongest preset trainable offline: ``mobilenet_v2`` from ``weights`` or from
    weights found by :func:`find_weights`, else ``compact`` from scratch."""
    if weights is not None:
        return DefaultPreset(
            TRANSFER_PRESET, {"weights": weights}, f"pretrained weights from {str(weights)!r}"
        )
    found = find_weights(TRANSFER_PRESET)
    if found is not None:
        return DefaultPreset(
            TRANSFER_PRESET, {"weights": str(found)}, f"ImageNet weights found at {str(found)!r}"
        )
    places = ", ".join(str(f) for f in weights_folders())
    return DefaultPreset(
        SCRATCH_PRESET,
        {},
        f"no ImageNet weights for {TRANSFER_PRESET!r} on this machine (looked in {places}; "
        f"pass --weights FILE or set ${WEIGHTS_ENV}); training from scratch",
    )
