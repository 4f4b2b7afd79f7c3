"""What a benchmark ran on: CPU model, cores, vector flags and library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

#: CPU flags that decide which kernels TensorFlow can use.
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def describe() -> dict[str, Any]:
    """CPU model, core count, flags, Python/TensorFlow/Keras versions and flowerkit's
    runtime settings, for the record of a benchmark run."""
    import keras
    import tensorflow as tf

    from flowerkit.core import runtime
    from flowerkit.core.cpu import cpu_flags

    model, flags = platform.processor() or "unknown", cpu_flags()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": runtime.available_cores(),
        "flags": [f for f in FLAGS if f in flags],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        # What this process runs with; read, never changed here.
        "TF_CPU_ALLOCATOR_USE_BFC": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC"),
        "malloc_tuned": runtime.malloc_tuned(),
    }
