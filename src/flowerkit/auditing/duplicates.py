"""Near-duplicate groups: candidate pairs from the nearest neighbours, confirmed by the
thumbnail signatures (:mod:`flowerkit.auditing.signatures`), joined into groups."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from flowerkit.auditing.signatures import THRESHOLD, copy_scores

__all__ = ["CopyGroup", "copy_groups"]


class CopyGroup(NamedTuple):
    """Photos that are copies of one another."""

    #: indices of the photos, ascending.
    members: tuple[int, ...]
    #: the weakest confirmed link that joined the group (in [0, 1]).
    score: float


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def copy_groups(
    thumbs: NDArray[np.uint8], neighbours: NDArray[np.int64], threshold: float = THRESHOLD
) -> list[CopyGroup]:
    """Group the photos that are copies of one another.

    Args:
        thumbs: every photo's grey thumbnail.
        neighbours: ``(n, k)`` each photo's nearest photos (the candidates).
        threshold: the copy score a pair needs.

    Returns:
        The groups of two or more photos, strongest first.
    """
    n, k = neighbours.shape
    if not k:
        return []
    a = np.repeat(np.arange(n), k)
    pairs = np.unique(np.sort(np.stack([a, neighbours.ravel()], axis=1), axis=1), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    scores = copy_scores(thumbs, pairs)
    parent = list(range(n))
    weakest: dict[int, float] = {}
    for (i, j), s in zip(
        pairs[scores >= threshold].tolist(), scores[scores >= threshold], strict=True
    ):
        ri, rj = _find(parent, i), _find(parent, j)
        low = min(float(s), weakest.pop(ri, 1.0), weakest.pop(rj, 1.0) if rj != ri else 1.0)
        parent[rj] = ri
        weakest[ri] = low
    members: dict[int, list[int]] = {}
    for i in {int(x) for x in pairs[scores >= threshold].ravel()}:
        members.setdefault(_find(parent, i), []).append(i)
    groups = [CopyGroup(tuple(sorted(m)), weakest[root]) for root, m in members.items()]
    return sorted(groups, key=lambda g: (-g.score, g.members))
