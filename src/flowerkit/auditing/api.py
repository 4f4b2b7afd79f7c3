"""``audit()``: check the files, embed the photos, and find what is wrong with the data."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import NDArray

from flowerkit.auditing import duplicates, labels, outliers
from flowerkit.auditing.embeddings import cache_folder, classifier_embedder, default_embedder, embed
from flowerkit.auditing.extras import require
from flowerkit.auditing.neighbours import nearest, unit_rows
from flowerkit.auditing.report import (
    AuditReport,
    LabelIssue,
    LeakEffect,
    NearDuplicateGroup,
    Outlier,
)
from flowerkit.exceptions import ConfigError
from flowerkit.options.audit import AuditOptions

if TYPE_CHECKING:
    from flowerkit.classifier import Classifier
    from flowerkit.data import DatasetReport, Datasets, ImageFile

__all__ = ["audit"]

#: Typical photos of each class kept for the gallery.
_EXAMPLES = 4


class _Folder(NamedTuple):
    """The audited photos, their labels and splits, and how to name them."""

    shown: Path  # the folder as the user gave it
    report: DatasetReport
    files: list[ImageFile]
    labels: NDArray[np.int64]
    splits: list[str]


def _folder(source: str | os.PathLike[str] | Datasets, options: AuditOptions) -> _Folder:
    from flowerkit.data import Datasets, check_images, split_files

    if isinstance(source, Datasets):
        if source.report is None:
            raise ConfigError(
                "audit() needs Datasets made by load_datasets (they carry the check's "
                "report); pass the folder instead"
            )
        report, shown = source.report, source.report.directory
        side = {p: "train" for p in source.train_files}
        side.update({p: "validation" for p in source.validation_files})
        side.update({p: "test" for p in source.test_files})
    else:
        report, shown = check_images(source), Path(source)
        parts = split_files(
            report.files, options.validation_split, options.seed or 0, test_split=options.test_split
        )
        side = {
            f.path: name
            for name, part in zip(("train", "validation", "test"), parts, strict=True)
            for f in part
        }
    files = [f for f in report.files if f.path in side]
    return _Folder(
        shown,
        report,
        files,
        np.array([f.label for f in files], dtype=np.int64),
        [side[f.path] for f in files],
    )


def _classifier(model: Classifier | str | os.PathLike[str] | None) -> Classifier | None:
    from flowerkit.classifier import Classifier

    if model is None or isinstance(model, Classifier):
        return model
    return Classifier.load(model)


def _label_issues(
    folder: _Folder,
    names: Sequence[str],
    paths: Sequence[Path],
    x: NDArray[np.float32],
    seed: int | None,
    cache: Path | None,
) -> tuple[list[LabelIssue], list[str]]:
    check = labels.check_labels_cached(x, folder.labels, len(names), seed, cache)
    if isinstance(check, str):
        return [], [check]
    issues = []
    for i in np.flatnonzero(check.flagged).tolist():
        others = check.probabilities[i].copy()
        others[folder.labels[i]] = -1.0
        best = int(others.argmax())
        issues.append(
            LabelIssue(
                paths[i],
                names[folder.labels[i]],
                names[best],
                float(check.scores[i]),
                float(others[best]),
                folder.splits[i],
            )
        )
    return sorted(issues, key=lambda issue: (-issue.score, str(issue.file))), []


def _groups(
    folder: _Folder,
    names: Sequence[str],
    paths: Sequence[Path],
    thumbs: NDArray[np.uint8],
    near: NDArray[np.int64],
) -> list[NearDuplicateGroup]:
    return [
        NearDuplicateGroup(
            tuple(paths[i] for i in g.members),
            tuple(names[folder.labels[i]] for i in g.members),
            tuple(folder.splits[i] for i in g.members),
            g.score,
        )
        for g in duplicates.copy_groups(thumbs, near)
    ]


def _outliers(
    folder: _Folder, names: Sequence[str], paths: Sequence[Path], x: NDArray[np.float32]
) -> list[Outlier]:
    check = outliers.check_outliers(x, folder.labels, len(names))
    found = [
        Outlier(paths[i], names[folder.labels[i]], float(check.scores[i]), names[check.nearest[i]])
        for i in np.flatnonzero(check.flagged).tolist()
    ]
    return sorted(found, key=lambda o: (-o.score, str(o.file)))


def _leak_effect(
    folder: _Folder,
    logits: NDArray[np.float32] | None,
    groups: Sequence[NearDuplicateGroup],
    paths: Sequence[Path],
    model_classes: Sequence[str] | None,
) -> LeakEffect | None:
    if logits is None or model_classes is None or tuple(model_classes) != folder.report.class_names:
        return None
    held = np.array([s == "validation" for s in folder.splits])
    leaked_files = {
        f
        for g in groups
        if g.leak
        for f, s in zip(g.files, g.splits, strict=True)
        if s == "validation"
    }
    leaked = np.array([p in leaked_files for p in paths]) & held
    if not held.any() or not leaked.any():
        return None
    right = logits.argmax(axis=1) == folder.labels
    clean = held & ~leaked
    return LeakEffect(
        float(right[held].mean()),
        float(right[clean].mean()) if clean.any() else float("nan"),
        int(leaked.sum()),
        int(held.sum()),
    )


def _examples(
    names: Sequence[str], paths: Sequence[Path], labels_: NDArray[np.int64], x: NDArray[np.float32]
) -> dict[str, tuple[Path, ...]]:
    means = outliers.class_means(x, labels_, len(names))
    typical = (x * means[labels_]).sum(axis=1)
    out = {}
    for c, name in enumerate(names):
        members = np.flatnonzero(labels_ == c)
        best = members[np.argsort(-typical[members], kind="stable")[:_EXAMPLES]]
        out[name] = tuple(paths[i] for i in best)
    return out


def _notes(report: DatasetReport, counts: dict[str, int]) -> list[str]:
    notes = []
    if report.bad_files:
        notes.append(
            f"{len(report.bad_files)} unusable files were left out (run 'flowerkit check' "
            "for the list)"
        )
    if report.is_imbalanced:
        low = min(counts, key=counts.__getitem__)
        high = max(counts, key=counts.__getitem__)
        notes.append(
            f"classes are imbalanced ({high!r}: {counts[high]} photos, {low!r}: "
            f"{counts[low]}): add photos of the small classes, or train with "
            "class_weight='balanced' (--class-weight balanced)"
        )
    return notes


def audit(
    source: str | os.PathLike[str] | Datasets,
    model: Classifier | str | os.PathLike[str] | None = None,
    *,
    validation_split: float = 0.2,
    test_split: float = 0.0,
    seed: int | None = 123,
    weights: str | os.PathLike[str] | None = None,
    neighbours: int = 10,
    cache: bool | str | os.PathLike[str] = True,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Find likely label errors, near-duplicates (and leaks across the split), outliers
    and class imbalance in a folder of class sub-folders.

    Every photo is turned into a feature vector by ``model`` (its head's input), else by
    the ``mobilenet_v2`` backbone's ImageNet weights (found or fetched as
    ``flowerkit train`` does); vectors are cached, so a second audit of an unchanged
    folder is quick.

    * **Label errors**: a logistic regression on the vectors, cross-validated, gives each
      photo class probabilities from a model that never saw it; cleanlab flags the
      photos whose given class those probabilities dispute.
    * **Near-duplicates**: each photo's nearest photos are compared at many crop
      alignments of small grey thumbnails; resized, re-encoded, cropped and
      colour-shifted copies are grouped, and a group with copies in more than one split
      is a leak. With a ``model``, its validation accuracy with and without the leaked
      photos is reported.
    * **Outliers**: photos far from the mean photo of every class.

    Args:
        source: a folder with one sub-folder per class, or the
            :class:`~flowerkit.data.Datasets` to audit (their split is used).
        model: a trained :class:`~flowerkit.Classifier`, or the path of a saved one.
        validation_split: the training run's validation fraction (for leaks).
        test_split: the training run's test fraction.
        seed: the training run's split seed; also seeds the cross-validation.
        weights: an ImageNet weights file for the features when ``model`` is ``None``.
        neighbours: the nearest photos compared with each photo for copies.
        cache: keep the vectors in flowerkit's cache folder (``True``), in a given
            folder, or not at all (``False``).
        progress: called as ``progress(done, total)`` while photos are embedded.

    Returns:
        The :class:`~flowerkit.auditing.AuditReport`.

    Raises:
        ModuleNotFoundError: scikit-learn or cleanlab is missing (``pip install
            "flowerkit[audit]"``).
        ~flowerkit.ConfigError: an option is invalid, or there is no model and no
            ImageNet weights to compute features with.
        ~flowerkit.DatasetError: the folder is missing or has no usable photos.

    Example:
        >>> import shutil
        >>> import flowerkit as fk
        >>> _ = shutil.copy("photos/roses/roses_00.jpg", "photos/tulips/copy.jpg")
        >>> report = fk.audit("photos", model="flowers.keras")
        >>> report.summary()
        '37 photos in 3 classes: ... near-duplicate groups (...), ... outliers'
        >>> [group.reason for group in report.duplicate_groups]
        ['2 copies of one picture (match 1.000), filed under roses and tulips...']
    """
    options = AuditOptions.from_call(locals())
    require()
    start = time.perf_counter()
    folder = _folder(source, options)
    classifier = _classifier(model)
    embedder = (
        default_embedder(options.weights) if classifier is None else classifier_embedder(classifier)
    )
    seen = embed(folder.files, embedder, cache=cache, progress=progress)
    names = folder.report.class_names
    paths = [folder.shown / Path(f.key) for f in folder.files]
    x = unit_rows(seen.features)
    near, _ = nearest(x, options.neighbours)
    issues, notes = _label_issues(folder, names, paths, x, options.seed, cache_folder(cache))
    groups = _groups(folder, names, paths, seen.thumbs, near)
    counts = {n: int((folder.labels == c).sum()) for c, n in enumerate(names)}
    classes = None if classifier is None else tuple(classifier.class_names)
    return AuditReport(
        folder.shown,
        tuple(names),
        counts,
        tuple(issues),
        tuple(groups),
        tuple(_outliers(folder, names, paths, x)),
        _leak_effect(folder, seen.logits, groups, paths, classes),
        tuple(notes + _notes(folder.report, counts)),
        embedder.description,
        len(folder.report.bad_files),
        _examples(names, paths, folder.labels, x),
        time.perf_counter() - start,
        {p: (f.key, f.sha256) for p, f in zip(paths, folder.files, strict=True)},
    )
