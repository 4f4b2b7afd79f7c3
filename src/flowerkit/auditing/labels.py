"""Likely label errors: each photo judged by a model that never saw it.

A logistic regression on the photos' feature vectors is fitted on four fifths of the
folder and predicts the fifth it left out, five times (scikit-learn's
``cross_val_predict``), so every photo gets class probabilities from a model that did
not train on it. cleanlab then picks the photos whose given class those probabilities
dispute: it estimates how many labels are wrong from the confident joint of given and
predicted classes, and flags that many photos, lowest probability of the given class
first (``filter_by="low_self_confidence"``; measured in benchmarks/bench_audit.py against
cleanlab's other rules and a trained model's top losses).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["FOLDS", "LabelCheck", "check_labels", "check_labels_cached"]

#: Folds of the cross-validation (fewer when the smallest class has fewer photos).
FOLDS = 5
#: The regression's inverse regularisation strength (scikit-learn's ``C``).
_C = 1.0


class LabelCheck(NamedTuple):
    """What the cross-validated probabilities say of each photo's label."""

    #: ``(n, classes)`` out-of-fold class probabilities.
    probabilities: NDArray[np.float64]
    #: ``(n,)`` whether the label is likely wrong.
    flagged: NDArray[np.bool_]
    #: ``(n,)`` how likely it is wrong, in [0, 1] (one minus the probability of the given class).
    scores: NDArray[np.float64]


def check_labels(
    features: NDArray[np.float32], labels: NDArray[np.int64], num_classes: int, seed: int | None
) -> LabelCheck | str:
    """Cross-validated probabilities and the flagged labels, or why there are none.

    Args:
        features: ``(n, d)`` unit feature vectors.
        labels: the class index each photo is filed under.
        num_classes: the number of classes.
        seed: seeds the folds.

    Returns:
        The check, or a sentence saying why the folder cannot be checked.
    """
    import cleanlab
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    counts = np.bincount(labels, minlength=num_classes)
    if num_classes < 2 or counts.min() < 2:
        return "label check skipped: it needs two classes and at least 2 photos in each"
    folds = StratifiedKFold(min(FOLDS, int(counts.min())), shuffle=True, random_state=seed)
    regression = LogisticRegression(C=_C, max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny folders
        probs = cross_val_predict(regression, features, labels, cv=folds, method="predict_proba")
        flagged = cleanlab.filter.find_label_issues(labels, probs, filter_by="low_self_confidence")
    scores = 1.0 - probs[np.arange(len(labels)), labels]
    return LabelCheck(probs, np.asarray(flagged, dtype=bool), scores)


def _key(features: NDArray[np.float32], labels: NDArray[np.int64], seed: int | None) -> str:
    import cleanlab
    import sklearn

    digest = hashlib.sha256(np.ascontiguousarray(features).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    digest.update(f"{seed}/{FOLDS}/{_C}/{sklearn.__version__}/{cleanlab.__version__}".encode())
    return digest.hexdigest()[:32]


def check_labels_cached(
    features: NDArray[np.float32],
    labels: NDArray[np.int64],
    num_classes: int,
    seed: int | None,
    folder: Path | None,
) -> LabelCheck | str:
    """:func:`check_labels`, kept in ``folder`` (when given) under a digest of the
    features, labels and settings: an unchanged folder is not cross-validated again."""
    path = None if folder is None else folder / f"labels-{_key(features, labels, seed)}.npz"
    if path is not None and path.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError), np.load(path) as saved:
            return LabelCheck(saved["probabilities"], saved["flagged"], saved["scores"])
    check = check_labels(features, labels, num_classes, seed)
    if path is not None and not isinstance(check, str):
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.npz")
            np.savez(temporary, **check._asdict())
            os.replace(temporary, path)
    return check
