"""A pipeline over a file list that each worker of a ``tf.distribute`` cluster reads a share of.

:func:`load_datasets` keeps every decoded image of a folder in one process (a variable
filled by the check), which is what one machine wants and what several machines cannot
split: TensorFlow's auto-sharding finds no file to shard in it and falls back to reading
everything on every worker, then dropping what is not theirs. :func:`file_dataset`
instead starts from the list of files, so the shard is taken *before* anything is read:

``from_tensor_slices((paths, labels))`` → ``shard(num_shards, index)`` → parallel decode
→ ``cache()`` (this shard's images, in memory) → per-epoch ``shuffle`` → ``batch``.

Each worker therefore decodes and holds only its own files (sharding by file, stated
explicitly rather than left to auto-sharding's guess, and switched off for the
distributed data set so it is not applied twice). The decode runs flowerkit's Pillow rules
(:func:`~flowerkit.images.load_image`: EXIF orientation, CMYK, alpha on white,
anti-aliased resize) in a ``numpy_function``: that is why the ``tf.data`` service, which
serialises pipelines to remote workers and cannot carry a Python function, is not offered;
see the *Training on several devices* page for what to do with more data than that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from flowerkit.core import validation as v
from flowerkit.core.runtime import available_cores
from flowerkit.exceptions import ConfigError
from flowerkit.images.decode import load_image

if TYPE_CHECKING:
    import tensorflow as tf
    from numpy.typing import NDArray

__all__ = ["file_dataset"]


def file_dataset(
    paths: Sequence[str | os.PathLike[str]],
    labels: Sequence[int],
    *,
    image_size: tuple[int, int],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 123,
    num_shards: int = 1,
    index: int = 0,
    class_weight: Mapping[int, float] | None = None,
) -> tf.data.Dataset:
    """``(images, labels)`` batches of shard ``index`` of ``num_shards`` of a file list.

    The shard is every ``num_shards``-th file from ``index`` (so the shards of one list
    partition it); its files are decoded on every core, kept in memory after the first
    epoch and, with ``shuffle``, drawn in a new order each epoch from ``seed``.

    Args:
        paths: image files (checked beforehand, e.g. ``Datasets.train_files``).
        labels: the class index of each file.
        image_size: ``(height, width)`` the images are resized to.
        batch_size: images per batch of this shard (under a strategy: per replica).
        shuffle: reshuffle every epoch.
        seed: the order's seed.
        num_shards: how many shards the list is cut into (the input pipelines).
        index: which shard this is, ``0 <= index < num_shards``.
        class_weight: ``{class index: weight}``: batches are then ``(images, labels,
            sample_weights)``, the form Keras takes class weights in under a strategy.

    Returns:
        The ``tf.data.Dataset``, with auto-sharding off (it is sharded already).

    Raises:
        ~flowerkit.ConfigError: mismatched lengths, or a shard out of range.
    """
    import tensorflow as tf

    files = [os.fspath(p) for p in paths]
    if len(files) != len(labels):
        raise ConfigError(
            f"`paths` has {len(files)} entries and `labels` {len(labels)}; give one label per file."
        )
    num_shards = v.check_positive_int(num_shards, "num_shards")
    if not (isinstance(index, int) and 0 <= index < num_shards):
        raise ConfigError(f"`index` must be in 0..{num_shards - 1}. Received: index={index!r}")
    batch_size = v.check_positive_int(batch_size, "batch_size")
    height, width = image_size

    def decode(path: bytes) -> NDArray[np.uint8]:
        return load_image(path.decode(), (height, width))

    def read(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
        image.set_shape((height, width, 3))
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((files, np.asarray(labels, np.int32)))
    ds = ds.shard(num_shards, index)
    ds = ds.map(read, num_parallel_calls=available_cores(), deterministic=True).cache()
    if shuffle:
        share = -(-len(files) // num_shards)
        ds = ds.shuffle(max(share, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if class_weight is not None:
        table = np.ones(max([*class_weight, *labels, 0]) + 1, np.float32)
        for key, weight in class_weight.items():
            table[key] = weight
        weights = tf.constant(table)

        def weigh(images: tf.Tensor, ys: tf.Tensor) -> Any:
            return images, ys, tf.gather(weights, ys)

        ds = ds.map(weigh)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.prefetch(2).with_options(options)
