"""Process settings that make TensorFlow train faster on a CPU.

:func:`apply_defaults` runs when flowerkit is imported.

``TF_CPU_ALLOCATOR_USE_BFC=true`` makes TensorFlow keep and reuse the memory of freed
tensors on the CPU (its "best-fit with coalescing" allocator) instead of returning it to
the operating system after every operation. With the default allocator, training a
convolutional network on the CPU spends much of its time in the kernel, mapping and zeroing
fresh pages for every batch (measured: about 100,000 page faults and 0.3 s of system time
per training step of the ``compact`` preset on a 2-core machine; see docs/benchmarks.md).

TensorFlow reads the variable when it creates its CPU allocator, on first use, so the
default takes effect only when flowerkit is imported before TensorFlow has run anything.
A value the user has set (``TF_CPU_ALLOCATOR_USE_BFC=false`` to opt out) is left alone.

The rest of the page faults come from memory that oneDNN's kernels take from the C library
(glibc's ``malloc``) and hand back after each step. :func:`tune_malloc` raises glibc's
thresholds so that freed memory stays in the process for the next step. Together the two
settings made a training step of ``compact`` 2.2 times faster and one of the tutorial's
network 1.6 times faster on the 2-core benchmark machine (``benchmarks/bench_runtime.py``).
The thresholds must be raised before the process has made its pattern of allocations
(set after loading a data set, they removed only part of the page faults), hence at
import. The cost is that the process keeps up to its peak memory instead of returning it.
Set ``FLOWERKIT_TUNE_MALLOC=0`` to opt out.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__: list[str] = []

DEFAULTS: dict[str, str] = {"TF_CPU_ALLOCATOR_USE_BFC": "true"}


def apply_defaults() -> None:
    """Set the TensorFlow environment defaults and tune glibc's malloc."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    tune_malloc()


#: glibc ``mallopt`` parameters and the values flowerkit sets.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOPT = (
    (_M_MMAP_THRESHOLD, 32 * 1024 * 1024),  # glibc's maximum on 64-bit systems
    (_M_TRIM_THRESHOLD, 1024 * 1024 * 1024),
    (_M_TOP_PAD, 64 * 1024 * 1024),
)
_tuned: bool | None = None


def tune_malloc() -> bool:
    """Keep freed memory for reuse in glibc (Linux only, once per process); True if set."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if not sys.platform.startswith("linux") or os.environ.get("FLOWERKIT_TUNE_MALLOC") == "0":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _tuned = all(mallopt(param, value) == 1 for param, value in _MALLOPT)
    return _tuned
