"""Index a folder of class sub-folders and check every file before training.

``check_images`` walks ``directory/<class>/**``, decodes every candidate file with the same
:func:`flowerkit.images.load_image` the pipeline uses, and returns a
:class:`DatasetReport`: the files that will be used, the ones that will not (with a reason
code from :data:`flowerkit.images.REASONS`), the ones ignored on purpose (a code from
:data:`IGNORE_REASONS`), exact duplicates within and across classes, and class
imbalance. Nothing is skipped silently. Results are cached per file (see
``docs/checking.rst``), so checking an unchanged folder again decodes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

import flowerkit.data._report_text as _report_text
from flowerkit.core.runtime import available_cores
from flowerkit.core.validation import check_directory
from flowerkit.data._checkcache import CheckCache, stamp
from flowerkit.data._index import class_folders, index_folder
from flowerkit.data._pipeline import DecodedImages, chunked_map
from flowerkit.data._probe import Probe, probe_and_resize
from flowerkit.exceptions import ConfigError, DatasetError
from flowerkit.images.decode import IMAGE_EXTENSIONS, max_pixels

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "IGNORE_REASONS",
    "IMBALANCE_THRESHOLD",
    "SCHEMA_VERSION",
    "BadFile",
    "DatasetReport",
    "DuplicateGroup",
    "IgnoredFile",
    "ImageFile",
    "check_images",
    "format_report",
    "list_class_folders",
]

#: Version of the layout of :meth:`DatasetReport.to_dict` (and ``flowerkit check --json``).
SCHEMA_VERSION = 1

#: A class is flagged as imbalanced when largest / smallest class size exceeds this.
IMBALANCE_THRESHOLD = 3.0

#: Every ``IgnoredFile.reason`` code and what it means.
IGNORE_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "hidden_file": "a hidden file (its name starts with '.')",
        "apple_double": "a macOS '._*' metadata file",
        "system_file": "an operating-system file (.DS_Store, Thumbs.db, desktop.ini...)",
        "not_an_image_extension": "its extension is not an image extension",
        "outside_class_folder": "a file directly in the data folder, not in a class folder",
        "hidden_folder": "a hidden folder (its name starts with '.'); not searched",
        "system_folder": "an operating-system folder (__MACOSX, @eaDir...); not searched",
        "symlinked_folder": "a symbolic link to a folder; searched only with follow_links=True",
        "already_searched": "a folder reached a second time through a symbolic link",
        "class_not_selected": "a class folder not listed in class_names",
    }
)

CacheOption = bool | str | os.PathLike[str]


@dataclass(frozen=True)
class ImageFile:
    """A file that will be used: its path, class index and class name.

    :func:`check_images` makes one for every usable file, in
    :attr:`DatasetReport.files`; :func:`~flowerkit.data.split_files` splits them by
    ``key``.

    Attributes:
        path: the file.
        label: the index of its class.
        class_name: the name of its class.
        key: ``class/relative/path`` with forward slashes: the file's identity for
            splitting.
        width: width of the decoded image (after EXIF orientation), in pixels.
        height: height of the decoded image (after EXIF orientation), in pixels.
        sha256: sha256 of the file's bytes.
        pixel_sha256: sha256 of the decoded RGB pixels (equal for the same picture saved
            differently).

    Example:
        >>> from flowerkit.data import check_images
        >>> first = check_images("photos").files[0]
        >>> first.key, first.label, first.class_name
        ('daisy/daisy_00.jpg', 0, 'daisy')
        >>> first.width, first.height
        (64, 48)
        >>> first.path.is_absolute(), len(first.sha256)
        (True, 64)
    """

    path: Path
    label: int
    class_name: str
    key: str
    width: int = 0
    height: int = 0
    sha256: str = ""
    pixel_sha256: str = ""


@dataclass(frozen=True)
class BadFile:
    """A file that looked like an image but cannot be used, and why.

    A file "looks like an image" by its extension (:data:`flowerkit.images.IMAGE_EXTENSIONS`);
    it is a bad file when :func:`~flowerkit.images.load_image` refuses it, or when a folder
    inside a class folder cannot be listed (``"unreadable"``). Bad files are listed in
    :attr:`DatasetReport.bad_files` and left out of training.

    Attributes:
        path: the file.
        class_name: the class folder it is in, if any.
        reason: a code from :data:`flowerkit.images.REASONS`.
        message: names the file and says what to do.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.data import check_images
        >>> _ = Path("photos/roses/notes.jpg").write_text("picked in June")
        >>> bad = check_images("photos").bad_files[0]
        >>> bad.path.name, bad.class_name, bad.reason
        ('notes.jpg', 'roses', 'not_an_image')
        >>> print(bad.message)
        '.../photos/roses/notes.jpg' is not an image: its first bytes (b'picked in Ju')
        match no image format; delete it, or replace it with the real image.
    """

    path: Path
    class_name: str | None
    reason: str
    message: str


@dataclass(frozen=True)
class IgnoredFile:
    """A file or folder left out on purpose.

    Unlike a :class:`BadFile`, an ignored entry is not a problem: system files, hidden
    files, files without an image extension and the like (every code is in
    :data:`IGNORE_REASONS`). They are listed in :attr:`DatasetReport.ignored`.

    Attributes:
        path: the file or folder.
        reason: a code from :data:`IGNORE_REASONS`.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.data import check_images
        >>> _ = Path("photos/.DS_Store").write_bytes(b"")
        >>> _ = Path("photos/roses/README.txt").write_text("picked in June")
        >>> for item in check_images("photos").ignored:
        ...     print(item.path.name, item.reason)
        .DS_Store system_file
        README.txt not_an_image_extension
    """

    path: Path
    reason: str


@dataclass(frozen=True)
class DuplicateGroup:
    """Usable files that hold the same picture: the same decoded pixels.

    All of them are kept for training; deleting the extras (or, for a label conflict, the
    wrongly labelled copy) is the user's call. The groups are in
    :attr:`DatasetReport.duplicates`, sorted by the key of their first file.

    Attributes:
        files: the copies, sorted by key.
        same_bytes: true when the files are byte-for-byte identical too.

    Example:
        >>> import shutil
        >>> from flowerkit.data import check_images
        >>> _ = shutil.copy("photos/daisy/daisy_00.jpg", "photos/roses/copy.jpg")
        >>> group = check_images("photos").duplicates[0]
        >>> [f.key for f in group.files]
        ['daisy/daisy_00.jpg', 'roses/copy.jpg']
        >>> group.same_bytes, group.class_names, group.label_conflict
        (True, ('daisy', 'roses'), True)
    """

    files: tuple[ImageFile, ...]
    same_bytes: bool

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes the copies are in, sorted."""
        return tuple(sorted({f.class_name for f in self.files}))

    @property
    def label_conflict(self) -> bool:
        """True when the same picture is filed under more than one class."""
        return len(self.class_names) > 1

    @property
    def paths(self) -> tuple[Path, ...]:
        """The paths of the copies, sorted by key."""
        return tuple(f.path for f in self.files)


@dataclass(frozen=True)
class DatasetReport:
    """What :func:`check_images` found in a folder.

    Its properties and methods sum it up: :attr:`counts` per class, :meth:`problems`
    (reasons the folder cannot be trained on), :meth:`notes` (things worth fixing that do
    not stop training), :meth:`summary`, :meth:`to_text` (what ``flowerkit check``
    prints) and :meth:`to_dict` / :meth:`to_json` (``flowerkit check --json``).

    Attributes:
        directory: the data folder, absolute.
        class_names: the classes checked, in label order.
        files: the files that will be used.
        bad_files: the files that looked like images but cannot be used.
        ignored: the files and folders left out on purpose.
        duplicates: groups of usable files that hold the same picture.

    Example:
        >>> from flowerkit.data import check_images
        >>> report = check_images("photos")
        >>> report.class_names
        ('daisy', 'roses', 'tulips')
        >>> report.counts
        {'daisy': 12, 'roses': 12, 'tulips': 12}
        >>> report.usable, report.bad_files, report.duplicates
        (True, (), ())
        >>> report.summary()
        '36 images in 3 classes'
        >>> report.to_dict()["schema_version"]
        1
    """

    directory: Path
    class_names: tuple[str, ...]
    files: tuple[ImageFile, ...]
    bad_files: tuple[BadFile, ...] = ()
    ignored: tuple[IgnoredFile, ...] = ()
    duplicates: tuple[DuplicateGroup, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Usable files per class, in class order."""
        result = dict.fromkeys(self.class_names, 0)
        for f in self.files:
            result[f.class_name] += 1
        return result

    @property
    def empty_classes(self) -> tuple[str, ...]:
        """Class folders with no usable image (an empty folder or only bad files)."""
        return tuple(name for name, n in self.counts.items() if n == 0)

    @property
    def label_conflicts(self) -> tuple[DuplicateGroup, ...]:
        """Duplicate groups whose copies are in different classes."""
        return tuple(g for g in self.duplicates if g.label_conflict)

    @property
    def imbalance_ratio(self) -> float | None:
        """Largest class size / smallest class size; ``None`` with an empty class or < 2 classes."""
        sizes = list(self.counts.values())
        if len(sizes) < 2 or min(sizes) == 0:
            return None
        return max(sizes) / min(sizes)

    @property
    def is_imbalanced(self) -> bool:
        """True when :attr:`imbalance_ratio` exceeds :data:`IMBALANCE_THRESHOLD`."""
        ratio = self.imbalance_ratio
        return ratio is not None and ratio > IMBALANCE_THRESHOLD

    def problems(self) -> list[str]:
        """Reasons the data cannot be trained on; empty when it can."""
        out: list[str] = []
        where = str(self.directory)
        if not self.class_names:
            out.append(
                f"{where!r} has no class sub-folders: put each class's images in its own "
                "sub-folder, e.g. photos/daisy/*.jpg and photos/roses/*.jpg."
            )
        elif len(self.class_names) == 1:
            out.append(
                f"{where!r} has only one class folder ({self.class_names[0]!r}); a classifier "
                "needs at least two. Add another class sub-folder."
            )
        elif not self.files:
            out.append(
                f"{where!r} has class folders but no usable images in them; image files are "
                f"recognised by their extension ({', '.join(sorted(IMAGE_EXTENSIONS))}). "
                "Run `flowerkit check` to see what was found."
            )
        for name in self.empty_classes if len(self.class_names) > 1 and self.files else ():
            out.append(
                f"The class folder {str(self.directory / name)!r} has no usable images: "
                "add images to it or remove the folder."
            )
        return out

    def notes(self) -> list[str]:
        """Things worth fixing that do not stop training: left-out files, duplicates, imbalance."""
        return _report_text.notes(self)

    @property
    def usable(self) -> bool:
        """True when :meth:`problems` is empty."""
        return not self.problems()

    def raise_if_unusable(self) -> None:
        """Raise an error when the data cannot be trained on.

        Raises:
            ~flowerkit.DatasetError: listing :meth:`problems`, when there are
                any.
        """
        problems = self.problems()
        if problems:
            raise DatasetError(" ".join(problems))

    def summary(self) -> str:
        """One line: how many files are used, left out, ignored and duplicated."""
        return _report_text.summary(self)

    def to_text(self, verbose: bool = False) -> str:
        """A human-readable report over several lines (``flowerkit check DIR``).

        Args:
            verbose: list every entry; otherwise lists are cut to their first entries.
        """
        return _report_text.render(self, verbose=verbose)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data; the layout is versioned by ``"schema_version"``."""
        return _report_text.to_dict(self, SCHEMA_VERSION, IMBALANCE_THRESHOLD)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)


def format_report(report: DatasetReport, verbose: bool = False) -> str:
    """The text ``flowerkit check`` prints for ``report``; the same as
    ``report.to_text(verbose)``.

    Args:
        report: a report from :func:`check_images`.
        verbose: list every entry; otherwise long lists are cut to their first entries
            and the ignored files are only counted (``flowerkit check --verbose``).

    Returns:
        The report over several lines: the summary, the classes with their counts and
        balance, the files left out and why, ignored files, duplicates and notes.

    Example:
        >>> from flowerkit.data import check_images, format_report
        >>> print(format_report(check_images("photos")))
        Checked .../photos
          36 images in 3 classes
        <BLANKLINE>
        Classes (3):
          daisy        12
          roses        12
          tulips       12
          largest/smallest = 1.00 (balanced enough)
        <BLANKLINE>
        Usable for training: 36 images.
    """
    return report.to_text(verbose=verbose)


def list_class_folders(directory: str | os.PathLike[str]) -> list[str]:
    """Class folder names in ``directory``, sorted.

    The class folders are its sub-folders that are not hidden or system folders (such as
    ``__MACOSX``); a symbolic link to a folder counts. Nothing is decoded: this is the
    list :func:`check_images` checks when ``class_names`` is not given.

    Args:
        directory: the data folder.

    Returns:
        The names of its class folders, sorted.

    Raises:
        ~flowerkit.ConfigError: ``directory`` is not a path.
        ~flowerkit.DatasetError: ``directory`` does not exist or is a file.

    Example:
        >>> from pathlib import Path
        >>> from flowerkit.data import list_class_folders
        >>> Path("photos/__MACOSX").mkdir()
        >>> Path("photos/.thumbnails").mkdir()
        >>> list_class_folders("photos")
        ['daisy', 'roses', 'tulips']
    """
    return class_folders(check_directory(directory))


def _probe_all(
    paths: Sequence[Path],
    workers: int,
    pool: Literal["thread", "process"] = "thread",
    progress: Callable[[int, int], None] | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[tuple[Probe, NDArray[np.uint8] | None]]:
    """Probe ``paths`` on ``workers`` threads (Pillow decodes without the GIL) or processes,
    each result with the image resized to ``size`` (``None``: no image), in order.

    Results are yielded as they come in (so their images need not all be held at once),
    and ``progress(done, total)`` is called for each.
    """
    total = len(paths)
    work = partial(probe_and_resize, size=size)
    executor: Executor
    if workers <= 1 or total <= 1:
        results: Iterator[tuple[Probe, NDArray[np.uint8] | None]] = map(work, paths)
        for done, result in enumerate(results, start=1):
            yield result
            if progress is not None:
                progress(done, total)
        return
    if pool == "process":
        executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        results = executor.map(work, paths, chunksize=32)
    else:
        executor = ThreadPoolExecutor(workers, thread_name_prefix="flowerkit-check")
        results = chunked_map(executor, work, paths)
    with executor:
        for done, result in enumerate(results, start=1):
            yield result
            if progress is not None:
                progress(done, total)


def _duplicates(files: Sequence[ImageFile]) -> tuple[DuplicateGroup, ...]:
    groups: dict[str, list[ImageFile]] = {}
    for f in files:
        if f.pixel_sha256:
            groups.setdefault(f.pixel_sha256, []).append(f)
    found = [
        DuplicateGroup(
            tuple(sorted(members, key=lambda f: f.key)), len({m.sha256 for m in members}) == 1
        )
        for members in groups.values()
        if len(members) > 1
    ]
    return tuple(sorted(found, key=lambda g: g.files[0].key))


def _check_options(workers: int | None, cache: object) -> int:
    if not isinstance(cache, bool | str | os.PathLike):
        raise ConfigError(
            f"`cache` must be True, False or a folder path. Received: cache={cache!r}"
        )
    if workers is None:
        return available_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(
            f"`workers` must be None or an integer >= 1. Received: workers={workers!r}"
        )
    return workers


def check_images(
    directory: str | os.PathLike[str],
    *,
    class_names: Sequence[str] | None = None,
    follow_links: bool = False,
    workers: int | None = None,
    cache: CacheOption = True,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetReport:
    """Index ``directory`` and decode every image in it; return a :class:`DatasetReport`.

    Paths in the report are absolute.

    Args:
        directory: holds one sub-folder per class; images in nested folders count for
            their class.
        class_names: picks and orders a subset of the class folders (default: all,
            sorted).
        follow_links: whether links to folders inside a class are followed. Symbolic links
            to files are always followed.
        workers: decoding runs on ``workers`` threads (default: one per available core).
        cache: with ``True`` each file's result is kept in the user's cache folder
            (``$FLOWERKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowerkit`` or
            ``~/.cache/flowerkit``) and reused while the file is unchanged; may also be a
            folder to keep it in, or ``False``.
        progress: called as ``progress(done, total)`` as files not found in the cache are
            decoded.

    Returns:
        What was found (the files to use, the ones left out and why, duplicates).

    Raises:
        ~flowerkit.ConfigError: ``directory``, ``workers`` or ``cache`` is not
            a valid value, or ``$FLOWERKIT_MAX_PIXELS`` is set to something other than a
            positive whole number.
        ~flowerkit.DatasetError: ``directory`` is not an existing folder or
            cannot be listed, or ``class_names`` names a folder that is not in it.

    Example:
        >>> from flowerkit.data import check_images
        >>> report = check_images("photos", workers=1)
        >>> print(report.summary())
        36 images in 3 classes
        >>> check_images("photos", class_names=["roses", "daisy"]).counts
        {'roses': 12, 'daisy': 12}
        >>> check_images("no_such_folder")
        Traceback (most recent call last):
            ...
        flowerkit.DatasetError: The folder 'no_such_folder' does not exist. ...
    """
    return check_and_decode(
        directory,
        class_names=class_names,
        follow_links=follow_links,
        workers=workers,
        cache=cache,
        progress=progress,
    )[0]


def check_and_decode(
    directory: str | os.PathLike[str],
    *,
    class_names: Sequence[str] | None = None,
    follow_links: bool = False,
    workers: int | None = None,
    cache: CacheOption = True,
    progress: Callable[[int, int], None] | None = None,
    image_size: tuple[int, int] | None = None,
    max_bytes: int | None = None,
) -> tuple[DatasetReport, DecodedImages | None]:
    """:func:`check_images`, and the files it decoded, resized to ``image_size``.

    The second item holds one row per candidate file; the row of each usable file the
    check had to decode (not found in its cache) is filled with the image
    :func:`~flowerkit.images.load_image` gives at ``image_size``, from the check's own
    decode: the cache :func:`~flowerkit.data.load_datasets` trains from, so that a file
    is decoded once. It is ``None`` when ``image_size`` is ``None``, or when the images
    of all the candidate files would take more than ``max_bytes``.
    """
    n_workers = _check_options(workers, cache)
    max_pixels()  # a bad FLOWERKIT_MAX_PIXELS is a ConfigError, not a decode_error per file
    root = check_directory(directory).absolute()
    _check_selected(root, class_names)
    try:
        index = index_folder(root, class_names, follow_links)
    except OSError as exc:
        raise DatasetError(
            f"The folder {str(root)!r} could not be listed ({exc.strerror or exc}); check "
            "its permissions."
        ) from exc
    paths = [c.path for c in index.candidates]
    need = len(paths) * image_size[0] * image_size[1] * 3 if image_size is not None else 0
    if max_bytes is not None and need > max_bytes:
        image_size = None
    results, decoded = _cached_probes(
        paths, root, index.class_names, cache, n_workers, progress, image_size
    )
    files, bad = _sort_results(index.candidates, results)
    unlisted = [
        BadFile(
            u.path,
            u.class_name,
            "unreadable",
            f"{str(u.path)!r} could not be listed ({u.error}); check its permissions.",
        )
        for u in index.unlisted
    ]
    ignored = tuple(IgnoredFile(s.path, s.reason) for s in index.ignored)
    report = DatasetReport(
        root, index.class_names, tuple(files), (*unlisted, *bad), ignored, _duplicates(files)
    )
    return report, decoded


def _check_selected(root: Path, class_names: Sequence[str] | None) -> None:
    """Raise :class:`~flowerkit.DatasetError` for a class folder not in ``root``."""
    if class_names is not None:
        found = class_folders(root)
        missing = [c for c in class_names if c not in found]
        if missing:
            raise DatasetError(
                f"`class_names` names folders that are not in {str(root)!r}: {missing}. "
                f"The class folders there are {found}."
            )


def _cached_probes(
    paths: Sequence[Path],
    root: Path,
    class_names: Sequence[str],
    cache: CacheOption,
    workers: int,
    progress: Callable[[int, int], None] | None,
    size: tuple[int, int] | None,
) -> tuple[list[Probe], DecodedImages | None]:
    """The check result of each of ``paths``: cached while a file is unchanged, else probed;
    and the images the probes decoded, resized to ``size`` (``None`` when ``size`` is).

    Fresh results are written to the cache of ``root``, and entries of files no longer in
    the ``class_names`` folders are dropped from it.
    """
    store = CheckCache.open(cache, root)
    stamps = [stamp(p) for p in paths]
    cached = [store.get(p, s) for p, s in zip(paths, stamps, strict=True)]
    todo = [i for i, r in enumerate(cached) if r is None]
    fresh = _probe_all([paths[i] for i in todo], workers, progress=progress, size=size)
    probed: dict[int, Probe] = {}
    decoded = None if size is None else DecodedImages([os.fspath(p) for p in paths], size)
    for i, (result, image) in zip(todo, fresh, strict=True):
        probed[i] = result
        store.put(paths[i], stamps[i], result)
        if image is not None and decoded is not None:
            decoded.put(os.fspath(paths[i]), image)
    if decoded is not None:
        decoded.flush()
    store.save(paths, (root / n for n in class_names))
    return [probed[i] if r is None else r for i, r in enumerate(cached)], decoded


def _sort_results(
    candidates: Sequence[tuple[Path, int, str, str]], results: Sequence[Probe]
) -> tuple[list[ImageFile], list[BadFile]]:
    """Split the candidates, ``(path, label, class name, key)`` each, into used and bad."""
    files: list[ImageFile] = []
    bad: list[BadFile] = []
    for (path, label, class_name, key), r in zip(candidates, results, strict=True):
        if r.reason is None:
            files.append(
                ImageFile(path, label, class_name, key, r.width, r.height, r.sha256, r.pixel_sha256)
            )
        else:
            bad.append(BadFile(path, class_name, r.reason, r.message))
    return files, bad
