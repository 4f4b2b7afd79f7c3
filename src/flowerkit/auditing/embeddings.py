"""What the audit sees of each photo: a feature vector from a network, the network's own
class scores when it is the user's trained model, and a grey thumbnail for the
near-duplicate test.

Vectors are cached in flowerkit's cache folder (``<cache>/audit/``, never next to the
data), one file per network, keyed by the SHA-256 of each photo's decoded pixels: a
second audit of an unchanged folder decodes nothing and runs no network, and a photo
that moved or was renamed is still found.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from flowerkit.auditing.signatures import THUMB, grey_thumbnail
from flowerkit.core.paths import default_cache_dir
from flowerkit.exceptions import ConfigError

if TYPE_CHECKING:
    import keras

    from flowerkit.classifier import Classifier
    from flowerkit.data import ImageFile

__all__ = [
    "Embedder",
    "Embeddings",
    "cache_folder",
    "classifier_embedder",
    "default_embedder",
    "embed",
]

_log = logging.getLogger("flowerkit.auditing")
_FORMAT = 1


@dataclass
class Embedder:
    """A network that maps photos to feature vectors (and class scores), built only when
    a photo is not in the cache.

    Attributes:
        build: makes the network: it takes ``uint8`` images at ``image_size`` and returns
            ``[features, logits]`` (``logits`` only when ``has_logits``).
        image_size: the ``(height, width)`` it takes.
        fingerprint: changes whenever its weights or size do (the cache key).
        description: one line for people.
        has_logits: whether it also gives the class scores of a trained classifier.
    """

    build: Callable[[], keras.Model]
    image_size: tuple[int, int]
    fingerprint: str
    description: str
    has_logits: bool
    _model: Any = field(default=None, init=False, repr=False)

    @property
    def model(self) -> keras.Model:
        """The network, built on first use."""
        if self._model is None:
            self._model = self.build()
        return self._model


class Embeddings(NamedTuple):
    """One row per photo, in the order of the files given to :func:`embed`."""

    #: ``(n, d)`` float32 feature vectors.
    features: NDArray[np.float32]
    #: ``(n, THUMB, THUMB)`` grey thumbnails.
    thumbs: NDArray[np.uint8]
    #: ``(n, classes)`` class scores of the given model, or ``None``.
    logits: NDArray[np.float32] | None


def _feature_layer(model: keras.Model) -> Any:
    """The input of the model's last ``Dense`` layer: the features its head reads."""
    import keras

    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.Dense):
            return layer.input
    raise ConfigError(
        f"The model {model.name!r} has no Dense layer whose input could serve as the "
        "photos' features. Audit with a flowerkit preset's model, or without --model "
        "(the ImageNet backbone is used)."
    )


def _two_outputs(model: keras.Model, with_logits: bool) -> keras.Model:
    import keras

    features = _feature_layer(model)
    outputs = [features, model.outputs[0]] if with_logits else [features]
    return keras.Model(model.inputs, outputs, name=f"{model.name}_audit")


def classifier_embedder(classifier: Classifier) -> Embedder:
    """The features (and scores) of a trained :class:`~flowerkit.Classifier`."""
    digest = hashlib.sha256(repr(classifier.image_size).encode())
    for weight in classifier.model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return Embedder(
        lambda: _two_outputs(classifier.model, with_logits=True),
        classifier.image_size,
        "model-" + digest.hexdigest()[:32],
        f"the given model ({classifier.model.name}, {classifier.image_size[0]}x"
        f"{classifier.image_size[1]})",
        True,
    )


def default_embedder(
    weights: str | os.PathLike[str] | None = None, *, offline: bool | None = None
) -> Embedder:
    """The ``mobilenet_v2`` backbone's ImageNet features, from ``weights``, a local copy or
    a download (as the default command finds them).

    Raises:
        ~flowerkit.ConfigError: the weights cannot be had; the message says what the
            audit needs.
    """
    from flowerkit.models import build_model, get_preset
    from flowerkit.models.local_weights import sha256_of
    from flowerkit.models.weights import TRANSFER_PRESET, default_preset

    choice = default_preset(weights, offline=offline)
    if choice.preset != TRANSFER_PRESET:
        raise ConfigError(
            "The audit compares photos by the features of a trained network and has none: "
            f"{choice.reason.split('; training from scratch')[0]}. Give it a model trained "
            "on this folder (--model M / model=...), the ImageNet weights file (--weights "
            "FILE / weights=...), or fetch them once with 'flowerkit weights --fetch'."
        )
    path = str(choice.options["weights"])
    size = get_preset(TRANSFER_PRESET).image_size

    def build() -> keras.Model:
        model = build_model(
            2, preset=TRANSFER_PRESET, augmentation=False, dropout=0.0, weights=path
        )
        return _two_outputs(model, with_logits=False)

    return Embedder(
        build,
        size,
        f"{TRANSFER_PRESET}-{sha256_of(path)[:24]}-{size[0]}x{size[1]}",
        f"{TRANSFER_PRESET}'s ImageNet features ({size[0]}x{size[1]}, {choice.reason})",
        False,
    )


def cache_folder(cache: bool | str | os.PathLike[str]) -> Path | None:
    """Where the audit keeps what it computed: ``<cache>/audit`` for ``True``, the given
    folder, or ``None`` for ``False``."""
    if cache is False:
        return None
    return default_cache_dir() / "audit" if cache is True else Path(cache)


def _cache_file(cache: bool | str | os.PathLike[str], embedder: Embedder) -> Path | None:
    folder = cache_folder(cache)
    return None if folder is None else folder / f"{embedder.fingerprint}.npz"


def _load(path: Path | None) -> dict[str, tuple[Any, ...]]:
    """The cached rows by pixel hash; empty when there is no usable cache."""
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as saved:
            if int(saved["format"]) != _FORMAT:
                return {}
            keys, features, thumbs = saved["keys"], saved["features"], saved["thumbs"]
            logits = saved["logits"] if saved["logits"].size else None
    except (OSError, ValueError, KeyError) as exc:
        _log.warning("ignoring the audit cache %s: %s", path, exc)
        return {}
    return {
        str(k): (features[i], thumbs[i], None if logits is None else logits[i])
        for i, k in enumerate(keys)
    }


def _save(path: Path | None, rows: dict[str, tuple[Any, ...]]) -> None:
    """Write ``rows`` in one step (a temporary file renamed into place); a cache that
    cannot be written only makes the next audit slower."""
    if path is None or not rows:
        return
    keys = sorted(rows)
    with_logits = rows[keys[0]][2] is not None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                format=np.array(_FORMAT),
                keys=np.array(keys),
                features=np.stack([rows[k][0] for k in keys]).astype(np.float16),
                thumbs=np.stack([rows[k][1] for k in keys]),
                logits=np.stack([rows[k][2] for k in keys]) if with_logits else np.zeros(0),
            )
        os.replace(temporary, path)
    except OSError as exc:
        _log.warning("could not write the audit cache %s: %s", path, exc)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(temporary)


def _compute(
    files: Sequence[ImageFile],
    embedder: Embedder,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> dict[str, tuple[Any, ...]]:
    import tensorflow as tf

    from flowerkit.images.inputs import decode_batches

    model = embedder.model  # built here, eagerly: not inside the traced function
    run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    items = [(str(f.path), f.path) for f in files]
    rows: dict[str, tuple[Any, ...]] = {}
    done = 0
    for batch in decode_batches(
        items, embedder.image_size, batch_size=batch_size, raise_errors=True
    ):
        images = batch.images
        if len(images) < batch_size:  # one traced shape for every batch
            padding = np.zeros((batch_size - len(images), *images.shape[1:]), np.uint8)
            images = np.concatenate([images, padding])
        outputs = run(tf.constant(images))
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        # Kept as cached (float16), so a first and a cached audit give the same report.
        features = np.asarray(outputs[0], dtype=np.float32).astype(np.float16)
        logits = np.asarray(outputs[1], dtype=np.float32) if embedder.has_logits else None
        for i, image in enumerate(batch.images):
            row = (features[i], grey_thumbnail(image), None if logits is None else logits[i])
            rows[files[done + i].pixel_sha256] = row
        done += len(batch.images)
        if progress is not None:
            progress(done, len(files))
    return rows


def embed(
    files: Sequence[ImageFile],
    embedder: Embedder,
    *,
    cache: bool | str | os.PathLike[str] = True,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> Embeddings:
    """The features, thumbnails (and scores) of ``files``, from the cache where it has
    them, else computed now (and cached).

    Args:
        files: checked files (their ``pixel_sha256`` is the cache key).
        embedder: the network.
        cache: ``True`` (flowerkit's cache folder), a folder, or ``False``.
        batch_size: photos per network call.
        progress: called as ``progress(done, total)`` over the photos computed now.
    """
    path = _cache_file(cache, embedder)
    rows = _load(path)
    missing: dict[str, ImageFile] = {}
    for f in files:
        if f.pixel_sha256 not in rows:
            missing.setdefault(f.pixel_sha256, f)
    if missing:
        rows.update(_compute(list(missing.values()), embedder, batch_size, progress))
        _save(path, rows)
    picked = [rows[f.pixel_sha256] for f in files]
    features = np.stack([r[0] for r in picked]).astype(np.float32) if picked else np.zeros((0, 0))
    thumbs = np.stack([r[1] for r in picked]) if picked else np.zeros((0, THUMB, THUMB), np.uint8)
    logits = (
        np.stack([r[2] for r in picked]).astype(np.float32)
        if picked and embedder.has_logits
        else None
    )
    return Embeddings(features.astype(np.float32), thumbs.astype(np.uint8), logits)
