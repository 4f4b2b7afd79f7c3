"""Grad-CAM: the parts of an image a convolutional classifier's answer rests on.

Grad-CAM (Selvaraju et al., *Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization*, ICCV 2017) takes the model's last convolutional feature map
``A`` (``h x w`` cells of ``K`` channels), the gradient of one class's score with respect
to it, and weighs each channel by the mean of its gradient over the cells:
``map = ReLU(sum_k mean(dscore/dA_k) * A_k)``. Cells where the channels that raise the
score are active come out hot. The map has the feature map's size (``5 x 5`` for
``mobilenet_v2`` at 160 x 160); :func:`flowerkit.images.overlay.overlay` lays it over the
photo.

The feature map is found in the model's graph: walking back from the output, the first
4-D tensor (the one the model pools or flattens) with a convolution among the layers that
made it, directly or inside a nested model: for ``mobilenet_v2`` the output of its
sub-model ``"backbone"``. The model runs
in inference mode (``training=False``): augmentation and dropout are inactive, batch
norms use their moving statistics, so the map of an image never depends on its batch.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowerkit.exceptions import ConfigError
from flowerkit.models.graph import producer

if TYPE_CHECKING:
    import keras

__all__ = ["grad_cam"]

#: Images the model runs on at once (a batch's activations and gradients in memory).
_BATCH = 16


def _walk(start: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """``(tensor, layer that made it)`` from ``start`` back through its functional graph,
    nearest first (breadth first); graph inputs are left out."""
    import keras

    queue, seen = deque(start), set()
    while queue:
        tensor = queue.popleft()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        layer, node = producer(tensor)
        if isinstance(layer, keras.layers.InputLayer):
            continue
        yield tensor, layer
        queue.extend(node.input_tensors)


def _graph(model: keras.Model) -> Iterator[tuple[Any, Any]]:
    """``(tensor, layer that made it)`` of ``model``'s graph, nearest the output first
    (breadth first); the model's own inputs are left out."""
    return _walk(model.outputs)


def _is_convolution(layer: Any) -> bool:
    """Whether ``layer`` is a 2-D convolution, or a model with one inside."""
    import keras

    kinds = (
        keras.layers.Conv2D,
        keras.layers.DepthwiseConv2D,
        keras.layers.SeparableConv2D,
        keras.layers.Conv2DTranspose,
    )
    if isinstance(layer, kinds):
        return True
    return isinstance(layer, keras.Model) and any(_is_convolution(x) for x in layer.layers)


def _after_convolution(tensor: Any) -> bool:
    """Whether a convolution is among the layers that made ``tensor``."""
    return any(_is_convolution(layer) for _, layer in _walk([tensor]))


def _spatial(tensor: Any) -> bool:
    return len(tensor.shape) == 4


def _describe(model: keras.Model) -> str:
    return f"The model {model.name!r} ({type(model).__name__})"


def _check_graph(model: object) -> keras.Model:
    """``model`` when it is a Keras model with a graph to walk: one input, one output."""
    import keras

    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"`model` must be a keras.Model. Received an object of type {type(model).__name__}."
        )
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError(
            f"{_describe(model)} has no graph of one input and one output to explain: "
            "Grad-CAM needs a functional or Sequential model built from a keras.Input "
            "(a subclassed model hides its layers' outputs)."
        )
    return model


def _feature_map(model: keras.Model, layer: str | None) -> Any:
    """The 4-D tensor of ``model``'s graph that Grad-CAM weighs: the output of the layer
    named ``layer``, or the last convolutional feature map."""
    if layer is not None:
        return _named_output(model, layer)
    for tensor, _ in _graph(model):
        if _spatial(tensor) and _after_convolution(tensor):
            return tensor
    raise ConfigError(
        f"{_describe(model)} has no convolutional feature map to explain: Grad-CAM needs "
        "a 4-D output (batch, height, width, channels) of a convolution (or of a nested "
        "model with convolutions) that the model then pools or flattens. A model of dense "
        "layers only (an MLP) has none; pass layer= to name a 4-D layer yourself."
    )


def _named_output(model: keras.Model, name: str) -> Any:
    """The output, in ``model``'s graph, of its layer named ``name`` (4-D)."""
    spatial = [x.name for t, x in _graph(model) if _spatial(t)]
    for tensor, layer in _graph(model):
        if layer.name == name:
            if not _spatial(tensor):
                raise ConfigError(
                    f"The layer {name!r} of the model {model.name!r} has the output shape "
                    f"{tuple(tensor.shape)}; Grad-CAM needs a 4-D feature map "
                    f"(batch, height, width, channels). 4-D layers: {sorted(set(spatial))}."
                )
            return tensor
    raise ConfigError(
        f"The model {model.name!r} has no layer named {name!r} in its graph (a layer of a "
        f"nested model is not one; name the nested model). 4-D layers: "
        f"{sorted(set(spatial))}."
    )


def _outputs_probabilities(model: keras.Model) -> bool:
    """Whether ``model`` ends in a softmax (its scores are then log-probabilities)."""
    import keras

    last = producer(model.outputs[0])[0]
    act = getattr(last, "activation", None)
    return act is keras.activations.softmax or isinstance(last, keras.layers.Softmax)


def _images(images: ArrayLike, shape: tuple[Any, ...]) -> NDArray[np.float32]:
    """``images`` as float32 ``(N, H, W, C)`` at the model's input ``shape``."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    size = tuple(shape[1:])
    fits = all(s is None or s == a for s, a in zip(size, arr.shape[1:], strict=False))
    if arr.ndim != 4 or len(size) != 3 or not fits or len(arr) == 0:
        raise ConfigError(
            f"`images` must be an array (N, {', '.join(str(s) for s in size)}) of raw "
            f"pixels, or one image without the N. Received shape {arr.shape}."
        )
    return arr


def _class_indices(
    class_index: int | Sequence[int] | ArrayLike | None, count: int, classes: int
) -> NDArray[np.int64] | None:
    """One class index per image, or ``None`` for the predicted classes."""
    if class_index is None:
        return None
    arr = np.asarray(class_index)
    if arr.ndim == 0:
        arr = np.full(count, arr)
    ok = arr.ndim == 1 and len(arr) == count and np.issubdtype(arr.dtype, np.integer)
    if not ok or (arr < 0).any() or (arr >= classes).any():
        raise ConfigError(
            f"`class_index` must be None, a class index in [0, {classes}) or one such index "
            f"per image ({count}). Received: class_index={class_index!r}"
        )
    return arr.astype(np.int64)


class _Run:
    """Grad-CAM of one model (and feature map) as one compiled function: the model's graph
    cut to ``(feature map, scores)``, and the gradient of the chosen class's score."""

    def __init__(self, model: keras.Model, layer: str | None) -> None:
        import keras
        import tensorflow as tf

        features = _feature_map(model, layer)
        self.where = f"the output of the layer {producer(features)[0].name!r} of {model.name!r}"
        self.graph = keras.Model(model.inputs, [features, model.outputs[0]], name="grad_cam")
        self.probabilities = _outputs_probabilities(model)
        shape = tuple(model.inputs[0].shape)
        self.batch: int = shape[0] or _BATCH  # a model built on one fixed batch takes that
        spec = [tf.TensorSpec(shape, tf.float32), tf.TensorSpec(shape[:1], tf.int64)]
        self.function = tf.function(self._cams, input_signature=spec, autograph=False)

    def _cams(self, images: Any, chosen: Any) -> Any:
        """The normalised maps of a batch for the classes ``chosen`` (-1: the predicted
        class)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            features, scores = self.graph(images, training=False)
            scores = tf.cast(scores, tf.float32)
            index = tf.where(chosen < 0, tf.argmax(scores, axis=1), chosen)
            score = tf.gather(scores, index, axis=1, batch_dims=1)
            if self.probabilities:
                score = tf.math.log(tf.maximum(score, 1e-12))
        gradients = tape.gradient(score, features)
        if gradients is None:  # checked once, while tracing
            raise ConfigError(
                f"The model's scores have no gradient with respect to {self.where}, its "
                "feature map: Grad-CAM needs one (pass layer= to choose another layer)."
            )
        gradients = tf.cast(gradients, tf.float32)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cams = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1))
        peak = tf.reduce_max(cams, axis=(1, 2), keepdims=True)
        return tf.math.divide_no_nan(cams, peak)

    def __call__(self, images: NDArray[np.float32], chosen: NDArray[np.int64]) -> Any:
        """The maps of ``images``, ``self.batch`` at a time."""
        maps = [
            np.asarray(self.function(images[i : i + self.batch], chosen[i : i + self.batch]))
            for i in range(0, len(images), self.batch)
        ]
        return np.concatenate(maps).astype(np.float32)


#: The compiled Grad-CAM of each model still alive, by feature-map layer: traced once,
#: reused by every later call (the weights are read at call time).
_RUNS: weakref.WeakKeyDictionary[Any, dict[str | None, _Run]] = weakref.WeakKeyDictionary()


def _run_for(model: keras.Model, layer: str | None) -> _Run:
    runs = _RUNS.setdefault(model, {})
    if layer not in runs:
        runs[layer] = _Run(model, layer)
    return runs[layer]


def grad_cam(
    model: keras.Model,
    images: ArrayLike,
    class_index: int | Sequence[int] | ArrayLike | None = None,
    *,
    layer: str | None = None,
) -> NDArray[np.float32]:
    """Grad-CAM maps of ``images``: where in each image the evidence for a class lies.

    The model runs in inference mode (augmentation and dropout inactive) under a
    ``tf.GradientTape``; the gradient of the class's score (its logit; the log of its
    probability for a model that ends in a softmax) with respect to the last
    convolutional feature map weighs that map's channels (see the module documentation).
    Each map is divided by its maximum, so 1 marks the strongest evidence in that image;
    a map with no positive evidence is all 0.

    Args:
        model: a functional or Sequential ``keras.Model`` with a convolutional feature
            map (every built-in preset, and ``Classifier.model``), taking the images as
            given.
        images: ``(N, H, W, C)`` images at the model's input size, as the model takes
            them (raw 0..255 pixels for flowerkit's models), or one ``(H, W, C)`` image.
        class_index: the class to explain: ``None`` for each image's predicted class,
            one index for all images, or one index per image.
        layer: the name of the layer whose 4-D output to weigh, instead of the last
            convolutional feature map (a layer of ``model``'s own graph; a nested model
            such as ``"backbone"`` is one).

    Returns:
        A float32 array ``(N, h, w)`` in [0, 1], ``h x w`` being the feature map's size.
        :func:`flowerkit.images.overlay.resize_heatmap` brings a map to the image's size,
        :func:`flowerkit.images.overlay.overlay` lays it over the image.

    Raises:
        ~flowerkit.ConfigError: the model has no convolutional feature map (a model of
            dense layers only), is not a Keras model with one input and one output, or
            has no 4-D layer named ``layer``; ``images`` do not fit the model; a bad
            ``class_index``.

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from flowerkit.models.explain import grad_cam
        >>> inputs = keras.Input((32, 32, 3))
        >>> x = keras.layers.Rescaling(1 / 255)(inputs)
        >>> x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(x)
        >>> outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
        >>> model = keras.Model(inputs, outputs)
        >>> images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3))
        >>> maps = grad_cam(model, images)  # each image's predicted class
        >>> maps.shape, maps.dtype, bool(0 <= maps.min() and maps.max() <= 1)
        ((4, 15, 15), dtype('float32'), True)
        >>> grad_cam(model, images[0], class_index=2).shape  # one image, class 2
        (1, 15, 15)
        >>> mlp = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
        ...                         keras.layers.Dense(3)], name="mlp")
        >>> grad_cam(mlp, images)
        Traceback (most recent call last):
        ...
        flowerkit.ConfigError: The model 'mlp' (Sequential) has no convolutional feature map ...
    """
    model = _check_graph(model)
    arr = _images(images, tuple(model.inputs[0].shape))
    chosen = _class_indices(class_index, len(arr), int(model.outputs[0].shape[-1]))
    run = _run_for(model, layer)
    maps: NDArray[np.float32] = run(arr, np.full(len(arr), -1) if chosen is None else chosen)
    return maps
