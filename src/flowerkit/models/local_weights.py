"""Pretrained weights on this machine: the folders flowerkit looks in, and
:func:`find_weights`.

A transfer preset declares the names of the weights files it can start from
(``PresetSpec.pretrained_weights``). :func:`find_weights` looks for them, in order, in:

1. the folder named by ``$FLOWERKIT_WEIGHTS`` (:data:`WEIGHTS_ENV`);
2. ``weights/`` in flowerkit's cache folder (:func:`weights_cache_dir`), where
   :func:`~flowerkit.models.download.fetch_weights` puts what it downloads;
3. Keras' own cache, ``$KERAS_HOME/models`` (default ``~/.keras/models``).

Nothing here uses the network.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from flowerkit.core.paths import default_cache_dir
from flowerkit.models.registry import PresetSpec, get_preset

__all__ = ["WEIGHTS_ENV", "find_weights", "sha256_of", "weights_cache_dir", "weights_folders"]

#: The environment variable naming a folder of pretrained weights files.
WEIGHTS_ENV = "FLOWERKIT_WEIGHTS"


def weights_cache_dir() -> Path:
    """``weights/`` in :func:`~flowerkit.core.paths.default_cache_dir`, where
    :func:`~flowerkit.models.download.fetch_weights` puts what it downloads (the folder
    need not exist yet).

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from flowerkit.models.local_weights import weights_cache_dir
        >>> with mock.patch.dict(os.environ, {"FLOWERKIT_CACHE_DIR": "/srv/fk"}):
        ...     print(weights_cache_dir().as_posix())
        /srv/fk/weights
    """
    return default_cache_dir() / "weights"


def weights_folders() -> list[Path]:
    """The folders :func:`find_weights` searches, in order (existing or not).

    Example:
        >>> import os
        >>> from unittest import mock
        >>> from flowerkit.models.local_weights import weights_folders
        >>> env = {"FLOWERKIT_WEIGHTS": "/w", "FLOWERKIT_CACHE_DIR": "/c", "KERAS_HOME": "/k"}
        >>> with mock.patch.dict(os.environ, env):
        ...     print([p.as_posix() for p in weights_folders()])
        ['/w', '/c/weights', '/k/models']
    """
    folders = []
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        folders.append(Path(env).expanduser())
    folders.append(weights_cache_dir())
    keras_home = os.environ.get("KERAS_HOME")
    folders.append(
        (Path(keras_home).expanduser() if keras_home else Path.home() / ".keras") / "models"
    )
    return folders


def find_weights(preset: str | PresetSpec) -> Path | None:
    """The first local weights file for ``preset`` in :func:`weights_folders`, or
    ``None`` (also for a preset that declares no ``pretrained_weights``).

    Args:
        preset: a preset name or :class:`~flowerkit.models.PresetSpec`.

    Example:
        >>> import os
        >>> from pathlib import Path
        >>> from unittest import mock
        >>> from flowerkit.models.local_weights import find_weights
        >>> _ = Path("mine").mkdir(), Path("mine/mobilenet_v2_1.0_224_no_top.weights.h5").touch()
        >>> env = {"FLOWERKIT_WEIGHTS": "mine", "FLOWERKIT_CACHE_DIR": "c", "KERAS_HOME": "k"}
        >>> with mock.patch.dict(os.environ, env):
        ...     print(find_weights("mobilenet_v2").as_posix(), find_weights("compact"))
        mine/mobilenet_v2_1.0_224_no_top.weights.h5 None
    """
    spec = get_preset(preset) if isinstance(preset, str) else preset
    for folder in weights_folders():
        if not folder.is_dir():
            continue
        for pattern in spec.pretrained_weights:
            matches = sorted(p for p in folder.glob(pattern) if p.is_file())
            if matches:
                return matches[0]
    return None


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file at ``path``, in lower-case hex (read in 1 MiB chunks).

    Args:
        path: the file.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.models.local_weights import sha256_of
        >>> _ = Path("w.bin").write_bytes(b"weights")
        >>> sha256_of("w.bin")[:16]
        '9a129038d9a00aed'
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
