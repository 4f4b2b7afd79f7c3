"""Process-wide settings that make TensorFlow train faster on a CPU, and where they apply.

Two settings, each applied where it pays and nowhere else:

``TF_CPU_ALLOCATOR_USE_BFC=true`` (:func:`apply_defaults`, on ``import flowerkit``)
    makes TensorFlow keep and reuse the memory of freed tensors on the CPU (its "best-fit
    with coalescing" allocator) instead of returning it to the operating system after every
    operation. With the default allocator, training a convolutional network on the CPU
    spends much of its time in the kernel, mapping and zeroing fresh pages for every batch
    (measured: about 100,000 page faults and 0.3 s of system time per training step of the
    ``compact`` preset on a 2-core machine; see docs/benchmarks.md). TensorFlow reads the
    variable once, when it creates its CPU allocator, so it only works when set before
    TensorFlow runs anything: that is why it is the one setting made at import. It changes
    no result and costs nothing but keeping freed tensor memory for reuse. A value the user
    has set (``TF_CPU_ALLOCATOR_USE_BFC=false`` to opt out) is left alone.

glibc ``mallopt`` thresholds (:func:`tune_for_training`, when training work starts)
    The rest of the page faults come from memory that oneDNN's kernels take from the C
    library (glibc's ``malloc``) and hand back after each step. Raising glibc's thresholds
    keeps that memory in the process for the next step. The cost is that the process keeps
    up to its peak memory instead of returning it, which a process that only predicts
    should not pay, so this is not done on import: :func:`~flowerkit.data.load_datasets`,
    ``Classifier.fit`` and the CLI call :func:`tune_for_training`, before the data set's
    pipeline or the training step allocate anything. Set ``FLOWERKIT_TUNE_MALLOC=0`` to opt
    out.

Together the two made a training step of ``compact`` 2.2 times faster and one of the
tutorial's network 1.6 times faster on the 2-core benchmark machine
(``benchmarks/bench_runtime.py``).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = [
    "apply_defaults",
    "available_cores",
    "malloc_tuned",
    "tune_for_training",
    "tune_malloc",
]

DEFAULTS: dict[str, str] = {"TF_CPU_ALLOCATOR_USE_BFC": "true"}


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def apply_defaults() -> None:
    """Set the environment defaults that only work before TensorFlow starts."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def tune_for_training() -> bool:
    """Apply the settings that pay when a process trains (idempotent); True if malloc was tuned."""
    apply_defaults()
    return tune_malloc()


#: glibc ``mallopt`` parameters and the values flowerkit sets.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOPT = (
    (_M_MMAP_THRESHOLD, 32 * 1024 * 1024),  # glibc's maximum on 64-bit systems
    (_M_TRIM_THRESHOLD, 1024 * 1024 * 1024),
    (_M_TOP_PAD, 64 * 1024 * 1024),
)
_tuned: bool | None = None


def malloc_tuned() -> bool:
    """Whether :func:`tune_malloc` has changed glibc's thresholds in this process."""
    return bool(_tuned)


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
