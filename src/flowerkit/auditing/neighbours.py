"""Each photo's nearest photos by feature similarity: exact for ordinary folders, an
approximate index (faiss HNSW) for large ones, so the audit never compares every pair of
a large folder."""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from flowerkit.auditing.extras import INSTALL_HINT, has_faiss

__all__ = ["EXACT_LIMIT", "nearest", "unit_rows"]

_log = logging.getLogger("flowerkit.auditing")

#: Up to this many photos, neighbours are found exactly (one matrix product per block of
#: rows: about 2 s for 20,000 photos on 2 cores); above it, with faiss's HNSW index.
EXACT_LIMIT = 20_000
_BLOCK = 2048


def unit_rows(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """``x`` with each row scaled to length 1 (rows of zeros stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    unit: NDArray[np.float32] = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit


def _exact(x: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    n = len(x)
    index = np.zeros((n, k), dtype=np.int64)
    sims = np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, _BLOCK):
        s = x[start : start + _BLOCK] @ x.T
        rows = np.arange(len(s))
        s[rows, start + rows] = -np.inf  # not its own neighbour
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
        index[start : start + len(s)] = np.take_along_axis(top, order, axis=1)
        sims[start : start + len(s)] = np.take_along_axis(s, index[start : start + len(s)], axis=1)
    return index, sims


def _hnsw(x: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    import faiss

    graph = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = 64
    graph.hnsw.efSearch = max(64, 2 * k)
    graph.add(x)
    sims, index = graph.search(x, k + 1)
    own = index == np.arange(len(x))[:, None]
    keep = np.where(own.any(axis=1, keepdims=True), ~own, np.arange(k + 1) < k)
    index = index[keep].reshape(len(x), k).astype(np.int64)
    return index, sims[keep].reshape(len(x), k).astype(np.float32)


def nearest(x: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ``k`` most similar other rows of each row of ``x`` (unit rows: cosine).

    Args:
        x: ``(n, d)`` unit feature vectors.
        k: neighbours per row (at most ``n - 1``).

    Returns:
        ``(index, similarity)``, each ``(n, k)``, most similar first.
    """
    k = min(k, len(x) - 1)
    if k < 1:
        return np.zeros((len(x), 0), np.int64), np.zeros((len(x), 0), np.float32)
    if len(x) <= EXACT_LIMIT:
        return _exact(x, k)
    if not has_faiss():
        _log.warning(
            "%d photos: comparing every pair without faiss (%s) grows with the square of "
            "the folder",
            len(x),
            INSTALL_HINT,
        )
        return _exact(x, k)
    return _hnsw(np.ascontiguousarray(x), k)
