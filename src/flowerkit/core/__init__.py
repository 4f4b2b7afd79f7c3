"""Helpers every layer of flowerkit uses: argument checks, the cache folder, numerics and
the process-wide runtime settings. Nothing here imports TensorFlow, Pillow or any other
flowerkit package."""

from __future__ import annotations

__all__: list[str] = []
