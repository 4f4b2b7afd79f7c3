"""Progressive resizing: train on small crops first and on full-size crops at the end.

A training step costs about the square of the crop's side, so early epochs on small crops
buy more epochs in the same time; the last epochs at the network's full size align the
training and test scales again (FFCV and fast.ai train so; EfficientNetV2 names it
progressive learning). The size depends only on the epoch number, so a resumed run
trains each epoch at the size it would have had.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from flowerkit.models.layers import RandomResizedCrop

__all__ = ["ProgressiveResizing", "crop_layers", "size_at"]

#: Sizes are multiples of this (convolution-friendly, and few distinct sizes to trace).
STEP = 16


def crop_layers(model: keras.Model) -> list[RandomResizedCrop]:
    """The random-resized-crop layers of ``model`` that resize to a fixed size."""
    from flowerkit.models.layers import RandomResizedCrop

    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, RandomResizedCrop) and layer.size is not None
    ]


def size_at(done: float, *, smallest: int, full: int, until: float) -> int:
    """The crop side after ``done`` (0 to 1) of the phase: ``smallest`` growing linearly to
    ``full`` by ``until``, rounded down to a multiple of :data:`STEP` (never below
    ``smallest``), then ``full``.

    Example:
        >>> [size_at(e / 10, smallest=64, full=112, until=0.6) for e in range(10)]
        [64, 64, 80, 80, 96, 96, 112, 112, 112, 112]
    """
    if smallest >= full or done >= until:
        return full
    size = smallest + (full - smallest) * max(done, 0.0) / until
    return max(smallest, min(full, STEP * math.floor(size / STEP)))


class ProgressiveResizing(keras.callbacks.Callback):  # type: ignore[misc]
    """Resize the model's training crops by epoch, from ``smallest`` up to their full size.

    Before each epoch of the phase ``[first_epoch, last_epoch)`` every
    :class:`~flowerkit.models.layers.RandomResizedCrop` of the model trains at
    :func:`size_at` of the epoch (its :attr:`training_size`), scaled to the layer's own
    ``size``; the training step is retraced when the size changes. Inference always runs
    at the full size, and when training ends the layers are left at it.

    Args:
        smallest: the crop side of the first epoch, for a layer whose ``size`` is square;
            a non-square layer keeps its aspect ratio.
        until: the share of the phase's epochs after which training is at full size.
        first_epoch: the phase's first epoch.
        last_epoch: the epoch the phase stops before.
    """

    def __init__(self, smallest: int, until: float, *, first_epoch: int, last_epoch: int):
        super().__init__()
        self.smallest = int(smallest)
        self.until = float(until)
        self.first_epoch = first_epoch
        self.epochs = max(1, last_epoch - first_epoch)
        self._traced: dict[int, tuple[int, int] | None] = {}

    def _set(self, sizes: list[tuple[int, int] | None]) -> None:
        layers = crop_layers(self.model)
        changed = False
        for layer, size in zip(layers, sizes, strict=True):
            changed |= self._traced.get(id(layer)) != size
            layer.training_size = size
            self._traced[id(layer)] = size
        if changed:
            self.model.make_train_function(force=True)

    def _sizes(self, epoch: int) -> list[tuple[int, int] | None]:
        done = (epoch - self.first_epoch) / self.epochs
        out: list[tuple[int, int] | None] = []
        for layer in crop_layers(self.model):
            assert layer.size is not None
            height, width = layer.size
            side = size_at(done, smallest=self.smallest, full=max(height, width), until=self.until)
            scale = side / max(height, width)
            out.append(None if scale >= 1 else (round(height * scale), round(width * scale)))
        return out

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # The sizes the train step Keras just made will trace with: no remake for them.
        self._traced = {id(layer): layer.training_size for layer in crop_layers(self.model)}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._set(self._sizes(epoch))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._set([None] * len(crop_layers(self.model)))
