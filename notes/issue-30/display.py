import sys, types
pkg = types.ModuleType("mediapipe.tasks.cc.metadata.python"); mod = types.ModuleType(pkg.__name__ + "._pywrap_metadata_version")
mod.GetMinimumMetadataParserVersion = lambda b: "1.0.0"; pkg._pywrap_metadata_version = mod
for n in ("mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata"): sys.modules[n] = types.ModuleType(n)
sys.modules[pkg.__name__] = pkg; sys.modules[mod.__name__] = mod
from mediapipe.tasks.python.metadata import metadata
d = metadata.MetadataDisplayer.with_model_file(sys.argv[1])
print(d.get_metadata_json()); print("packed:", d.get_packed_associated_file_list())
