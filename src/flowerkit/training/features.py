"""Training on features: the frozen part of a model run once per image, not once per epoch.

While a transfer model's backbone is frozen, only its head learns, and the backbone gives
the same output for an image every epoch (the model's augmentation aside). So the frozen
phase splits the model where the frozen part ends (:func:`split_frozen`): the *stem*
(the preprocessing, the backbone and any pooling right after it, none of it trainable) and
the *head* (the layers after, dropout and the classifier). The stem runs once over the
training and validation images (:func:`extract`); the head, which shares its layers and
their variables with the model, then trains on those features for the phase's epochs,
with the model's optimizer, loss and callbacks. Fine-tuning the backbone's top splits the
same way inside the backbone, where its frozen lower layers end in one tensor: the stem
runs them once, and the head is the backbone's top followed by the model's head.

The features are of un-augmented images: the model's augmentation layers are inactive in
the stem, as they are at inference. The features of a photo take a few kilobytes (1,280
numbers for ``mobilenet_v2``'s pooled output, 9,600 for its block 10 output, against
77 kB for its pixels), so they are kept in memory within the share of memory an
automatic image cache may take, and in a temporary file in flowerkit's cache folder
beyond it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from flowerkit.core import memory
from flowerkit.core.paths import default_cache_dir, temporary_prefix
from flowerkit.models.graph import producer

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = ["FeatureData", "extract", "feature_batches", "split_frozen"]

#: Layers right after a frozen backbone that have no weights and no randomness: the stem
#: takes them in, so the features are pooled (a few kB an image, not a feature map).
_POOLING = ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten")


class _Parts(NamedTuple):
    backbone: Any  # the sub-model named "backbone"
    before: Any  # its input tensor in the model's graph
    after: Any  # its output tensor there
    chain: list[Any]  # [(layer, its output), ...] from the backbone to the model's output


def _parts(model: keras.Model) -> _Parts | None:
    """The backbone of a functional model with one input and one output, a sub-model
    named ``"backbone"`` and one chain of layers after it; else ``None``."""
    import keras

    if not isinstance(model, keras.Model) or len(model.inputs or ()) != 1:
        return None
    if len(model.outputs or ()) != 1:
        return None
    try:
        backbone = model.get_layer("backbone")
    except ValueError:
        return None
    chain: list[Any] = []
    tensor = model.outputs[0]
    while True:
        layer, node = producer(tensor)
        if layer is backbone:
            break
        if isinstance(layer, keras.layers.InputLayer) or len(node.input_tensors) != 1:
            return None
        chain.append((layer, tensor))
        tensor = node.input_tensors[0]
    if len(node.input_tensors) != 1:
        return None
    chain.reverse()
    return _Parts(backbone, node.input_tensors[0], tensor, chain)


def _random(layer: Any) -> bool:
    """Whether ``layer`` draws random numbers (dropout, noise, augmentation)."""
    import keras

    return any(isinstance(v, keras.random.SeedGenerator) for v in vars(layer).values())


def _frozen_cut(backbone: keras.Model) -> Any | None:
    """The one tensor of ``backbone``'s graph where its frozen part ends, or ``None``.

    A tensor is frozen when the backbone's input is all it depends on through layers
    with no trainable weights and no randomness. The cut is the frozen tensor that the
    trainable layers read; ``None`` when they read more than one (a residual connection
    across the boundary), or only the backbone's input.
    """
    import keras

    frozen: dict[int, bool] = {}
    crossing: dict[int, Any] = {}

    def is_frozen(tensor: Any) -> bool:
        key = id(tensor)
        if key not in frozen:
            layer, node = producer(tensor)
            if isinstance(layer, keras.layers.InputLayer):
                frozen[key] = True
            else:
                inputs = list(node.input_tensors)
                ok = [is_frozen(t) for t in inputs]
                mine = not layer.trainable_weights and not _random(layer)
                frozen[key] = mine and all(ok)
                if not frozen[key]:
                    crossing.update((id(t), t) for t, f in zip(inputs, ok, strict=True) if f)
        return frozen[key]

    outputs = list(backbone.outputs)
    if len(outputs) != 1 or is_frozen(outputs[0]) or len(crossing) != 1:
        return None
    cut = next(iter(crossing.values()))
    if isinstance(producer(cut)[0], keras.layers.InputLayer):
        return None  # nothing frozen to run once: the whole backbone learns
    return cut


def split_frozen(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """``(stem, head)``: ``model`` split where its frozen part ends, or ``None``.

    The split exists for a functional model with one input and one output whose
    sub-model named ``"backbone"`` is wholly or partly frozen, when everything before the
    backbone has no trainable weights (preprocessing, augmentation) and the layers after
    it form one chain.

    - Backbone frozen: the stem maps images to the backbone's output, pooled when pooling
      follows it; the head is the layers after.
    - Top of the backbone trainable (fine-tuning): the stem maps images to the one tensor
      inside the backbone where its frozen part ends, and the head runs the backbone's
      trainable top, then the layers after. Where more than one tensor crosses from the
      frozen part to the trainable one there is no split.

    The head is made of the model's own layers (and so its variables).
    """
    import keras

    parts = _parts(model)
    if parts is None:
        return None
    backbone, chain = parts.backbone, list(parts.chain)
    top: keras.Model | None = None
    if backbone.trainable and backbone.trainable_weights:
        cut = _frozen_cut(backbone)
        if cut is None:
            return None
        top = keras.Model(cut, backbone.outputs[0], name="backbone_top")
        stem_out = keras.Model(backbone.inputs, cut, name="backbone_frozen")(parts.before)
    else:
        stem_out = parts.after
        while chain and type(chain[0][0]).__name__ in _POOLING:
            stem_out = chain.pop(0)[1]
        if not chain:
            return None
    stem = keras.Model(model.inputs, stem_out, name="frozen_stem")
    if stem.trainable_weights:
        return None  # something before the backbone still learns
    features = keras.Input(shape=stem_out.shape[1:], dtype=stem_out.dtype, name="features")
    x = features if top is None else top(features)
    for layer, _ in chain:
        x = layer(x)
    return stem, keras.Model(features, x, name="head")


@dataclass
class FeatureData:
    """Features of a pipeline's images, with its labels and sample weights.

    Attributes:
        features: ``(N, ...)`` float32 features, in memory or in a file mapped into it.
        labels: ``(N, ...)`` labels, as the pipeline gave them.
        weights: ``(N,)`` sample weights, or ``None`` when the pipeline gave none.
        batch_size: the pipeline's largest batch.
    """

    features: NDArray[np.float32]
    labels: NDArray[Any]
    weights: NDArray[np.float32] | None
    batch_size: int


def _fits_in_memory(count: int, row_bytes: int) -> bool:
    budget = memory.memory_budget()
    return budget is None or count * row_bytes <= budget


@contextmanager
def extract(
    stem: keras.Model, *datasets: tf.data.Dataset | None
) -> Iterator[list[FeatureData | None]]:
    """The stem's features of each of ``datasets`` (``None`` stays ``None``), iterated
    once each; files made for features beyond the memory rule are removed on exit."""
    import keras
    import tensorflow as tf

    run = tf.function(lambda x: stem(x, training=False), reduce_retracing=True)
    folder = default_cache_dir() / "features"
    files: list[Path] = []
    try:
        out: list[FeatureData | None] = []
        for dataset in datasets:
            if dataset is None:
                out.append(None)
                continue
            chunks, labels, weights, largest = [], [], [], 0
            for batch in dataset:
                x, y, w = keras.utils.unpack_x_y_sample_weight(batch)
                chunks.append(np.asarray(run(x), dtype=np.float32))
                labels.append(np.asarray(y))
                if w is not None:
                    weights.append(np.asarray(w, dtype=np.float32))
                largest = max(largest, int(chunks[-1].shape[0]))
            features = _stack(chunks, folder, files)
            out.append(
                FeatureData(
                    features,
                    np.concatenate(labels),
                    np.concatenate(weights) if weights else None,
                    largest,
                )
            )
        yield out
    finally:
        for path in files:
            path.unlink(missing_ok=True)


def _stack(chunks: list[NDArray[np.float32]], folder: Path, files: list[Path]) -> Any:
    """``chunks`` as one array: in memory, or mapped from a temporary file beyond the
    memory rule (recorded in ``files`` for removal)."""
    count = sum(len(c) for c in chunks)
    shape = (count, *chunks[0].shape[1:])
    row_bytes = int(np.prod(shape[1:])) * 4
    if _fits_in_memory(count, row_bytes):
        return np.concatenate(chunks)
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(folder / "features"), dir=folder)
    os.close(fd)
    files.append(Path(name))
    mapped = np.lib.format.open_memmap(name, mode="w+", dtype=np.float32, shape=shape)
    row = 0
    for chunk in chunks:
        mapped[row : row + len(chunk)] = chunk
        row += len(chunk)
    chunks.clear()
    mapped.flush()
    return mapped


def feature_batches(
    data: FeatureData, *, shuffle: bool, seed: int | None = None
) -> tuple[tf.data.Dataset, int]:
    """``data`` as batches of ``(features, labels[, weights])`` in the pipeline's batch
    size, and the number of batches an epoch.

    With ``shuffle`` the batches repeat without end, each epoch in a new order (seeded by
    ``seed``), for ``fit(steps_per_epoch=...)``: one iterator then serves every epoch, so
    epoch ``k`` is the ``k``-th order however often Keras asks for a new iterator, and
    ``skip(k * steps)`` starts a resumed run at epoch ``k``.
    """
    import tensorflow as tf

    count = len(data.features)
    steps = -(-count // data.batch_size)
    order = tf.data.Dataset.range(count)
    if shuffle:
        order = order.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    order = order.batch(data.batch_size)
    if shuffle:
        order = order.repeat()
    arrays = [data.features, data.labels] + ([] if data.weights is None else [data.weights])
    types = [tf.as_dtype(a.dtype) for a in arrays]

    def gather(index: NDArray[np.int64]) -> list[NDArray[Any]]:
        return [np.asarray(a[index]) for a in arrays]

    def rows(index: tf.Tensor) -> tuple[tf.Tensor, ...]:
        taken = tf.numpy_function(gather, [index], types)
        for tensor, array in zip(taken, arrays, strict=True):
            tensor.set_shape((None, *array.shape[1:]))
        return tuple(taken)

    return order.map(rows).prefetch(tf.data.AUTOTUNE), steps
