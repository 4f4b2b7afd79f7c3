"""The preset the default command trains: :func:`default_preset`.

``flowerkit train`` (and ``flowerkit demo``) without ``--preset`` trains ``mobilenet_v2``
from its ImageNet weights: a copy on this machine, else one downloaded once by
:func:`~flowerkit.models.download.fetch_weights`. When they cannot be had (offline, no
route, a refused connection, a timeout, a download that failed its checks) it trains
``compact`` from scratch, and says why in one line.

Finding weights on this machine (:func:`~flowerkit.models.local_weights.find_weights`,
:func:`~flowerkit.models.local_weights.weights_folders`, ``WEIGHTS_ENV``) lives in
:mod:`flowerkit.models.local_weights`, below the downloads that use it; the names are
importable from here too.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from flowerkit.core.download import Progress
from flowerkit.exceptions import DownloadError
from flowerkit.models.download import fetch_weights
from flowerkit.models.local_weights import WEIGHTS_ENV, find_weights, weights_folders

__all__ = [
    "SCRATCH_PRESET",
    "TRANSFER_PRESET",
    "WEIGHTS_ENV",
    "DefaultPreset",
    "default_preset",
    "find_weights",
    "weights_folders",
]

#: The transfer preset the default command prefers, and the preset it falls back to.
TRANSFER_PRESET, SCRATCH_PRESET = "mobilenet_v2", "compact"


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


def default_preset(
    weights: str | os.PathLike[str] | None = None,
    *,
    offline: bool | None = None,
    progress: Progress | None = None,
) -> DefaultPreset:
    """The strongest preset that can train here: ``mobilenet_v2`` from ``weights``, from
    weights found on this machine, or from weights downloaded now (once); else
    ``compact`` from scratch, with the reason and what to do in ``reason``.

    Args:
        weights: a weights file the user gave (``--weights FILE``), used as it is.
        offline: ``True`` never downloads; ``None`` follows ``$FLOWERKIT_OFFLINE``.
        progress: called as ``progress(done_bytes, total_bytes)`` while downloading.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from flowerkit.models.weights import default_preset
        >>> env = {"FLOWERKIT_CACHE_DIR": "cache", "KERAS_HOME": "keras", "FLOWERKIT_WEIGHTS": ""}
        >>> with mock.patch.dict(os.environ, env):
        ...     choice = default_preset(offline=True)
        >>> choice.preset, choice.reason
        ('compact', "offline (offline=True): the ImageNet weights for 'mobilenet_v2' are
        not on this machine ...; training from scratch")
    """
    if weights is not None:
        return DefaultPreset(
            TRANSFER_PRESET, {"weights": weights}, f"pretrained weights from {str(weights)!r}"
        )
    found = find_weights(TRANSFER_PRESET)
    if found is not None:
        return DefaultPreset(
            TRANSFER_PRESET, {"weights": str(found)}, f"ImageNet weights found at {str(found)!r}"
        )
    try:
        fetched = fetch_weights(TRANSFER_PRESET, offline=offline, progress=progress)
    except DownloadError as exc:
        return DefaultPreset(SCRATCH_PRESET, {}, f"{str(exc).rstrip('.')}; training from scratch")
    return DefaultPreset(
        TRANSFER_PRESET,
        {"weights": str(fetched)},
        f"ImageNet weights downloaded to {str(fetched)!r}, where later runs find them",
    )
