"""Every option that the API and the ``flowerkit`` command share, each declared once.

One module per layer whose options the command repeats: :mod:`flowerkit.options.data`
(``load_datasets``), :mod:`flowerkit.options.models` (``build_model`` and
``Classifier.from_preset``) and :mod:`flowerkit.options.training` (``Classifier.fit``,
``fine_tune`` and ``distill``). The mechanism is :mod:`flowerkit.core.options`. Nothing
here imports TensorFlow, NumPy or Pillow, so ``flowerkit --help`` stays fast.
"""

from __future__ import annotations

__all__: list[str] = []
