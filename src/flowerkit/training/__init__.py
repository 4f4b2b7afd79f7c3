"""Training: the recipe turned into an optimizer, loss and schedule, the callbacks flowerkit
adds (time budget, checkpoints, batch-norm re-estimation), and the phase loop that
``Classifier.fit`` and ``Classifier.fine_tune`` run.

Distribution support (``tf.distribute`` strategies) belongs here too.
"""

from __future__ import annotations

__all__: list[str] = []
