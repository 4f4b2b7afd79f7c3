"""A plan of moves: its records, checking it against the data folder, writing and reading it.

A **plan** is a CSV file a person can read and edit, one row per file to move::

    file,action,to,sha256,reason
    roses/123.jpg,relabel,tulips,9f86d081...,"label issue: given roses, suggested tulips"
    daisy/456.jpg,quarantine,,2c26b46b...,outlier (score 0.88)

``file`` is relative to the data folder, with ``/`` between its parts. ``action`` is
``relabel`` (move the file into the class folder ``to``, keeping its name) or
``quarantine`` (set it aside in the quarantine folder, outside the data folder, under its
class: ``<quarantine>/roses/123.jpg``; by default the quarantine is the folder
``<data folder>.quarantine`` next to the data folder). ``sha256`` is the digest of the
file's bytes when the plan was written, so a file changed since is refused; a row a person
adds may leave it empty, and the file is then taken as it is. ``reason`` is for people;
other columns are ignored.

:func:`check_plan` checks every move against the data folder and refuses the plan whole
(:class:`~flowerkit.PlanError`, every problem with its line); :func:`write_plan` and
:func:`read_plan` check it the same way. Applying a plan, its log, and undoing it live in
:mod:`flowerkit.auditing.moves`.

Pure Python: importing this module imports neither TensorFlow nor NumPy.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from flowerkit.exceptions import PlanError

__all__ = [
    "ACTIONS",
    "PLAN_COLUMNS",
    "QUARANTINE_SUFFIX",
    "Action",
    "FileMove",
    "Move",
    "check_plan",
    "default_quarantine",
    "read_plan",
    "write_plan",
]

Action = Literal["relabel", "quarantine"]
#: The actions a plan's row may take.
ACTIONS: tuple[Action, ...] = ("relabel", "quarantine")
_ACTION_OF: dict[str, Action] = {action: action for action in ACTIONS}
#: The columns of a plan, in the order :func:`write_plan` writes them.
PLAN_COLUMNS: tuple[str, ...] = ("file", "action", "to", "sha256", "reason")
#: The default quarantine is the data folder's name plus this, next to it.
QUARANTINE_SUFFIX = ".quarantine"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RETRY = "Fix these rows, or run flowerkit audit again and write a new plan (--write-plan)."
_READ_ONLY = (
    "is read-only, so no file can be moved into or out of it: copy the data folder "
    "somewhere writable and audit the copy, or run flowerkit audit without --write-plan"
)

PathArg = str | os.PathLike[str]


# --------------------------------------------------------------------------- the records


@dataclass(frozen=True)
class Move:
    """One row of a plan: what to do with one file of the data folder.

    Args:
        file: The file, relative to the data folder, with ``/`` between its parts
            (``"roses/123.jpg"``).
        action: ``"relabel"`` (move it into the class folder ``to``) or ``"quarantine"``
            (set it aside in the quarantine folder, under its class).
        to: The class folder to move it into, for ``relabel``; ``""`` for ``quarantine``.
        sha256: The SHA-256 of the file's bytes when the plan was written; ``""`` lets
            :func:`write_plan` compute it.
        reason: Why, for the person who reads the plan
            (``"label issue: given roses, suggested tulips (score 0.93)"``).

    >>> Move("roses/roses_00.jpg", "relabel", to="tulips", reason="label issue").to
    'tulips'
    """

    file: str
    action: Action
    to: str = ""
    sha256: str = ""
    reason: str = ""


@dataclass(frozen=True)
class FileMove:
    """One file's move on disk, from ``source`` to ``target`` (absolute paths).

    Args:
        source: Where the file is before the move (and after an undo).
        target: Where the move puts it.
        sha256: The SHA-256 of the file's bytes, checked again before an undo moves it.

    >>> FileMove(Path("/data/roses/1.jpg"), Path("/data/tulips/1.jpg"), "").target.name
    '1.jpg'
    """

    source: Path
    target: Path
    sha256: str


def _show(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else in full."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def default_quarantine(root: PathArg) -> Path:
    """The quarantine folder used when none is given: ``<root>.quarantine``, next to ``root``.

    Args:
        root: The data folder.

    Returns:
        The absolute path of the folder (which may not exist yet).

    >>> default_quarantine("photos").name
    'photos.quarantine'
    """
    folder = Path(root).resolve()
    return folder.parent / f"{folder.name}{QUARANTINE_SUFFIX}"


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class _Row:
    """One row of a plan as read, before it is known to be a valid :class:`Move`."""

    line: int
    file: str
    action: str
    to: str
    sha256: str
    reason: str

    @property
    def key(self) -> str:
        return PurePosixPath(self.file).as_posix()


@dataclass(frozen=True)
class _Places:
    """The data folder and the quarantine folder, absolute."""

    root: Path
    quarantine: Path

    @classmethod
    def of(cls, root: PathArg, quarantine: PathArg | None) -> _Places:
        folder = Path(root).resolve()
        if not folder.is_dir():
            problem = f"the data folder {folder} does not exist (or is not a folder)"
            raise PlanError(f"Nothing was moved: {problem}.", problems=[problem])
        aside = default_quarantine(folder) if quarantine is None else Path(quarantine).resolve()
        return cls(folder, aside)

    def inside(self, path: Path) -> bool:
        return path.is_relative_to(self.root)

    def target(self, row: _Row) -> Path:
        parts = PurePosixPath(row.file).parts
        if row.action == "relabel":
            return self.root / row.to / parts[-1]
        return self.quarantine.joinpath(*parts)


@dataclass(frozen=True)
class _Checked:
    """A row with its problems, its file's digest and its target (when they are known)."""

    row: _Row
    problems: tuple[str, ...]
    digest: str | None = None
    source: Path | None = None
    target: Path | None = None

    def file_move(self) -> FileMove:
        assert self.source is not None and self.target is not None and self.digest is not None
        return FileMove(self.source, self.target, self.digest)

    def move(self, *, fill: bool = False) -> Move:
        """The row as a :class:`Move`; ``fill`` puts the file's digest in an empty sha256."""
        row = self.row
        sha256 = row.sha256 or ((self.digest or "") if fill else "")
        return Move(row.key, _ACTION_OF[row.action], row.to, sha256, row.reason)


def _digest(path: Path) -> str | None:
    """The SHA-256 of the file at ``path``, or ``None`` when it cannot be read."""
    try:
        with path.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError:
        return None


def _path_problem(row: _Row, places: _Places) -> str | None:
    """What is wrong with ``row.file`` as a path, before looking at the disk."""
    file = row.file
    if not file:
        return "no file given"
    if file.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", file) or Path(file).is_absolute():
        return f"{file} is an absolute path: give it relative to the data folder {places.root}"
    parts = PurePosixPath(file).parts
    if ".." in parts:
        return f"{file} leads outside the data folder {places.root}"
    if len(parts) < 2:
        return f"{file} is not in a class folder of {places.root}"
    return None


def _action_problem(row: _Row, places: _Places) -> str | None:
    """What is wrong with ``row.action`` and ``row.to``."""
    if row.action not in ACTIONS:
        return f"unknown action {row.action!r} (use relabel or quarantine)"
    if row.action == "quarantine":
        if row.to:
            return f"quarantine takes no class in 'to' (found {row.to!r}): leave it empty"
        return None
    if not row.to:
        return "relabel needs the class folder to move the file into, in 'to'"
    if row.to in (".", "..") or row.to.startswith(".") or any(c in row.to for c in "/\\"):
        return f"'to' must name a class folder of {places.root}, not {row.to!r}"
    if not (places.root / row.to).is_dir():
        return (
            f"class folder {row.to} is missing from {places.root} (create it first to add a class)"
        )
    return None


def _sha_problem(row: _Row) -> str | None:
    if row.sha256 and not _SHA256.fullmatch(row.sha256):
        return f"sha256 {row.sha256!r} is not a SHA-256 digest (64 hexadecimal digits)"
    return None


def _source_problem(row: _Row, source: Path, digest: str | None, root: Path) -> str | None:
    """What is wrong with the file the row moves."""
    if digest is not None:
        if _SHA256.fullmatch(row.sha256) and row.sha256 != digest:
            return f"{row.key} changed since the plan was written (sha256 differs)"
        return None
    if source.is_dir():
        return f"{row.key} is a folder, not a file"
    if source.is_file():
        return f"{row.key} cannot be read"
    return f"{row.key} is not in {root}"


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest parent that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _target_problem(row: _Row, source: Path, target: Path, places: _Places) -> str | None:
    """What keeps the file from being renamed to ``target``."""
    if target == source:
        return f"{row.key} is in {row.to} already"
    if os.path.lexists(target):
        return (
            f"{_show(target, places.root)} already exists: flowerkit never overwrites a file "
            "(rename one of the two first)"
        )
    if source.stat().st_dev != _existing_ancestor(target.parent).stat().st_dev:
        return (
            f"{row.key} cannot be renamed into {target.parent} (another drive): flowerkit "
            f"moves files by renaming them; choose a quarantine folder on the drive of "
            f"{places.root}"
        )
    return None


def _inspect(row: _Row, places: _Places) -> _Checked:
    """One row checked on its own."""
    path_problem = _path_problem(row, places)
    action_problem = _action_problem(row, places)
    problems = [p for p in (path_problem, action_problem, _sha_problem(row)) if p]
    if path_problem is not None:
        return _Checked(row, tuple(problems))
    source = places.root / row.key
    digest = _digest(source)
    problems += [p for p in [_source_problem(row, source, digest, places.root)] if p]
    target = None if action_problem else places.target(row)
    if target is not None and digest is not None:
        problems += [p for p in [_target_problem(row, source, target, places)] if p]
    return _Checked(row, tuple(problems), digest, source, target)


def _cross_problems(checked: Sequence[_Checked], places: _Places) -> list[tuple[int, str]]:
    """Rows that list the same file, or move two files to one place."""
    found: list[tuple[int, str]] = []
    files: dict[object, int] = {}
    targets: dict[Path, int] = {}
    for item in checked:
        row = item.row
        if item.source is None:
            continue
        key: object = row.key
        with suppress(OSError):
            stat = item.source.stat()
            key = (stat.st_dev, stat.st_ino)  # one file under two spellings is one file
        if key in files:
            found.append((row.line, f"{row.key} is listed twice (first on line {files[key]})"))
            continue
        files[key] = row.line
        if item.target is not None:
            if item.target in targets:
                where = _show(item.target, places.root)
                found.append(
                    (row.line, f"{row.key} would move to {where}, as line {targets[item.target]}")
                )
            targets.setdefault(item.target, row.line)
    return found


def _folder_problems(
    checked: Sequence[_Checked], places: _Places, extra: Iterable[Path]
) -> list[str]:
    """Folders a move changes that this process may not write to."""
    folders = [places.root, *extra]
    for item in checked:
        if item.source is not None and item.digest is not None:
            folders.append(item.source.parent)
        if item.target is not None:
            folders.append(_existing_ancestor(item.target.parent))
    return [
        f"{folder} {_READ_ONLY}"
        for folder in dict.fromkeys(folders)
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK)
    ]


def _validate(
    rows: Sequence[_Row], places: _Places, extra: Iterable[Path] = ()
) -> tuple[list[str], list[_Checked]]:
    """Every problem of a plan's rows, in line order, then those of its folders."""
    checked = [_inspect(row, places) for row in rows]
    found = [(item.row.line, problem) for item in checked for problem in item.problems]
    found += _cross_problems(checked, places)
    problems = [f"line {line}: {text}" for line, text in sorted(found, key=lambda f: f[0])]
    if places.inside(places.quarantine):
        problems.append(
            f"the quarantine folder {places.quarantine} is inside the data folder "
            f"{places.root}, where it would be read as a class: choose a folder outside it"
        )
    return problems + _folder_problems(checked, places, extra), checked


def _refuse(head: str, problems: Sequence[str], hint: str) -> PlanError:
    listed = "\n".join(f"  {problem}" for problem in problems)
    return PlanError(f"{head}:\n{listed}\n{hint}", problems=problems)


def _rows_of(moves: Sequence[Move]) -> list[_Row]:
    """Moves as the rows of the plan :func:`write_plan` writes (line 1 is the header)."""
    return [
        _Row(i + 2, m.file, str(m.action), m.to, m.sha256.lower(), m.reason)
        for i, m in enumerate(moves)
    ]


def check_plan(
    moves: Sequence[Move], root: PathArg, *, quarantine: PathArg | None = None
) -> list[FileMove]:
    """Check every move of a plan against the data folder, and refuse it whole if one fails.

    Each move is checked for a file that is not in ``root`` (or a path that leads outside
    it, or is absolute), an unknown action, a class folder that does not exist, a file
    changed since its ``sha256`` was taken, a target that already exists, a file listed
    twice or two files moved to one place, and a folder that cannot be written to.

    Args:
        moves: The plan's rows; problems name them by their line in the plan
            :func:`write_plan` writes (the first move is line 2).
        root: The data folder.
        quarantine: The quarantine folder; ``None`` for :func:`default_quarantine`.

    Returns:
        The move on disk of each row, in order.

    Raises:
        ~flowerkit.PlanError: At least one problem: the message lists them all.

    >>> from flowerkit.auditing.plans import check_plan
    >>> [f.target.parent.name for f in check_plan([Move("roses/roses_00.jpg", "relabel",
    ...     to="tulips")], "photos")]
    ['tulips']
    """
    places = _Places.of(root, quarantine)
    problems, checked = _validate(_rows_of(moves), places)
    if problems:
        raise _refuse("The plan was refused, nothing was moved", problems, _RETRY)
    return [item.file_move() for item in checked]


# --------------------------------------------------------------------------- plan files


def write_plan(
    moves: Sequence[Move], plan_path: PathArg, root: PathArg, *, quarantine: PathArg | None = None
) -> Path:
    """Write a plan of moves to a CSV file a person can edit, after checking it.

    The plan is checked as :func:`check_plan` does, so a read-only folder is refused now,
    not when the plan is applied; a move's empty ``sha256`` is filled with the digest of
    the file's bytes.

    Args:
        moves: The moves, in the order to write them.
        plan_path: The CSV file to write (replaced if it exists); outside ``root``.
        root: The data folder.
        quarantine: The quarantine folder the plan will be applied with; ``None`` for
            :func:`default_quarantine`.

    Returns:
        The plan's absolute path.

    Raises:
        ~flowerkit.PlanError: A move cannot be made (every problem is listed), a folder is
            read-only, or ``plan_path`` is inside the data folder. Nothing is written.

    >>> from flowerkit.auditing.plans import write_plan
    >>> plan = write_plan([Move("roses/roses_00.jpg", "relabel", to="tulips")], "plan.csv",
    ...     "photos")
    >>> plan.read_text().splitlines()[0]
    'file,action,to,sha256,reason'
    """
    plan = Path(plan_path).resolve()
    places = _Places.of(root, quarantine)
    problems, checked = _validate(_rows_of(moves), places)
    if places.inside(plan):
        problems.append(
            f"the plan {plan} is inside the data folder {places.root}: write it outside, "
            "where it cannot be taken for a photo or a class"
        )
    elif not plan.parent.is_dir():
        problems.append(f"the folder of the plan, {plan.parent}, does not exist")
    if problems:
        hint = "Fix the moves, or run flowerkit audit again."
        raise _refuse(f"The plan {plan.name} was not written", problems, hint)
    _write_csv(plan, [item.move(fill=True) for item in checked])
    return plan


def _write_csv(plan: Path, moves: Sequence[Move]) -> None:
    """Write the plan in one step: a temporary file next to it, renamed into place."""
    tmp = plan.with_name(f".{plan.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(PLAN_COLUMNS)
            writer.writerows((m.file, m.action, m.to, m.sha256, m.reason) for m in moves)
        os.replace(tmp, plan)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def _parse(plan: Path) -> tuple[list[_Row], list[str]]:
    """The rows of the CSV file ``plan``, and what keeps it from being read as a plan."""
    try:
        with plan.open(encoding="utf-8-sig", newline="") as stream:
            return _parse_rows(stream)
    except FileNotFoundError:
        return [], [f"there is no plan at {plan}"]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [f"{plan} cannot be read as a CSV plan: {exc}"]


def _parse_rows(stream: IO[str]) -> tuple[list[_Row], list[str]]:
    reader = csv.DictReader(stream)
    header = [name.strip().lower() for name in reader.fieldnames or ()]
    missing = [name for name in PLAN_COLUMNS if name not in header]
    if missing:
        columns = ",".join(PLAN_COLUMNS)
        return [], [f"line 1: the header must name the columns {columns} (missing: {missing})"]
    reader.fieldnames = header
    rows: list[_Row] = []
    problems: list[str] = []
    for record in reader:
        if None in record:
            problems.append(
                f"line {reader.line_num}: more fields than the header names (put a value "
                'that holds a comma in double quotes: "a, b")'
            )
            continue
        values = {name: record.get(name) or "" for name in PLAN_COLUMNS}
        if any(value.strip() for value in values.values()):
            rows.append(
                _Row(
                    reader.line_num,
                    values["file"],
                    values["action"].strip(),
                    values["to"].strip(),
                    values["sha256"].strip().lower(),
                    values["reason"],
                )
            )
    return rows, problems


def read_plan(
    plan_path: PathArg, root: PathArg, *, quarantine: PathArg | None = None
) -> list[Move]:
    """Read a plan written by :func:`write_plan` (and perhaps edited), and check it whole.

    Args:
        plan_path: The CSV file: the columns ``file,action,to,sha256,reason`` (others are
            ignored).
        root: The data folder.
        quarantine: The quarantine folder; ``None`` for :func:`default_quarantine`.

    Returns:
        The plan's moves, in order.

    Raises:
        ~flowerkit.PlanError: The plan cannot be read, or a row cannot be carried out (see
            :func:`check_plan`); the message lists every problem with its line.

    >>> from flowerkit.auditing.plans import read_plan, write_plan
    >>> plan = write_plan([Move("roses/roses_00.jpg", "quarantine")], "plan.csv", "photos")
    >>> [(m.file, m.action) for m in read_plan(plan, "photos")]
    [('roses/roses_00.jpg', 'quarantine')]
    """
    plan = Path(plan_path).resolve()
    places = _Places.of(root, quarantine)
    rows, problems = _parse(plan)
    more, checked = _validate(rows, places)
    if problems or more:
        raise _refuse(f"{plan.name} was refused, nothing was moved", problems + more, _RETRY)
    return [item.move() for item in checked]
