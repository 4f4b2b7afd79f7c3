"""The SavedModel export: two serving signatures that plain TensorFlow runs.

``serving_default``
    ``images``: uint8 ``(N, height, width, 3)`` RGB pixels at the model's size;
``encoded``
    ``image_bytes``: a batch of encoded images (JPEG, PNG, GIF, BMP, WebP), decoded and
    resized in the graph (:mod:`flowerkit.export.graph_decode`).

Both return ``probabilities`` ``(N, classes)`` float32 (softmax, calibration temperature
applied), ``label`` ``(N,)`` the most likely class name, and ``class_names``
``(N, classes)`` (every output has the batch first, so TF Serving's row format works).
``assets.extra/labels.txt`` and ``assets.extra/flowerkit.json`` carry the class names and
the export's metadata beside the graph.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from flowerkit.exceptions import ExportError
from flowerkit.export.checks import Check, max_abs_diff
from flowerkit.export.formats import Exporter, ExportJob
from flowerkit.export.source import ExportSource
from flowerkit.images.decode import load_image
from flowerkit.lite import LABELS_NAME, METADATA_NAME, labels_text

__all__ = ["ENCODED_TOLERANCE", "EXPORTER", "PIXELS_TOLERANCE", "SIGNATURES", "verify", "write"]

#: The signatures, by name.
SIGNATURES = ("serving_default", "encoded")

#: Largest difference allowed between the ``serving_default`` signature's probabilities
#: and the Keras model's: the same float32 graph, reloaded.
PIXELS_TOLERANCE = 1e-4

#: Largest difference allowed for the ``encoded`` signature, whose in-graph decode and
#: resize differ from Pillow's by a fraction of a level per pixel: over the 706
#: validation photos of flower_photos the largest difference was 0.002 (``compact``)
#: and 0.029 (``mobilenet_v2``); the check itself runs on JPEGs and PNGs made from the
#: sample (``benchmarks/bench_export.py``).
ENCODED_TOLERANCE = 0.05


def write(source: ExportSource, target: Path, document: dict[str, Any]) -> None:
    """Write the SavedModel folder ``target`` (which must not exist)."""
    import keras
    import tensorflow as tf

    from flowerkit.export.graph_decode import decode_batch

    height, width = source.image_size
    names = list(source.class_names)

    def answer(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = source.probabilities(tf.cast(images, tf.float32))
        table = tf.constant(names)
        count = tf.shape(probabilities)[0]
        return {
            "probabilities": probabilities,
            "label": tf.gather(table, tf.argmax(probabilities, axis=1)),
            "class_names": tf.tile(table[tf.newaxis], [count, 1]),
        }

    # No archive.track(model): the endpoints capture the weights already, and tracking
    # the model as well stores every weight twice (keras-team/keras#23553).
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default",
        answer,
        input_signature=[tf.TensorSpec((None, height, width, 3), tf.uint8, name="images")],
    )
    archive.add_endpoint(
        "encoded",
        lambda data: answer(decode_batch(data, source.image_size)),
        input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")],
    )
    archive.write_out(str(target), verbose=False)
    extra = target / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / LABELS_NAME).write_text(labels_text(names), encoding="utf-8")
    (extra / METADATA_NAME).write_text(json.dumps(document, indent=2), encoding="utf-8")


def _encode(images: NDArray[np.uint8]) -> list[bytes]:
    """Half the sample as JPEG at twice the size (decoded and resized in-graph), half as
    lossless PNG at the model's size."""
    out = []
    for i, pixels in enumerate(images):
        image = Image.fromarray(pixels)
        buffer = io.BytesIO()
        if i % 2 == 0:
            image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC).save(
                buffer, "JPEG", quality=95
            )
        else:
            image.save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def verify(source: ExportSource, target: Path, sample: NDArray[np.uint8]) -> list[Check]:
    """Reload ``target`` with plain TensorFlow and compare both signatures with the Keras
    model on ``sample`` (for ``encoded``: the same images encoded, as ``predict`` would
    decode them)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(target))
    missing = [name for name in SIGNATURES if name not in loaded.signatures]
    if missing:
        return [Check("signatures", "missing", float(len(missing)), 0.0)]
    pixels = loaded.signatures["serving_default"](images=tf.constant(sample))
    checks = [
        Check(
            "serving_default",
            "max_abs_diff",
            max_abs_diff(pixels["probabilities"], source.reference(sample)),
            PIXELS_TOLERANCE,
        )
    ]
    encoded = _encode(sample)
    decoded = np.stack([load_image(data, source.image_size) for data in encoded])
    answer = loaded.signatures["encoded"](image_bytes=tf.constant(encoded))
    checks.append(
        Check(
            "encoded",
            "max_abs_diff",
            max_abs_diff(answer["probabilities"], source.reference(decoded)),
            ENCODED_TOLERANCE,
        )
    )
    return checks


def _write_job(job: ExportJob, target: Path, document: dict[str, Any]) -> None:
    try:
        write(job.source, target, document)
    except Exception as exc:
        raise ExportError(f"SavedModel export failed: {exc}", format="saved_model") from exc


def _nothing_to_require(verify: bool) -> None:
    """TensorFlow, which writes and reloads a SavedModel, is always there."""


#: The SavedModel format, as :data:`flowerkit.export.api.EXPORTERS` lists it: a float32
#: folder, both signatures checked on a reload by plain TensorFlow.
#:
#: :meta hide-value:
EXPORTER = Exporter(
    name="saved_model",
    is_directory=True,
    quantizes=False,
    input_name="images | image_bytes",
    input_dtype=lambda quantization: "uint8 | string",
    require=_nothing_to_require,
    write=_write_job,
    verify=lambda job, target: verify(job.source, target, job.sample),
    runs_bfloat16=True,
)
