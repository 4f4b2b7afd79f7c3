"""Run one benchmark leg in a fresh Python process and read the result it prints.

Process-wide settings (allocators, threads) and peak memory can only be compared across
processes. A child prints one line ``RESULT {json}``; :func:`run_child` returns that dict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

PREFIX = "RESULT "


def run_child(code: str, *args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -c code args...`` (TensorFlow's C++ log silenced) and return the dict
    from its ``RESULT`` line; a failing child raises ``CalledProcessError``."""
    environ = dict(os.environ if env is None else env)
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith(PREFIX))
    result: dict[str, Any] = json.loads(line[len(PREFIX) :])
    return result
