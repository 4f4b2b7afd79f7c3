"""What the CPU can do natively, read from the operating system (Linux' ``/proc/cpuinfo``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["BFLOAT16_FLAGS", "cpu_flags", "native_bfloat16"]

#: CPU flags with which bfloat16 matrix products run in hardware (AVX512_BF16, AMX-BF16).
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

_CPUINFO = Path("/proc/cpuinfo")


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx2``, ``avx512f``, ``amx_tile``...); empty where the
    operating system does not list them."""
    try:
        text = _CPUINFO.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (else TensorFlow emulates it,
    slower than float32)."""
    return bool(cpu_flags() & BFLOAT16_FLAGS)
