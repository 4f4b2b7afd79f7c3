"""The ONNX export (optional: ``pip install "flowerkit[onnx]"``).

The same computation as the LiteRT file (``images``: float32 0..255 pixels
``(N, height, width, 3)``; ``probabilities``: softmax with the calibration temperature
applied), converted by ``tf2onnx.convert.from_function`` at opset :data:`OPSET` and
verified with ONNX Runtime. The class names and the metadata document travel in the
model's ``metadata_props`` (``labels``: one name per line; ``flowerkit``: the JSON
document of :class:`flowerkit.lite.LiteMetadata`, format ``"flowerkit.onnx"``), which
``onnxruntime.InferenceSession(path).get_modelmeta().custom_metadata_map`` returns.

Keras' own ``model.export(format="onnx")`` is not used: on the TensorFlow backend it
traces the model with ``training=None`` and keeps the augmentation layers' random ops,
which tf2onnx cannot convert (``StatelessRandomUniformV2 is not supported``;
keras-team/keras#21346, onnx/tensorflow-onnx#2395). flowerkit converts the inference
function (``training=False``) instead, where those layers are the identity.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowerkit.exceptions import ExportError
from flowerkit.export.checks import Check, agreement, max_abs_diff
from flowerkit.export.formats import Exporter
from flowerkit.export.source import ExportSource

__all__ = ["EXPORTER", "OPSET", "TOLERANCE", "require", "verify", "write"]

#: The ONNX opset written (supported by ONNX Runtime 1.14 and later).
OPSET = 17

#: Largest difference allowed between ONNX Runtime's probabilities and the Keras model's.
TOLERANCE = 1e-4

_INSTALL_HINT = 'pip install "flowerkit[onnx]" (tf2onnx and onnxruntime)'


def require() -> None:
    """Fail early, before any conversion, when tf2onnx or onnxruntime is missing.

    Raises:
        ModuleNotFoundError: naming the missing package and how to install it.
    """
    import importlib.util

    for module in ("tf2onnx", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(
                f"format='onnx' needs {module}, which is not installed: {_INSTALL_HINT}",
                name=module,
            )


def write(source: ExportSource, target: Path, document: dict[str, Any]) -> None:
    """Convert ``source`` and write the ``.onnx`` file ``target`` with its metadata."""
    import tensorflow as tf
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    height, width = source.image_size
    spec = [tf.TensorSpec((None, height, width, 3), tf.float32, name="images")]
    function = tf.function(
        lambda images: tf.identity(source.probabilities(images), name="probabilities"),
        input_signature=spec,
        autograph=False,
    )
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=OPSET)
    except Exception as exc:
        raise ExportError(f"ONNX conversion failed: {exc}", format="onnx") from exc
    for key, value in (
        ("labels", "\n".join(source.class_names)),
        ("flowerkit", json.dumps(document)),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    target.write_bytes(proto.SerializeToString())


def verify(source: ExportSource, target: Path, sample: NDArray[np.uint8]) -> list[Check]:
    """Reload ``target`` with ONNX Runtime and compare it with the Keras model."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    labels = session.get_modelmeta().custom_metadata_map.get("labels", "").split("\n")
    if labels != list(source.class_names):
        return [Check("labels", "mismatched", 1.0, 0.0)]
    name = session.get_inputs()[0].name
    (ours,) = session.run(None, {name: sample.astype(np.float32)})
    reference = source.reference(sample)
    return [
        Check("onnx", "max_abs_diff", max_abs_diff(ours, reference), TOLERANCE),
        Check("onnx", "top1_agreement", agreement(ours, reference)),
    ]


#: The ONNX format, as :data:`flowerkit.export.api.EXPORTERS` lists it: a float32 file,
#: checked on a reload by ONNX Runtime; tf2onnx and onnxruntime are required even when
#: not verifying.
#:
#: :meta hide-value:
EXPORTER = Exporter(
    name="onnx",
    is_directory=False,
    quantizes=False,
    input_name="images",
    input_dtype=lambda quantization: "float32",
    require=lambda verify: require(),
    write=lambda job, target, document: write(job.source, target, document),
    verify=lambda job, target: verify(job.source, target, job.sample),
)
