"""The built-in presets, one module each. Importing this package registers them.

To add a built-in preset, add a module here that calls
:func:`~flowerkit.models.registry.register_preset` at import and import it below.
"""

from __future__ import annotations

from flowerkit.models.presets import compact, mobilenet_v2, tutorial

__all__ = ["compact", "mobilenet_v2", "tutorial"]
