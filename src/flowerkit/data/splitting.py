"""How :func:`~flowerkit.data.load_datasets` splits a checked folder's files.

:func:`split_files` is the ``"stratified"`` rule (a per-file hash of the seed and the
file's path, applied within every class); the ``"keras"`` rule replays
``keras.utils.image_dataset_from_directory``'s assignment. Both are described in
:mod:`flowerkit.data.loading`. Nothing here decodes an image or imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np

from flowerkit.core import validation as v
from flowerkit.data.checking import DatasetReport, ImageFile
from flowerkit.exceptions import BadFilesWarning, ConfigError, DatasetError

__all__ = ["split_files"]

#: The extensions ``keras.utils.image_dataset_from_directory`` indexes.
_KERAS_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def _unit_hash(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@overload
def split_files(
    files: Sequence[ImageFile], validation_split: float, seed: int
) -> tuple[list[ImageFile], list[ImageFile]]: ...


@overload
def split_files(
    files: Sequence[ImageFile], validation_split: float, seed: int, *, test_split: float
) -> tuple[list[ImageFile], list[ImageFile], list[ImageFile]]: ...


def split_files(
    files: Sequence[ImageFile],
    validation_split: float,
    seed: int,
    *,
    test_split: float | None = None,
) -> (
    tuple[list[ImageFile], list[ImageFile]]
    | tuple[list[ImageFile], list[ImageFile], list[ImageFile]]
):
    """The ``"stratified"`` split of ``files`` into training, validation (and test) files.

    Each file's ``sha256(seed, key)`` is mapped to ``u`` in [0, 1): the file is in
    validation when ``u < validation_split``, in test when ``validation_split <= u <
    validation_split + test_split``, else in training. A file's split depends only on its
    key and the seed, so adding files never moves another one, and the validation files
    are the same whatever ``test_split`` is.

    Per class, the rule is bent only for small classes whose hashes leave a split empty:

    * a class of two or more files keeps at least one training file and, when
      ``validation_split`` > 0, at least one validation file;
    * a class of three or more files also keeps at least one test file when
      ``test_split`` > 0 (a class of two keeps one training and one validation file, and
      none for test);
    * a class of one file goes where its hash says (it may be missing from training).

    A split that must gain a file takes the one whose hash is nearest its range, and one
    that must give files up (the held-out splits together keep at most all files but one)
    is the larger held-out split, test on a tie; so these corrections only ever concern
    the few files at the edges of the ranges.

    This is the rule :func:`load_datasets` applies with ``split="stratified"``; call it to
    see or reuse a split without building pipelines.

    Args:
        files: the files to split (the usable files of a
            :class:`~flowerkit.data.DatasetReport`); each one's ``key`` and class decide
            its side.
        validation_split: the fraction held out for validation (0 for none).
        seed: the seed of the hash.
        test_split: the fraction held out for testing (0 for none). When given (even 0),
            a third list is returned; when left out, the result is
            ``(train, validation)`` exactly as before test splits existed.

    Returns:
        ``(train, validation)``, or ``(train, validation, test)`` when ``test_split`` is
        given; each list sorted by key.

    Raises:
        ~flowerkit.ConfigError: with ``test_split`` given, a fraction is not in [0, 1) or
            the two add up to 1 or more.

    Example:
        >>> from flowerkit.data import check_images, split_files
        >>> files = check_images("photos").files
        >>> train, validation = split_files(files, 0.2, seed=42)
        >>> len(train), len(validation)
        (30, 6)
        >>> sorted({f.class_name for f in validation})
        ['daisy', 'roses', 'tulips']
        >>> train3, validation3, test = split_files(files, 0.2, seed=42, test_split=0.1)
        >>> validation3 == validation, len(train3), len(test)
        (True, 26, 4)
        >>> split_files(files, 0.6, seed=42, test_split=0.5)
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `validation_split` + `test_split` must be less than 1, ...
    """
    if test_split is None:
        train, val, _ = _split_three_ways(files, validation_split, 0.0, seed)
        return train, val
    validation_split, test_split = _check_split_fractions(validation_split, test_split)
    return _split_three_ways(files, validation_split, test_split, seed)


def _check_split_fractions(validation_split: object, test_split: object) -> tuple[float, float]:
    """Both fractions in [0, 1), adding up to less than 1."""
    val = v.check_fraction(validation_split, "validation_split", allow_zero=True)
    test = v.check_fraction(test_split, "test_split", allow_zero=True)
    if val + test >= 1:
        raise ConfigError(
            "`validation_split` + `test_split` must be less than 1, to leave files for "
            f"training. Received: validation_split={val!r}, test_split={test!r}"
        )
    return val, test


def _split_counts(
    n: int, n_val: int, n_test: int, want_val: bool, want_test: bool
) -> tuple[int, int]:
    """The validation and test counts of a class of ``n`` files whose hashes put ``n_val``
    in validation and ``n_test`` in test, bent as :func:`split_files` documents."""
    if n < 2 or not (want_val or want_test):
        return n_val, n_test
    if want_val:
        n_val = max(n_val, 1)
    if want_test:
        n_test = max(n_test, 1)
    while n_val + n_test > n - 1:  # keep a training file: shrink the larger held-out split
        if n_val > n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def _split_three_ways(
    files: Sequence[ImageFile], validation_split: float, test_split: float, seed: int
) -> tuple[list[ImageFile], list[ImageFile], list[ImageFile]]:
    """:func:`split_files` from checked fractions: ``(train, validation, test)``."""
    by_class: dict[str, list[tuple[float, ImageFile]]] = {}
    for f in files:
        by_class.setdefault(f.class_name, []).append((_unit_hash(seed, f.key), f))
    held_out = validation_split + test_split
    train: list[ImageFile] = []
    val: list[ImageFile] = []
    test: list[ImageFile] = []
    for members in by_class.values():
        # In hash order the class reads: validation, then test, then training files.
        members.sort(key=lambda item: (item[0], item[1].key))
        n_val = sum(1 for u, _ in members if u < validation_split)
        n_test = sum(1 for u, _ in members if validation_split <= u < held_out)
        n_val, n_test = _split_counts(
            len(members), n_val, n_test, validation_split > 0, test_split > 0
        )
        val.extend(f for _, f in members[:n_val])
        test.extend(f for _, f in members[n_val : n_val + n_test])
        train.extend(f for _, f in members[n_val + n_test :])
    for part in (train, val, test):
        part.sort(key=lambda f: f.key)
    return train, val, test


def _keras_split(
    report: DatasetReport, validation_split: float, seed: int
) -> tuple[list[ImageFile], list[ImageFile], list[Path]]:
    """Replicate Keras' file assignment; also return Keras-indexed files we do not use."""
    root = report.directory
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(report.class_names):
        for dirpath, _, filenames in sorted(os.walk(root / name), key=lambda x: x[0]):
            for fname in sorted(filenames):
                if fname.lower().endswith(_KERAS_FORMATS):
                    paths.append(Path(dirpath) / fname)
                    labels.append(label)
    # Keras shuffles its list of path strings with RandomState(seed); a permutation of a
    # list depends only on its length, so shuffling Paths gives the same order.
    rng = np.random.RandomState(seed)
    rng.shuffle(paths)  # type: ignore[arg-type]
    num_val = int(validation_split * len(paths))
    usable = {f.path: f for f in report.files}
    train_paths = paths[: len(paths) - num_val]
    val_paths = paths[len(paths) - num_val :]
    train = [usable[p] for p in train_paths if p in usable]
    val = [usable[p] for p in val_paths if p in usable]
    keras_set = set(paths)
    not_indexed = [f.path for f in report.files if f.path not in keras_set]
    return train, val, not_indexed


def _assign(
    report: DatasetReport,
    root: Path,
    validation_split: float,
    test_split: float,
    split: str,
    seed: int | None,
) -> tuple[list[ImageFile], list[ImageFile], list[ImageFile]]:
    """The report's usable files assigned to ``(train, validation, test)`` by the ``split``
    rule; errors name ``root`` as the user gave it."""
    test: list[ImageFile] = []
    if validation_split == 0 and test_split == 0:
        train, val = sorted(report.files, key=lambda f: f.key), list[ImageFile]()
    elif split == "keras":
        assert seed is not None
        train, val, not_indexed = _keras_split(report, validation_split, seed)
        if not_indexed:
            warnings.warn(
                f"split='keras' leaves out {len(not_indexed)} images with extensions Keras "
                f"does not index ({', '.join(str(p) for p in not_indexed[:3])}...); use "
                "split='stratified' to train on them.",
                BadFilesWarning,
                stacklevel=3,
            )
    else:
        assert seed is not None
        train, val, test = _split_three_ways(report.files, validation_split, test_split, seed)
    if not train:
        raise DatasetError(f"{str(root)!r}: the training split is empty; add more images.")
    if validation_split > 0 and not val:
        raise DatasetError(
            f"{str(root)!r}: validation_split={validation_split} leaves no validation images "
            f"for {len(report.files)} files; add images or use a larger validation_split."
        )
    if test_split > 0 and not test:
        raise DatasetError(
            f"{str(root)!r}: test_split={test_split} leaves no test images for "
            f"{len(report.files)} files; add images or use a larger test_split."
        )
    return train, val, test
