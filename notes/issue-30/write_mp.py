"""Write image-classifier metadata with mediapipe's own writer (needs a stub: see below)."""
import sys, time, types, json, zipfile, io
# mediapipe 1.2.x ships metadata.py importing a pybind module its wheel no longer contains.
STUB = "--stub" in sys.argv
if STUB:
    pkg = types.ModuleType("mediapipe.tasks.cc.metadata.python")
    mod = types.ModuleType("mediapipe.tasks.cc.metadata.python._pywrap_metadata_version")
    mod.GetMinimumMetadataParserVersion = lambda buf: "1.0.0"  # right for these fields (metadata_version.cc)
    pkg._pywrap_metadata_version = mod
    for name in ("mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules[pkg.__name__] = pkg
    sys.modules[mod.__name__] = mod
t = time.perf_counter()
from mediapipe.tasks.python.metadata.metadata_writers import image_classifier, metadata_writer, metadata_info
print(f"writer import {time.perf_counter()-t:.2f}s")
NAMES = ["daisy", "roses", "tulips"]
for path in [a for a in sys.argv[1:] if a.endswith(".tflite")]:
    buf = bytearray(open(path, "rb").read())
    t = time.perf_counter()
    w = image_classifier.MetadataWriter.create(buf, input_norm_mean=[0.0], input_norm_std=[1.0],
                                               labels=metadata_writer.Labels().add(NAMES))
    # name/version/author/licence: not arguments of create(); only via the private _general_md
    w.writer._general_md = metadata_info.GeneralMd(name="flowerkit tutorial", description="Flower classifier",
                                                   version="0.1.0", author="flowerkit", licenses="Apache-2.0")
    model, js = w.populate()
    dt = time.perf_counter() - t
    outp = path.replace(".tflite", ".mp.tflite")
    open(outp, "wb").write(model)
    # add flowerkit's own entry to the same zip
    with zipfile.ZipFile(outp, "a", compression=(zipfile.ZIP_DEFLATED if "--deflate" in sys.argv else zipfile.ZIP_STORED)) as z:
        z.writestr("flowerkit.json", json.dumps({"format": "flowerkit.tflite", "format_version": 1, "class_names": NAMES}))
    with zipfile.ZipFile(outp) as z:
        print(path, f"populate {dt*1000:.0f} ms", len(buf), "->", len(model), "->", len(open(outp,'rb').read()), z.namelist())
    if "--json" in sys.argv:
        print(js)
