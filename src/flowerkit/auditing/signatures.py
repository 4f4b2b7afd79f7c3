"""Near-duplicate signatures: small grey thumbnails compared at many crop alignments.

A deep embedding places a resized, re-encoded, cropped or colour-shifted copy near its
original, but not nearer than two photos of one scene (measured on flower_photos: 5% of
resized copies fall below the similarity of the nearest distinct photo). So embeddings
only propose candidates (each photo's nearest neighbours) and this module decides: each
image's 48x48 grey thumbnail is reduced to 24x24 windows (the whole image, and 85%
crops at 13x13 positions), each centred and scaled to unit length, so brightness and
contrast drop out. Two images are copies when some window of one matches the other whole
with a correlation of at least :data:`THRESHOLD`.

Written here rather than with imagehash: a perceptual hash compares whole images, and an
85% crop changes every coefficient of it; the crop search is what finds crops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["SIDE", "THRESHOLD", "THUMB", "copy_scores", "grey_thumbnail", "signatures"]

#: Side of the grey thumbnail kept per image (cached with the embeddings), in pixels.
THUMB = 48
#: Side of a compared window, in pixels.
SIDE = 24
#: The fraction of each side a crop window keeps, and its positions along each axis.
CROP = 0.85
POSITIONS = 13
#: Correlation at or above which two images are copies. Measured in
#: benchmarks/bench_audit.py on flowers and clothing with planted copies: at 0.97 (24-px
#: windows, 13x13 crop positions) 97 of 100 planted flower copies and all 40 clothing
#: copies are found, and every other flower pair above it is an edit of one photo (a
#: person checked all 18), while no two distinct clothing photos reach it (16-px windows
#: at 0.95 grouped distinct product shots on white).
THRESHOLD = 0.97
#: Images whose windows are made at once (about 0.4 MB each).
_CHUNK = 128


def grey_thumbnail(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The ``THUMB`` x ``THUMB`` grey thumbnail of an RGB image (squashed, as the model
    sees it)."""
    grey = Image.fromarray(image).convert("L")
    return np.asarray(grey.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.uint8)


def _area_matrix(start: float, length: float) -> NDArray[np.float32]:
    """The ``SIDE`` x ``THUMB`` matrix averaging ``[start, start + length)`` of a row of
    ``THUMB`` pixels into ``SIDE`` equal bins (box resampling)."""
    edges = start + length * np.arange(SIDE + 1) / SIDE
    lo, hi = edges[:-1, None], edges[1:, None]
    pixels = np.arange(THUMB)[None, :]
    overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0, None)
    matrix: NDArray[np.float32] = (overlap / (length / SIDE)).astype(np.float32)
    return matrix


def _windows() -> NDArray[np.float32]:
    """The resampling matrices of the whole image and of every crop position."""
    length = THUMB * CROP
    starts = np.linspace(0.0, THUMB - length, POSITIONS)
    return np.stack([_area_matrix(0.0, THUMB)] + [_area_matrix(s, length) for s in starts])


_WINDOWS = _windows()


def _unit(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    rows = rows - rows.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(rows, axis=-1, keepdims=True)
    unit: NDArray[np.float32] = rows / np.maximum(norm, 1e-6)
    return unit


def signatures(thumbs: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Every window of each thumbnail, as unit vectors.

    Args:
        thumbs: ``(n, THUMB, THUMB)`` grey thumbnails.

    Returns:
        ``(n, 1 + POSITIONS**2, SIDE * SIDE)``: the whole image first, then the crops.
    """
    t = thumbs.astype(np.float32)
    rows = np.matmul(_WINDOWS[None], t[:, None])  # (n, 1 + P, S, T): every vertical window
    whole = rows[:, 0] @ _WINDOWS[0].T  # (n, S, S)
    across = np.swapaxes(_WINDOWS[1:], 1, 2)[None, None]  # (1, 1, P, T, S)
    crops = np.matmul(rows[:, 1:, None], across)  # (n, P, P, S, S)
    n = len(thumbs)
    out = np.concatenate([whole.reshape(n, 1, -1), crops.reshape(n, POSITIONS**2, -1)], axis=1)
    return _unit(out)


def _whole(thumbs: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The whole-image window of each thumbnail, as unit vectors."""
    t = thumbs.astype(np.float32)
    rows = np.einsum("ij,njk->nik", _WINDOWS[0], t)
    return _unit(np.einsum("nik,lk->nil", rows, _WINDOWS[0]).reshape(len(thumbs), -1))


def copy_scores(
    thumbs: NDArray[np.uint8], pairs: Sequence[tuple[int, int]] | NDArray[np.int64]
) -> NDArray[np.float32]:
    """How well each pair of images matches as copies (1: identical up to brightness).

    Each image's windows are made once and compared with the whole view of every image it
    is paired with (one small matrix product per image), so the work grows with the
    number of pairs.

    Args:
        thumbs: the grey thumbnails of all images.
        pairs: ``(a, b)`` indices into ``thumbs``.

    Returns:
        One score per pair: the best correlation of any window of either image with the
        other image whole.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    scores = np.full(len(pairs), -1.0, dtype=np.float32)
    if not len(pairs):
        return scores
    used = np.unique(pairs)
    whole = _whole(thumbs[used])
    position = np.searchsorted(used, pairs)  # each pair's two images, as rows of `whole`
    # Both directions: row r of `ends` is (image, partner) of pair r % len(pairs).
    ends = np.concatenate([position, position[:, ::-1]])
    order = np.argsort(ends[:, 0], kind="stable")
    bounds = np.searchsorted(ends[order, 0], np.arange(len(used) + 1))
    for first in range(0, len(used), _CHUNK):
        windows = signatures(thumbs[used[first : first + _CHUNK]])  # (m, W, D)
        for k, image in enumerate(range(first, min(first + _CHUNK, len(used)))):
            rows = order[bounds[image] : bounds[image + 1]]
            best = (windows[k] @ whole[ends[rows, 1]].T).max(axis=0)
            at = rows % len(pairs)
            scores[at] = np.maximum(scores[at], best)
    return scores
