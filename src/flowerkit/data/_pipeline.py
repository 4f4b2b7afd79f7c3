"""The tf.data pipelines behind ``load_datasets`` and ``image_dataset``.

Two kinds, with the same guarantees:

* :func:`build_in_memory` (``load_datasets`` with its cache in memory): the decoded
  ``uint8`` images sit in one :class:`DecodedImages` variable, filled by the check and then
  on all cores before the pipeline is returned; batches are gathered from it by TensorFlow
  ops alone, in an order drawn per epoch by ``stateless_shuffle`` from ``(seed, epoch)``.
* :func:`build` (``image_dataset``, and disk or no caching): an :class:`_ExampleStore`
  (memory, or a memory-mapped file for ``cache=<folder>``) filled the first time each
  example is read, in a parallel ``map`` of ``numpy_function`` calls; the order of each
  epoch is a permutation from ``numpy.random.default_rng([seed, epoch])``.

So:

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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from flowerkit.core.runtime import available_cores
from flowerkit.exceptions import BadFilesWarning, UnreadableImageError
from flowerkit.images.decode import load_image

if TYPE_CHECKING:
    import tensorflow as tf
    from numpy.typing import NDArray

__all__ = ["DecodedImages", "build", "build_in_memory", "chunked_map", "fingerprint"]

_T = TypeVar("_T")
_R = TypeVar("_R")


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
    """The decoded images of a list of files, in one TensorFlow variable, filled in any order.

    The check writes each image into its row as it decodes it (:meth:`put`),
    :meth:`fill` decodes the rows still missing on all cores, and the training and
    validation pipelines gather their rows from the variable (:func:`build_in_memory`)
    with TensorFlow ops alone. So the data set is held once, and no Python runs in the
    data path while the model trains (the epoch-start stalls it was first suspected of
    came from tf.data's autotuner: see :func:`_parallel`).
    """

    _FLUSH = 32  # images written to the variable per update

    def __init__(self, paths: Sequence[str], size: tuple[int, int]) -> None:
        import tensorflow as tf

        self.size = size
        self.row = {p: i for i, p in enumerate(paths)}
        with tf.device("/CPU:0"):
            self.images = tf.Variable(
                tf.zeros((len(self.row), *size, 3), tf.uint8), trainable=False, name="images"
            )
        self.ready: NDArray[np.uint8] = np.zeros(len(self.row), np.uint8)
        self._pending: list[tuple[int, NDArray[np.uint8]]] = []

    def put(self, path: str, image: NDArray[np.uint8]) -> None:
        """Keep ``image`` (of shape ``(*size, 3)``) as the decoded ``path``."""
        index = self.row[path]
        self._pending.append((index, image))
        self.ready[index] = 1
        if len(self._pending) >= self._FLUSH:
            self.flush()

    def flush(self) -> None:
        """Write the images :meth:`put` still holds into the variable."""
        if not self._pending:
            return
        import tensorflow as tf

        rows = np.array([i for i, _ in self._pending], np.int64)
        values = np.stack([image for _, image in self._pending])
        self._pending = []
        self.images.scatter_update(tf.IndexedSlices(tf.constant(values), tf.constant(rows)))

    def fill(self, paths: Sequence[str], workers: int) -> None:
        """Decode every one of ``paths`` not in yet, on ``workers`` threads."""
        todo = [p for p in paths if not self.ready[self.row[p]]]
        if todo:
            decode = partial(_decode_or_blank, size=self.size)
            with ThreadPoolExecutor(workers, thread_name_prefix="flowerkit-decode") as pool:
                for path, image in zip(todo, chunked_map(pool, decode, todo), strict=True):
                    self.put(path, image)
        self.flush()


def chunked_map(
    pool: ThreadPoolExecutor, fn: Callable[[_T], _R], items: Sequence[_T], chunk: int = 8
) -> Iterator[_R]:
    """``pool.map(fn, items)``, in order, with ``chunk`` items per task: one future per
    item is a lock, a condition and a wake-up of the waiting thread for every photo."""
    tasks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    for results in pool.map(lambda task: [fn(item) for item in task], tasks):
        yield from results


def _decode_or_blank(path: str, size: tuple[int, int]) -> NDArray[np.uint8]:
    try:
        return load_image(path, size)
    except (UnreadableImageError, OSError) as exc:
        # Files are checked before a pipeline is built: this only happens when one
        # changes or disappears afterwards. Keep the epoch (and its length) intact.
        warnings.warn(
            f"{exc} It was replaced by a blank image for this run; check the data again.",
            BadFilesWarning,
            stacklevel=1,
        )
        return np.zeros((*size, 3), np.uint8)


def build_in_memory(
    block: DecodedImages,
    paths: Sequence[str],
    labels: Sequence[int],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
) -> tf.data.Dataset:
    """``(images, labels)`` batches of ``paths``, gathered from ``block`` (filled).

    Every iterator (Keras makes one per epoch) draws its order with
    ``tf.random.experimental.stateless_shuffle`` from ``(seed, epoch)``, the epoch counted
    by the pipeline itself: the same sequence of orders for the same seed, whatever
    TensorFlow's global random state.
    """
    import tensorflow as tf

    rows = tf.constant(np.array([block.row[p] for p in paths], np.int64))
    label_tensor = tf.constant(np.asarray(labels, np.int32))
    n = len(paths)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    images = block.images

    def order(_: tf.Tensor) -> tf.data.Dataset:
        positions = tf.range(n, dtype=tf.int64)
        if shuffle:
            current = epoch.assign_add(1) - 1
            key = tf.stack([tf.constant(seed, tf.int64), current])
            positions = tf.random.experimental.stateless_shuffle(positions, seed=key)
        return tf.data.Dataset.from_tensor_slices(positions).batch(batch_size)

    def gather(positions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.gather(images, tf.gather(rows, positions)), tf.gather(label_tensor, positions)

    ds = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(order)
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch_size)))
    return _parallel(ds, gather)


def _parallel(ds: tf.data.Dataset, fn: Any) -> tf.data.Dataset:
    """``ds.map(fn)`` on one thread per core, two batches ahead, without tf.data's autotuner.

    With the autotuner on, the start of an epoch under ``model.fit`` stalled for 2 to 6 s
    (once in two or three epochs) on the 2-core benchmark machine, a fixed parallelism
    never did; the work per batch here is a gather or a decode, whose best parallelism is
    known: every core.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    ds = ds.map(fn, num_parallel_calls=available_cores(), deterministic=True)
    return ds.prefetch(2).with_options(options)


class _ExampleStore:
    """Decoded images by index, decoded on first use and kept (or not, ``keep=False``):
    in memory, or in a memory-mapped file in ``folder``."""

    def __init__(
        self, paths: Sequence[str], size: tuple[int, int], folder: Path | None, keep: bool
    ) -> None:
        self.paths = list(paths)
        self.size = size
        shape = (len(self.paths), *size, 3)
        self.images: NDArray[np.uint8] | None = None
        self.ready: NDArray[np.uint8] | None = None
        if not keep:
            return
        if folder is None:
            self.images = np.empty(shape, np.uint8)
            self.ready = np.zeros(len(self.paths), np.uint8)
            return
        folder.mkdir(parents=True, exist_ok=True)
        key = fingerprint(self.paths, size)
        image_file, ready_file = folder / f"{key}.images", folder / f"{key}.ready"
        exists = image_file.exists() and ready_file.exists()
        mode: Literal["r+", "w+"] = "r+" if exists else "w+"
        self.images = np.memmap(str(image_file), np.uint8, mode, shape=shape)
        self.ready = np.memmap(str(ready_file), np.uint8, mode, shape=(len(self.paths),))

    def get(self, indices: NDArray[np.int64]) -> NDArray[np.uint8]:
        if self.images is None or self.ready is None:
            return np.stack([_decode_or_blank(self.paths[i], self.size) for i in indices.tolist()])
        if self.ready[indices].all():
            return np.asarray(self.images[indices])  # one gather, no Python loop
        out = np.empty((len(indices), *self.size, 3), np.uint8)
        for slot, index in enumerate(indices.tolist()):
            if not self.ready[index]:
                self.images[index] = _decode_or_blank(self.paths[index], self.size)
                self.ready[index] = 1
            out[slot] = self.images[index]
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
) -> tf.data.Dataset:
    """The pipeline behind :func:`~flowerkit.data.image_dataset`, from checked arguments:
    decoded lazily, in a ``numpy_function``."""
    import tensorflow as tf

    store = _ExampleStore(
        paths, size, cache if isinstance(cache, Path) else None, cache is not False
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
    ds = _parallel(ds, _map)
    return ds.unbatch() if batch_size is None else ds
