"""Reading a Keras functional model's graph: which layer call made a tensor.

Grad-CAM (:mod:`flowerkit.models.explain`) walks back from a model's output to its last
feature map, and training on features (:mod:`flowerkit.training.features`) walks from a
transfer model's output back to its backbone; both ask the same question of each tensor.
"""

from __future__ import annotations

from typing import Any

__all__ = ["producer"]


def producer(tensor: Any) -> tuple[Any, Any]:
    """The layer that made ``tensor`` in its functional graph, and the node of that call.

    Args:
        tensor: a symbolic tensor of a functional model (``model.outputs[0]``, a node's
            ``input_tensors``...).

    Returns:
        ``(layer, node)``: the layer, and the call of it (its ``input_tensors``) that
        made ``tensor``.

    Example:
        >>> import keras
        >>> from flowerkit.models.graph import producer
        >>> inputs = keras.Input((8, 8, 3))
        >>> pooled = keras.layers.GlobalAveragePooling2D(name="pool")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="scores")(pooled))
        >>> layer, node = producer(model.outputs[0])
        >>> layer.name, producer(node.input_tensors[0])[0].name
        ('scores', 'pool')
    """
    history = tensor._keras_history
    return history.operation, history.operation._inbound_nodes[history.node_index]
