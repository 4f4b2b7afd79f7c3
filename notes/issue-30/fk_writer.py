"""Prototype: TFLite image-classifier metadata without mediapipe/tflite-support.

Only `flatbuffers` for the metadata table (field slots from metadata_schema.fbs 1.5.0) and
TensorFlow's own TFLite schema (the converter's object API) to add the TFLITE_METADATA buffer.
"""
from __future__ import annotations
import io, json, zipfile
import flatbuffers
from flatbuffers import number_types as N

# union tags and enums from metadata_schema.fbs
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2          # ContentProperties
_NORMALIZATION_OPTIONS = 1                              # ProcessUnitOptions
_RGB = 1                                                # ColorSpaceType
_TENSOR_AXIS_LABELS, _DESCRIPTIONS = 2, 1               # AssociatedFileType


def _floats(b: flatbuffers.Builder, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _offsets(b: flatbuffers.Builder, offsets) -> int:
    b.StartVector(4, len(offsets), 4)
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _table(b: flatbuffers.Builder, nslots: int, fields) -> int:
    """fields: (slot, kind, value) with kind 'o' offset, 'b' byte, 'u' uint32."""
    b.StartObject(nslots)
    for slot, kind, value in fields:
        if value is None:
            continue
        if kind == "o":
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "b":
            b.PrependInt8Slot(slot, value, 0)
        elif kind == "u":
            b.PrependUint32Slot(slot, value, 0)
    return b.EndObject()


def _file(b, name: str, description: str, kind: int) -> int:
    n, d = b.CreateString(name), b.CreateString(description)
    return _table(b, 5, [(0, "o", n), (1, "o", d), (2, "b", kind)])


def _stats(b, lo, hi) -> int:
    mx, mn = _floats(b, hi), _floats(b, lo)
    return _table(b, 2, [(0, "o", mx), (1, "o", mn)])


def metadata_buffer(*, name, description, version, author, license, class_names_file,
                    mean, std, height, width, input_uint8, extra_files=()) -> bytes:
    b = flatbuffers.Builder(1024)
    # input tensor: image, RGB, normalization (pixel - mean) / std
    size = _table(b, 2, [(0, "u", width), (1, "u", height)])
    image_props = _table(b, 2, [(0, "b", _RGB), (1, "o", size)])
    in_content = _table(b, 3, [(0, "b", _IMAGE_PROPERTIES), (1, "o", image_props)])
    norm = _table(b, 2, [(0, "o", _floats(b, mean)), (1, "o", _floats(b, std))])
    unit = _table(b, 2, [(0, "b", _NORMALIZATION_OPTIONS), (1, "o", norm)])
    units = _offsets(b, [unit])
    lo = [0.0] if input_uint8 else [(0.0 - m) / s for m, s in zip(mean, std)]
    hi = [255.0] if input_uint8 else [(255.0 - m) / s for m, s in zip(mean, std)]
    in_stats = _stats(b, lo, hi)
    in_name, in_desc = b.CreateString("image"), b.CreateString(
        "RGB pixels 0..255 at the model's size; the model rescales them itself.")
    tin = _table(b, 7, [(0, "o", in_name), (1, "o", in_desc), (3, "o", in_content),
                        (4, "o", units), (5, "o", in_stats)])
    # output tensor: class probabilities, labels as TENSOR_AXIS_LABELS
    feat = _table(b, 0, [])
    out_content = _table(b, 3, [(0, "b", _FEATURE_PROPERTIES), (1, "o", feat)])
    out_stats = _stats(b, [0.0], [1.0])
    labels = _file(b, class_names_file, "Labels for categories that the model can recognize.",
                   _TENSOR_AXIS_LABELS)
    out_files = _offsets(b, [labels])
    out_name, out_desc = b.CreateString("probability"), b.CreateString(
        "Probabilities of the classes (softmax, calibration temperature applied).")
    tout = _table(b, 7, [(0, "o", out_name), (1, "o", out_desc), (3, "o", out_content),
                         (5, "o", out_stats), (6, "o", out_files)])
    sub = _table(b, 10, [(2, "o", _offsets(b, [tin])), (3, "o", _offsets(b, [tout]))])
    model_files = _offsets(b, [_file(b, f, d, _DESCRIPTIONS) for f, d in extra_files]) if extra_files else None
    strings = [b.CreateString(s) if s else None for s in (name, description, version, author, license)]
    subs = _offsets(b, [sub])
    minv = b.CreateString("1.0.0")
    root = _table(b, 8, [(0, "o", strings[0]), (1, "o", strings[1]), (2, "o", strings[2]),
                         (3, "o", subs), (4, "o", strings[3]), (5, "o", strings[4]),
                         (6, "o", model_files), (7, "o", minv)])
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


def with_metadata(flatbuffer: bytes, metadata: bytes) -> bytes:
    """The model with a TFLITE_METADATA entry (replaced if present): the converter's own route."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buf = fb.BufferT(); buf.data = list(metadata)
    for entry in model.metadata or []:
        if entry.name.decode() == "TFLITE_METADATA":
            model.buffers[entry.buffer] = buf
            break
    else:
        model.buffers.append(buf)
        entry = fb.MetadataT(); entry.name = "TFLITE_METADATA"; entry.buffer = len(model.buffers) - 1
        model.metadata = (model.metadata or []) + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def write(flatbuffer: bytes, path: str, names, document: dict, **md) -> None:
    out = with_metadata(flatbuffer, metadata_buffer(class_names_file="labels.txt", **md))
    with open(path, "wb") as f:
        f.write(out)
    # ONE zip, entries STORED: MediaPipe refuses compressed entries
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as z:
        z.writestr("labels.txt", "".join(f"{n}\n" for n in names))
        z.writestr("flowerkit.json", json.dumps(document, indent=2))


if __name__ == "__main__":
    import sys, time
    import numpy as np
    for src in sys.argv[1:]:
        fbuf = open(src, "rb").read()
        h, w = (int(x) for x in src.split("_")[-1].split(".")[0].split("x"))
        u8 = src.startswith(("int8", "u8cast"))
        t = time.perf_counter()
        write(fbuf, src.replace(".tflite", ".own.tflite"), ["daisy", "roses", "tulips"],
              {"format": "flowerkit.tflite", "format_version": 1, "class_names": ["daisy", "roses", "tulips"]},
              name="flowerkit tutorial", description="Flower classifier (flowerkit)", version="0.1.0",
              author="flowerkit", license="Apache-2.0", mean=[0.0], std=[1.0], height=h, width=w,
              input_uint8=u8, extra_files=[("flowerkit.json", "flowerkit's metadata: preprocessing, versions")])
        print(src, f"{(time.perf_counter()-t)*1000:.0f} ms")
