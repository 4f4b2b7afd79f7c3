"""The tf.data pipeline behind ``image_dataset`` and ``load_datasets``.

Decoded ``uint8`` examples live in an :class:`_ExampleStore` (memory, or a memory-mapped
file for ``cache=<folder>``), filled with what the check already decoded, and otherwise
the first time each example is read (in parallel: batches are gathered by a parallel
``map``). Every epoch a
new permutation of the example indices comes from ``numpy.random.default_rng([seed,
epoch])`` and batches are gathered from the store. So:

* the order depends only on ``seed`` and the epoch number, not on TensorFlow's global
  random state (``tf.data``'s own ``shuffle`` mixes that in when the pipeline is built);
* examples, not whole batches, are shuffled every epoch;
* memory is one ``uint8`` copy of the data (a ``shuffle`` buffer would hold a second).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from flowerkit.exceptions import BadFilesWarning, UnreadableImageError
from flowerkit.images.decode import load_image

if TYPE_CHECKING:
    import tensorflow as tf
    from numpy.typing import NDArray

__all__ = ["DecodedImages", "build", "fingerprint"]


def fingerprint(paths: Sequence[str], image_size: tuple[int, int]) -> str:
    """A key that changes when any file, its size or mtime, or the image size changes."""
    h = hashlib.sha256(f"{image_size}".encode())
    for p in paths:
        try:
            st = os.stat(p)
            h.update(f"{p}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\x00missing\n".encode())
    return h.hexdigest()[:24]


class DecodedImages:
    """One block of decoded images for a list of files, filled in any order.

    The check writes each image into its row as it decodes it, and the training and
    validation stores then read their rows of the same block: the data set is held once,
    with no per-image arrays left behind for the allocator to keep.
    """

    def __init__(self, paths: Sequence[str], size: tuple[int, int]) -> None:
        self.size = size
        self.row = {p: i for i, p in enumerate(paths)}
        self.images: NDArray[np.uint8] = np.empty((len(self.row), *size, 3), np.uint8)
        self.ready: NDArray[np.uint8] = np.zeros(len(self.row), np.uint8)

    def put(self, path: str, image: NDArray[np.uint8]) -> None:
        """Keep ``image`` (of shape ``(*size, 3)``) as the decoded ``path``."""
        index = self.row[path]
        self.images[index] = image
        self.ready[index] = 1


class _ExampleStore:
    """Decoded images by index, decoded on first use and kept (or not, ``keep=False``).

    In memory, the images live in rows of a :class:`DecodedImages` block (its own, or the
    one a check filled); with a folder, in a memory-mapped file there.
    """

    def __init__(
        self,
        paths: Sequence[str],
        size: tuple[int, int],
        folder: Path | None,
        keep: bool,
        decoded: DecodedImages | None = None,
    ) -> None:
        self.paths = list(paths)
        self.size = size
        self.keep = keep
        shape = (len(self.paths), *size, 3)
        self.images: NDArray[np.uint8] | None = None
        self.ready: NDArray[np.uint8] | None = None
        self.rows: NDArray[np.int64] = np.arange(len(self.paths), dtype=np.int64)
        if not keep:
            return
        if folder is None:
            if decoded is None or decoded.size != size or not decoded.row.keys() >= set(paths):
                decoded = DecodedImages(self.paths, size)
            self.images, self.ready = decoded.images, decoded.ready
            self.rows = np.array([decoded.row[p] for p in self.paths], dtype=np.int64)
            return
        folder.mkdir(parents=True, exist_ok=True)
        key = fingerprint(self.paths, size)
        image_file, ready_file = folder / f"{key}.images", folder / f"{key}.ready"
        exists = image_file.exists() and ready_file.exists()
        mode: Literal["r+", "w+"] = "r+" if exists else "w+"
        self.images = np.memmap(str(image_file), np.uint8, mode, shape=shape)
        self.ready = np.memmap(str(ready_file), np.uint8, mode, shape=(len(self.paths),))

    def _decode(self, index: int) -> NDArray[np.uint8]:
        path = self.paths[index]
        try:
            return load_image(path, self.size)
        except (UnreadableImageError, OSError) as exc:
            # Files are checked before a pipeline is built: this only happens when one
            # changes or disappears afterwards. Keep the epoch (and its length) intact.
            warnings.warn(
                f"{exc} It was replaced by a blank image for this run; check the data again.",
                BadFilesWarning,
                stacklevel=1,
            )
            return np.zeros((*self.size, 3), np.uint8)

    def get(self, indices: NDArray[np.int64]) -> NDArray[np.uint8]:
        if self.images is None or self.ready is None:
            return np.stack([self._decode(i) for i in indices.tolist()])
        rows = self.rows[indices]
        if self.ready[rows].all():
            return np.asarray(self.images[rows])  # one gather, no Python loop
        out = np.empty((len(indices), *self.size, 3), np.uint8)
        for slot, (index, row) in enumerate(zip(indices.tolist(), rows.tolist(), strict=True)):
            if not self.ready[row]:
                self.images[row] = self._decode(index)
                self.ready[row] = 1
            out[slot] = self.images[row]
        return out


class _EpochOrder:
    """Yields the index batches of one epoch each time it is called."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None) -> None:
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.seed = seed if seed is not None else secrets.randbits(32)
        self.epoch = 0

    def __call__(self) -> Iterator[NDArray[np.int64]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            self.epoch += 1
        else:
            order = np.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            yield order[start : start + self.batch_size].astype(np.int64)


def build(
    paths: Sequence[str],
    labels: Sequence[int] | None,
    *,
    size: tuple[int, int],
    batch_size: int | None,
    shuffle: bool,
    seed: int | None,
    cache: bool | Path,
    decoded: DecodedImages | None = None,
) -> tf.data.Dataset:
    """The pipeline behind :func:`~flowerkit.data.image_dataset`, from checked arguments.

    With ``cache=True``, the images are kept in ``decoded`` (a block holding all of
    ``paths``, maybe filled by a check already) instead of a block of their own.
    """
    import tensorflow as tf

    store = _ExampleStore(
        paths, size, cache if isinstance(cache, Path) else None, cache is not False, decoded
    )
    per_batch = batch_size or 1
    order = _EpochOrder(len(paths), per_batch, shuffle, seed)
    label_array = np.asarray(labels if labels is not None else [], np.int32)
    height, width = size

    def _gather(indices: NDArray[np.int64]) -> Any:
        return store.get(indices)

    def _map(indices: tf.Tensor) -> Any:
        images = tf.numpy_function(_gather, [indices], tf.uint8, stateful=False)
        images.set_shape((None, height, width, 3))
        if labels is None:
            return images
        return images, tf.gather(label_array, indices)

    ds = tf.data.Dataset.from_generator(order, output_signature=tf.TensorSpec((None,), tf.int64))
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(len(paths) / per_batch)))
    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if batch_size is None:
        ds = ds.unbatch()
    return ds.prefetch(tf.data.AUTOTUNE)
