"""Photos far from every class: low feature similarity to each class's mean.

A photo of another subject (a screenshot, a shoe among flowers) sits away from the mean
feature vector of every class, its own included; a photo of one class filed under
another is near *some* class mean, which is the label check's business. The score is one
minus the best cosine similarity to a class mean; photos whose score lies beyond Tukey's
fence (more than :data:`SPREADS` interquartile ranges above the third quartile) are
flagged. Measured in benchmarks/bench_audit.py: the ranking puts planted photos of
another subject high, and among the other photos it flags many are outliers of the folder
itself (collages, vehicles, a tattoo among flowers); a wider fence flagged almost none.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from flowerkit.auditing.neighbours import unit_rows

__all__ = ["SPREADS", "OutlierCheck", "check_outliers", "class_means"]

#: How many interquartile ranges above the third quartile a score must be to be flagged.
SPREADS = 1.5


class OutlierCheck(NamedTuple):
    """Each photo's distance from the classes, and whether it is an outlier."""

    #: ``(n,)`` one minus the best similarity to a class mean.
    scores: NDArray[np.float32]
    #: ``(n,)`` the class whose mean is nearest.
    nearest: NDArray[np.int64]
    #: ``(n,)`` whether the photo is an outlier.
    flagged: NDArray[np.bool_]


def class_means(
    features: NDArray[np.float32], labels: NDArray[np.int64], num_classes: int
) -> NDArray[np.float32]:
    """The unit mean vector of each class (zeros for an empty class)."""
    sums = np.zeros((num_classes, features.shape[1]), dtype=np.float32)
    np.add.at(sums, labels, features)
    return unit_rows(sums)


def check_outliers(
    features: NDArray[np.float32], labels: NDArray[np.int64], num_classes: int
) -> OutlierCheck:
    """Score every photo's distance from the classes and flag the far ones.

    Args:
        features: ``(n, d)`` unit feature vectors.
        labels: the class index of each photo.
        num_classes: the number of classes.
    """
    similarity = features @ class_means(features, labels, num_classes).T
    scores = (1.0 - similarity.max(axis=1)).astype(np.float32)
    if len(scores) < 8:
        flagged = np.zeros(len(scores), dtype=bool)
    else:
        q1, q3 = np.quantile(scores, [0.25, 0.75])
        flagged = scores > q3 + SPREADS * (q3 - q1)
    return OutlierCheck(scores, similarity.argmax(axis=1).astype(np.int64), flagged)
