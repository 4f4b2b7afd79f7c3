"""Turn a folder of class sub-folders into train/validation(/test) ``tf.data`` pipelines.

Pipelines yield ``(images, labels)``: ``uint8`` images of shape ``(batch, h, w, 3)`` with
raw 0..255 pixels (models rescale inside) and ``int32`` class indices. Each file is
decoded once by :func:`flowerkit.images.load_image` and the decoded ``uint8`` examples are
cached (4x less memory than the tutorial's float32 cache); every epoch the *examples* are
put in a new order drawn from ``seed`` and the epoch number, then batched and prefetched.
(The tutorial's ``.cache().shuffle(1000)`` after ``image_dataset_from_directory`` batching
only reorders whole batches of 32: the same images always share a batch.)

Two split strategies:

``"stratified"`` (default)
    Each file goes to validation when a hash of ``seed`` and its path relative to the data
    folder falls below ``validation_split``. A file's split depends only on its own path and
    the seed: never on listing order, and adding or removing other files never moves it.
    The rule is applied within every class, so each class contributes its share of
    validation images (exact in expectation; a class of two or more files always has at
    least one file on each side). With ``test_split`` > 0 a file whose hash ``u`` falls in
    ``[validation_split, validation_split + test_split)`` goes to a third, test split
    (see :func:`split_files`); the validation files stay exactly those of
    ``test_split=0``.
``"keras"``
    Exactly the files that ``keras.utils.image_dataset_from_directory(directory,
    validation_split=..., seed=..., subset="both")`` puts in each split, for like-for-like
    comparisons with the TensorFlow tutorial. Keras has no test split, so this rule
    cannot make one (``test_split`` must be 0).
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from flowerkit.core import validation as v
from flowerkit.core.numeric import balanced_class_weights
from flowerkit.core.runtime import available_cores, tune_for_training
from flowerkit.data import _pipeline
from flowerkit.data._caching import MEMORY_SHARE as MEMORY_SHARE  # re-exported: it lived here
from flowerkit.data._caching import (
    CacheOption,
    check_cache_option,
    memory_budget,
    resolve_cache,
)
from flowerkit.data._pipeline import DecodedImages
from flowerkit.data.checking import DatasetReport, ImageFile, check_and_decode
from flowerkit.data.splitting import _assign, _check_split_fractions, split_files
from flowerkit.data.splitting import _unit_hash as _unit_hash  # re-exported: it lived here
from flowerkit.exceptions import BadFilesWarning, ConfigError, UnreadableImageError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "Datasets",
    "LabelledData",
    "image_dataset",
    "load_datasets",
    "split_files",
]

SplitName = Literal["stratified", "keras"]
SubsetName = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class Datasets:
    """The result of :func:`load_datasets`: the pipelines, their files and labels.

    Attributes:
        train: the training pipeline, shuffled every epoch.
        validation: the validation pipeline; it keeps the order of ``validation_files`` so
            predictions line up with paths. ``None`` when ``validation_split=0``.
        class_names: the classes, in label order.
        train_files: the training images, one per entry of ``train_labels``.
        train_labels: the class index of each training image.
        validation_files: the validation images, in the order ``validation`` yields them.
        validation_labels: the class index of each validation image.
        image_size: ``(height, width)`` the images are resized to.
        batch_size: images per batch.
        seed: the seed of the split and the per-epoch shuffle.
        split: the split rule, ``"stratified"`` or ``"keras"``.
        report: the :class:`~flowerkit.data.DatasetReport` of the check the files come
            from (``report.bad_files`` lists the unusable files left out).
        cache: where the decoded examples are kept, as resolved from the ``cache``
            argument: ``True`` (memory), a folder (a disk cache with ``train``,
            ``validation`` and ``test`` sub-folders) or ``False`` (decoded every epoch).
        test: the test pipeline, built like ``validation`` (it keeps the order of
            ``test_files``). ``None`` when ``test_split=0``.
        test_files: the test images, in the order ``test`` yields them.
        test_labels: the class index of each test image.

    Example:
        >>> from flowerkit.data import load_datasets
        >>> data = load_datasets("photos", image_size=32, batch_size=8, seed=42)
        >>> data.class_names, data.num_classes
        (('daisy', 'roses', 'tulips'), 3)
        >>> data.counts
        {'train': {'daisy': 10, 'roses': 10, 'tulips': 10},
         'validation': {'daisy': 2, 'roses': 2, 'tulips': 2}}
        >>> images, labels = next(iter(data.train))
        >>> print(images.shape, images.dtype.name, labels.dtype.name)
        (8, 32, 32, 3) uint8 int32
        >>> data.validation_files[0].relative_to(data.report.directory).as_posix()
        'daisy/...jpg'
        >>> data.class_weights()
        {0: 1.0, 1: 1.0, 2: 1.0}
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    class_names: tuple[str, ...]
    train_files: tuple[Path, ...]
    train_labels: tuple[int, ...]
    validation_files: tuple[Path, ...]
    validation_labels: tuple[int, ...]
    image_size: tuple[int, int]
    batch_size: int
    seed: int | None
    split: str
    report: DatasetReport | None = field(default=None, repr=False)
    cache: bool | Path = True
    test: tf.data.Dataset | None = None
    test_files: tuple[Path, ...] = ()
    test_labels: tuple[int, ...] = ()

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    def class_counts(self, subset: SubsetName = "train") -> dict[str, int]:
        """Images per class in one split.

        Args:
            subset: ``"train"``, ``"validation"`` or ``"test"`` (all zeros when that split
                is empty).

        Returns:
            ``{class: n}`` in class order.

        Raises:
            ~flowerkit.ConfigError: ``subset`` is not one of the three.
        """
        v.check_choice(subset, "subset", ("train", "validation", "test"))
        labels = {
            "train": self.train_labels,
            "validation": self.validation_labels,
            "test": self.test_labels,
        }[subset]
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=self.num_classes)
        return {name: int(n) for name, n in zip(self.class_names, counts, strict=True)}

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """``{"train": {class: n}, "validation": {class: n}}``, and ``"test"`` when the
        test split is not empty."""
        out = {"train": self.class_counts("train"), "validation": self.class_counts("validation")}
        if self.test_labels:
            out["test"] = self.class_counts("test")
        return out

    def class_weights(self) -> dict[int, float]:
        """Per-class loss weights that balance the training split.

        Each class's weight is ``n_samples / (n_classes * count)`` (what
        ``fit(class_weight="balanced")`` uses).
        """
        return balanced_class_weights(self.train_labels, self.num_classes)


def image_dataset(
    paths: Sequence[str | os.PathLike[str]],
    labels: Sequence[int] | None = None,
    *,
    image_size: tuple[int, int] | int = (180, 180),
    batch_size: int | None = 32,
    shuffle: bool = False,
    seed: int | None = None,
    cache: CacheOption = "auto",
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline over image files, decoded by :func:`~flowerkit.images.load_image`.

    Use it for files you list yourself; for a folder of class sub-folders
    :func:`load_datasets` is simpler, and checks every file first. Nothing is checked
    here: a file that cannot be read when the pipeline runs (it is broken, or changed
    after a check) becomes a blank image with a :class:`~flowerkit.BadFilesWarning`
    naming it, instead of stopping the epoch; the number of examples never changes.

    Args:
        paths: the image files, in the order the pipeline yields them (unless shuffled).
        labels: one class index per path, or ``None`` for a pipeline of images only.
        image_size: ``(height, width)`` the images are resized to, or one integer for
            both.
        batch_size: images per batch; ``None`` yields single examples.
        shuffle: put the examples in a new order every epoch, drawn from ``seed`` and the
            epoch number only, so a fresh pipeline with the same seed repeats the same
            sequence of orders.
        seed: the seed of the per-epoch orders.
        cache: ``"auto"`` keeps the decoded examples in memory after their first read
            when they take at most half the memory available (estimated before anything
            is decoded), else in a disk cache under flowerkit's cache folder when there is
            room on its disk, else nowhere, and says which in a
            :class:`~flowerkit.FlowerkitWarning`. ``True`` always keeps them in memory,
            ``False`` decodes every epoch, and a folder path keeps them in a
            memory-mapped file there (one per list of files and image size, so a changed
            folder never reads a stale cache).

    Returns:
        A pipeline of ``uint8`` image batches ``(batch, h, w, 3)``, with ``int32`` labels
        when ``labels`` is given.

    Raises:
        ~flowerkit.ConfigError: ``paths`` is empty, ``labels`` does not have
            one entry per path, or another argument is not a valid value.

    Example:
        >>> from flowerkit.data import image_dataset
        >>> paths = ["new_photos/new_daisy.jpg", "my_rose.jpg"]
        >>> for images, labels in image_dataset(paths, [0, 1], image_size=32, batch_size=2):
        ...     print(images.shape, images.dtype.name, labels.numpy().tolist())
        (2, 32, 32, 3) uint8 [0, 1]
        >>> image_dataset(["my_rose.jpg"], image_size=(32, 48), batch_size=None).element_spec
        TensorSpec(shape=(32, 48, 3), dtype=tf.uint8, name=None)
        >>> image_dataset(paths, [0])
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `labels` must have one entry per path: got 1 labels for 2 paths.
    """
    size = v.check_image_size(image_size)
    if batch_size is not None:
        v.check_positive_int(batch_size, "batch_size")
    seed = v.check_seed(seed)
    check_cache_option(cache)
    str_paths = [os.fspath(p) for p in paths]
    if not str_paths:
        raise ConfigError("`paths` is empty: a pipeline needs at least one image file.")
    if labels is not None and len(labels) != len(str_paths):
        raise ConfigError(
            f"`labels` must have one entry per path: got {len(labels)} labels for "
            f"{len(str_paths)} paths."
        )
    store = resolve_cache(cache, len(str_paths), size, stacklevel=2)
    return _pipeline.build(
        str_paths,
        labels,
        size=size,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        cache=store,
    )


def _handle_bad_files(report: DatasetReport, on_bad_file: str) -> None:
    if not report.bad_files:
        return
    if on_bad_file == "raise":
        first = report.bad_files[0]
        more = len(report.bad_files) - 1
        raise UnreadableImageError(
            f"{first.message}"
            + (f" ({more} more bad files; run `flowerkit check`.)" if more else "")
            + " Pass on_bad_file='skip' to train without them.",
            path=first.path,
            reason=first.reason,
        )
    warnings.warn(
        f"{report.directory}: {report.summary()}. Left out: "
        + ", ".join(str(b.path) for b in report.bad_files[:3])
        + (" ..." if len(report.bad_files) > 3 else "")
        + " (see Datasets.report.bad_files or run `flowerkit check`).",
        BadFilesWarning,
        stacklevel=3,
    )


def load_datasets(
    directory: str | os.PathLike[str],
    *,
    image_size: tuple[int, int] | int = (180, 180),
    batch_size: int = 32,
    validation_split: float = 0.2,
    test_split: float = 0.0,
    seed: int | None = 123,
    split: SplitName = "stratified",
    class_names: Sequence[str] | None = None,
    cache: CacheOption = "auto",
    on_bad_file: Literal["skip", "raise"] = "skip",
    follow_links: bool = False,
    check_cache: bool | str | os.PathLike[str] = True,
    report: DatasetReport | None = None,
) -> Datasets:
    """Check ``directory`` and return its train/validation(/test) pipelines as
    :class:`Datasets`.

    This is what :meth:`Classifier.fit <flowerkit.classifier.Classifier.fit>` takes. The
    pipelines yield ``(images, labels)`` batches of raw ``uint8`` pixels and ``int32``
    class indices; the split rules are in the module documentation.

    Every file is checked first (see :func:`~flowerkit.data.check_images`); unusable files
    are left out with one :class:`~flowerkit.BadFilesWarning`
    (``on_bad_file="skip"``) or raise :class:`~flowerkit.UnreadableImageError`
    (``on_bad_file="raise"``).

    Args:
        directory: holds one sub-folder per class (nested folders inside a class are
            included).
        image_size: ``(height, width)`` the images are resized to, or one integer for
            both.
        batch_size: images per batch.
        validation_split: the fraction held out for validation (0 for none): what early
            stopping, calibration and tuning look at.
        test_split: a further fraction held out for a final, untouched test figure (0 for
            none; ``split="stratified"`` only). A file goes to test when its hash ``u`` is
            in ``[validation_split, validation_split + test_split)``, so the validation
            files are the same with or without a test split (see :func:`split_files` for
            tiny classes).
        seed: makes the split and the per-epoch shuffle reproducible; it must be an
            integer when ``validation_split`` or ``test_split`` > 0.
        split: the assignment rule, ``"stratified"`` or ``"keras"`` (see the module docs).
        class_names: picks and orders a subset of the class folders (default: all,
            sorted).
        cache: as in :func:`image_dataset` (``"auto"``, ``True``, ``False`` or a
            folder), decided once for all splits from the number of usable files; a
            folder gets a ``train``, a ``validation`` and a ``test`` sub-folder. When the
            cache is in
            memory, the images the check decodes go straight into it, so each file is
            decoded once.
        on_bad_file: what unusable files do, ``"skip"`` or ``"raise"`` (see above).
        follow_links: whether links to folders inside a class are followed (see
            :func:`~flowerkit.data.check_images`).
        check_cache: the checker's per-file result cache (``True`` for flowerkit's cache
            folder, a folder path, or ``False`` to decode every file again).
        report: an existing check of ``directory``, to skip re-checking.

    Returns:
        The train, validation and test pipelines with their files, labels and the check's
        report.

    Raises:
        ~flowerkit.DatasetError: ``directory`` is not an existing folder; it has
            no images, a single class or an empty class; ``class_names`` names a folder
            that is not in it; or a split is left empty (a requested validation or test
            split included).
        ~flowerkit.UnreadableImageError: with ``on_bad_file="raise"``, the
            folder holds a file that cannot be used.
        ~flowerkit.ConfigError: an argument is not a valid value; ``validation_split +
            test_split`` >= 1; ``test_split`` > 0 with ``split="keras"``; or
            ``seed=None`` with ``validation_split`` or ``test_split`` > 0.

    Example:
        >>> from flowerkit.data import load_datasets
        >>> data = load_datasets(
        ...     "photos", image_size=32, batch_size=8, validation_split=0.2, test_split=0.1,
        ...     seed=42,
        ... )
        >>> len(data.train_files), len(data.validation_files), len(data.test_files)
        (26, 6, 4)
        >>> data.test.element_spec
        (TensorSpec(shape=(None, 32, 32, 3), dtype=tf.uint8, name=None),
         TensorSpec(shape=(None,), dtype=tf.int32, name=None))
        >>> load_datasets("photos", seed=None)
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `seed` must be an integer when `validation_split` > 0, ...
    """
    tune_for_training()
    options = _check_options(
        image_size=image_size,
        batch_size=batch_size,
        validation_split=validation_split,
        test_split=test_split,
        seed=seed,
        split=split,
        on_bad_file=on_bad_file,
        cache=cache,
        class_names=class_names,
    )
    root = v.check_directory(directory)
    decoded: DecodedImages | None = None
    if report is None:
        report, decoded = _check_folder(root, options, cache, follow_links, check_cache)
    report.raise_if_unusable()
    _handle_bad_files(report, on_bad_file)
    train, val, test = _assign(
        report, root, options.validation_split, options.test_split, options.split, options.seed
    )
    store = resolve_cache(cache, len(train) + len(val) + len(test), options.size, stacklevel=2)
    decoded = _memory_cache(store, decoded, [*train, *val, *test], options.size)
    pipeline = partial(_split_pipeline, options=options, decoded=decoded, store=store)
    return _datasets(report, options, store, pipeline, (train, val, test))


class _Options(NamedTuple):
    """:func:`load_datasets`' checked options that decide the split and the pipelines."""

    size: tuple[int, int]
    batch_size: int
    validation_split: float
    test_split: float
    seed: int | None
    split: str
    class_names: tuple[str, ...] | None


def _check_options(
    *,
    image_size: object,
    batch_size: object,
    validation_split: object,
    test_split: object,
    seed: object,
    split: object,
    on_bad_file: object,
    cache: object,
    class_names: Sequence[str] | None,
) -> _Options:
    """:func:`load_datasets`' options checked, in the order their errors are raised."""
    size = v.check_image_size(image_size)
    batch = v.check_positive_int(batch_size, "batch_size")
    validation_fraction, test_fraction = _check_split_fractions(validation_split, test_split)
    checked_seed = v.check_seed(seed)
    v.check_choice(split, "split", ("stratified", "keras"))
    if split == "keras" and test_fraction > 0:
        raise ConfigError(
            "split='keras' replicates Keras' two-way train/validation assignment, which has "
            "no test split: use split='stratified' for a test split. "
            f"Received: test_split={test_fraction!r}"
        )
    v.check_choice(on_bad_file, "on_bad_file", ("skip", "raise"))
    check_cache_option(cache)
    names = None if class_names is None else v.check_class_names(class_names)
    _check_seed_for_splits(validation_fraction, test_fraction, checked_seed)
    return _Options(
        size, batch, validation_fraction, test_fraction, checked_seed, str(split), names
    )


def _check_seed_for_splits(validation_split: float, test_split: float, seed: int | None) -> None:
    """A held-out split needs a seed, so that it is reproducible."""
    if validation_split > 0 and seed is None:
        raise ConfigError(
            "`seed` must be an integer when `validation_split` > 0, so that the split is "
            "reproducible and train/validation never overlap. Received: seed=None"
        )
    if test_split > 0 and seed is None:
        raise ConfigError(
            "`seed` must be an integer when `test_split` > 0, so that the split is "
            "reproducible and the test files never leak into training. Received: seed=None"
        )


def _check_folder(
    root: Path,
    options: _Options,
    cache: CacheOption,
    follow_links: bool,
    check_cache: bool | str | os.PathLike[str],
) -> tuple[DatasetReport, DecodedImages | None]:
    """Check ``root``; when the pipelines may keep their examples in memory, the images
    the check decodes are kept too (so each file is decoded once)."""
    return check_and_decode(
        root,
        class_names=options.class_names,
        follow_links=follow_links,
        cache=check_cache,
        image_size=options.size if cache in ("auto", True) else None,
        max_bytes=None if cache is True else memory_budget(),
    )


def _memory_cache(
    store: bool | Path,
    decoded: DecodedImages | None,
    files: Sequence[ImageFile],
    size: tuple[int, int],
) -> DecodedImages | None:
    """Every file of every split decoded in memory when ``store`` is memory, else ``None``
    (not kept: the memory the check's decoded images took goes back before training
    starts)."""
    if store is not True:
        return None
    paths = [os.fspath(f.path) for f in files]
    if decoded is None:  # the caller's report: nothing was decoded yet
        decoded = DecodedImages(paths, size)
    decoded.fill(paths, available_cores())
    return decoded


def _split_pipeline(
    files: Sequence[ImageFile],
    shuffle: bool,
    name: str,
    *,
    options: _Options,
    decoded: DecodedImages | None,
    store: bool | Path,
) -> tf.data.Dataset:
    """The pipeline of one split (``name``): from the decoded images in memory, else from
    the files (with a ``name`` sub-folder of a disk cache)."""
    paths = [os.fspath(f.path) for f in files]
    labels = [f.label for f in files]
    if decoded is not None:
        return _pipeline.build_in_memory(
            decoded,
            paths,
            labels,
            batch_size=options.batch_size,
            shuffle=shuffle,
            seed=secrets.randbits(31) if options.seed is None else options.seed,
        )
    return _pipeline.build(
        paths,
        labels,
        size=options.size,
        batch_size=options.batch_size,
        shuffle=shuffle,
        seed=options.seed,
        cache=store / name if isinstance(store, Path) else store,
    )


def _datasets(
    report: DatasetReport,
    options: _Options,
    store: bool | Path,
    pipeline: Callable[[list[ImageFile], bool, str], tf.data.Dataset],
    splits: tuple[list[ImageFile], list[ImageFile], list[ImageFile]],
) -> Datasets:
    """The :class:`Datasets` of the three splits, each split's pipeline built by
    ``pipeline(files, shuffle, name)``, in order: training, validation, test."""
    train, val, test = splits
    return Datasets(
        train=pipeline(train, True, "train"),
        validation=pipeline(val, False, "validation") if val else None,
        class_names=report.class_names,
        train_files=tuple(f.path for f in train),
        train_labels=tuple(f.label for f in train),
        validation_files=tuple(f.path for f in val),
        validation_labels=tuple(f.label for f in val),
        image_size=options.size,
        batch_size=options.batch_size,
        seed=options.seed,
        split=options.split,
        report=report,
        cache=store,
        test=pipeline(test, False, "test") if test else None,
        test_files=tuple(f.path for f in test),
        test_labels=tuple(f.label for f in test),
    )


#: What evaluation and calibration accept as labelled data (see
#: :func:`~flowerkit.data.labelled_batches`).
LabelledData = Datasets | str | os.PathLike[str] | Any
