"""Training: the recipe turned into an optimizer, loss and schedule, the callbacks flowerkit
adds (time budget, checkpoints, batch-norm re-estimation), and the phase loop that
``Classifier.fit`` and ``Classifier.fine_tune`` run; and training under ``tf.distribute``
(:mod:`flowerkit.training.distribute`).
"""

from __future__ import annotations

__all__: list[str] = []
