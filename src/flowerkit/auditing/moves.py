"""Acting on an audit with nothing lost: a plan of moves, applying it, and undoing it.

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

:func:`apply_plan` checks the whole plan before anything moves and refuses it whole
(:class:`~flowerkit.PlanError`, every problem with its line). It is a dry run unless told
``yes=True``; then it renames each file, never deletes or overwrites one, and writes every
move to a **log** (JSON lines, next to the data folder) synced to disk before the file
moves. :func:`undo` reads the log and puts every file back, even after an apply that was
interrupted, so the data folder ends as it was, byte for byte.

Pure Python: importing this module imports neither TensorFlow nor NumPy.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Any, Literal

from flowerkit.exceptions import PlanError

__all__ = [
    "ACTIONS",
    "PLAN_COLUMNS",
    "QUARANTINE_SUFFIX",
    "Action",
    "ApplyResult",
    "FileMove",
    "Move",
    "apply_plan",
    "check_plan",
    "default_quarantine",
    "read_plan",
    "undo",
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
_LOG_FORMAT = "flowerkit-audit-log"
_LOG_VERSION = 1
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


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_plan` moved, or would move in a dry run.

    Args:
        plan: The plan file.
        root: The data folder.
        quarantine: The quarantine folder (created only when a file is set aside).
        log: The log of the moves: written when not ``dry_run``; in a dry run, where it
            would be.
        moves: The plan's rows, in order.
        files: Each row's move on disk, in the same order.
        dry_run: ``True`` when nothing was moved.

    >>> from flowerkit.auditing.moves import apply_plan, write_plan
    >>> plan = write_plan([Move("roses/roses_00.jpg", "quarantine")], "plan.csv", "photos")
    >>> result = apply_plan(plan, "photos")
    >>> result.dry_run, len(result.files), result.quarantine.name
    (True, 1, 'photos.quarantine')
    """

    plan: Path
    root: Path
    quarantine: Path
    log: Path
    moves: tuple[Move, ...]
    files: tuple[FileMove, ...]
    dry_run: bool

    def summary(self) -> str:
        """Several lines for a person: what moved (or would), each move, and what next.

        Returns:
            The text, without a final newline.
        """
        relabelled = sum(m.action == "relabel" for m in self.moves)
        aside = len(self.moves) - relabelled
        counts = [f"{relabelled} relabelled"] if relabelled else []
        counts += [f"{aside} set aside in {self.quarantine}"] if aside else []
        what = _files(len(self.moves)) if self.moves else "no file"
        detail = f" ({', '.join(counts)})" if counts else ""
        rows = [
            f"  {m.file} -> {_show(f.target, self.root)}" + (f"  ({m.reason})" if m.reason else "")
            for m, f in zip(self.moves, self.files, strict=True)
        ]
        if self.dry_run:
            head = f"Dry run of {self.plan.name} on {self.root}: {what} would move{detail}; "
            head += "nothing moved."
            tail = f"Apply it with --yes (yes=True); every move will be logged in {self.log}."
        else:
            head = f"Moved {what} of {self.root}{detail}."
            tail = f"Log: {self.log}\nUndo with: flowerkit audit --undo {self.log}"
        return "\n".join([head, *rows, tail])

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON types (paths as strings), for ``--json``.

        Returns:
            ``plan``, ``root``, ``quarantine``, ``log``, ``dry_run`` and ``moves``: one
            object per row with ``file``, ``action``, ``to``, ``reason``, ``sha256``,
            ``from`` and ``target``.
        """
        return {
            "plan": str(self.plan),
            "root": str(self.root),
            "quarantine": str(self.quarantine),
            "log": str(self.log),
            "dry_run": self.dry_run,
            "moves": [
                {
                    "file": m.file,
                    "action": m.action,
                    "to": m.to,
                    "reason": m.reason,
                    "sha256": f.sha256,
                    "from": str(f.source),
                    "target": str(f.target),
                }
                for m, f in zip(self.moves, self.files, strict=True)
            ],
        }


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


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

    >>> from flowerkit.auditing.moves import check_plan
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

    >>> from flowerkit.auditing.moves import write_plan
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

    >>> from flowerkit.auditing.moves import read_plan, write_plan
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


# --------------------------------------------------------------------------- the log


class _Log:
    """An append-only log of JSON lines, flushed after each record."""

    def __init__(self, path: Path, stream: IO[str]) -> None:
        self.path = path
        self.stream = stream

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> _Log:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = cls(path, path.open("x", encoding="utf-8"))
        log.write(header, sync=True)
        with suppress(OSError):  # make the new name itself durable, where the OS can
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        return log

    @classmethod
    def append(cls, path: Path) -> _Log:
        log = cls(path, path.open("a", encoding="utf-8"))
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            log.stream.write("\n")  # after a record cut short by a crash
        return log

    def write(self, record: dict[str, Any], *, sync: bool = False) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.stream.flush()
        if sync:
            os.fsync(self.stream.fileno())

    def __enter__(self) -> _Log:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stream.close()


@dataclass
class _LogState:
    """What a log says happened: the moves, which finished, which were put back."""

    path: Path
    moves: dict[int, FileMove] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    restored: set[int] = field(default_factory=set)
    folders: list[Path] = field(default_factory=list)
    undone: str | None = None

    def note(self, record: dict[str, Any]) -> None:
        event = record.get("event")
        if event == "mkdir":
            self.folders.append(Path(record["path"]))
        elif event == "move":
            move = FileMove(Path(record["from"]), Path(record["to"]), str(record["sha256"]))
            self.moves[int(record["n"])] = move
        elif event == "done":
            self.done.add(int(record["n"]))
        elif event == "restored":
            self.restored.add(int(record["n"]))
        elif event == "undone":
            self.undone = str(record.get("time", "before"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record(line: str) -> dict[str, Any] | None:
    """One line of a log, or ``None`` for a line a crash cut short."""
    with suppress(ValueError):
        record = json.loads(line)
        if isinstance(record, dict):
            return record
    return None


def _read_log(path: Path) -> _LogState:
    """What the log at ``path`` records.

    Raises:
        ~flowerkit.PlanError: No such file, or not a flowerkit audit log.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot read the audit log {path}: {getattr(exc, 'strerror', None) or exc}"
        raise PlanError(f"Nothing was moved: {problem}.", problems=[problem]) from exc
    records = [r for r in map(_record, lines) if r is not None]
    state = _LogState(path)
    problem = f"{path} is not a flowerkit audit log (flowerkit audit --apply --yes writes them)"
    if not records or records[0].get("format") != _LOG_FORMAT:
        raise PlanError(f"Nothing was moved: {problem}.", problems=[problem])
    if records[0].get("version") != _LOG_VERSION:
        problem = f"{path} was written by another flowerkit version: undo it with that version"
        raise PlanError(f"Nothing was moved: {problem}.", problems=[problem])
    try:
        for record in records[1:]:
            state.note(record)
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"{path} is damaged (a record lacks {exc}); nothing was moved"
        raise PlanError(f"Nothing was moved: {problem}.", problems=[problem]) from exc
    return state


# --------------------------------------------------------------------------- apply and undo


def _default_log(root: Path) -> Path:
    """``<root>.audit-<UTC time>.jsonl`` next to ``root``, a name not taken yet."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = root.parent / f"{root.name}.audit-{stamp}.jsonl"
    n = 1
    while os.path.lexists(path):
        n += 1
        path = root.parent / f"{root.name}.audit-{stamp}-{n}.jsonl"
    return path


def _log_problems(log: Path, places: _Places) -> list[str]:
    if places.inside(log):
        return [
            f"the log {log} is inside the data folder {places.root}: put it outside, where "
            "it cannot be taken for a photo"
        ]
    if os.path.lexists(log):
        return [f"the log {log} exists already: a log is never overwritten, choose another"]
    return []


def apply_plan(
    plan_path: PathArg,
    root: PathArg,
    *,
    yes: bool = False,
    quarantine: PathArg | None = None,
    log: PathArg | None = None,
) -> ApplyResult:
    """Carry out a plan exactly, after checking all of it; a dry run unless ``yes``.

    Nothing moves unless every row passes the checks of :func:`read_plan`. Then each file
    is renamed (never copied, deleted or written over): a relabelled one into
    ``root/<to>/<name>``, a quarantined one into ``<quarantine>/<class>/<name>``. Each move
    is recorded in the log, synced to disk, before the file moves, and marked done after.

    Args:
        plan_path: The plan (a CSV file from :func:`write_plan`, perhaps edited).
        root: The data folder.
        yes: Move the files; ``False`` (the default) only reports what would move.
        quarantine: The folder for quarantined files, outside ``root``; ``None`` for
            :func:`default_quarantine` (``<root>.quarantine`` next to ``root``).
        log: The log to write (must not exist), outside ``root``; ``None`` for
            ``<root>.audit-<UTC time>.jsonl`` next to ``root``.

    Returns:
        What moved (or would move), with the log's path and a ``summary()``.

    Raises:
        ~flowerkit.PlanError: The plan was refused whole; the message lists every problem
            with its line, and nothing moved.
        OSError: A rename failed midway; the moves made so far are in the log (the
            error's note says how to undo them).

    >>> from flowerkit.auditing.moves import apply_plan, undo, write_plan
    >>> plan = write_plan([Move("roses/roses_00.jpg", "relabel", to="tulips")], "plan.csv",
    ...     "photos")
    >>> result = apply_plan(plan, "photos", yes=True)
    >>> Path("photos/tulips/roses_00.jpg").is_file(), result.log.suffix
    (True, '.jsonl')
    >>> [f.source.relative_to(result.root).as_posix() for f in undo(result.log)]
    ['roses/roses_00.jpg']
    """
    plan = Path(plan_path).resolve()
    places = _Places.of(root, quarantine)
    log_path = _default_log(places.root) if log is None else Path(log).resolve()
    rows, problems = _parse(plan)
    more, checked = _validate(rows, places, [_existing_ancestor(log_path.parent)])
    problems += more + _log_problems(log_path, places)
    if problems:
        raise _refuse(f"{plan.name} was refused, nothing was moved", problems, _RETRY)
    result = ApplyResult(
        plan=plan,
        root=places.root,
        quarantine=places.quarantine,
        log=log_path,
        moves=tuple(item.move() for item in checked),
        files=tuple(item.file_move() for item in checked),
        dry_run=not yes,
    )
    if yes:
        _perform(result)
    return result


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist, outermost first."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


def _rename_new(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, which must not exist (never overwrite)."""
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "flowerkit never overwrites a file", str(target))
    os.rename(source, target)


def _perform(result: ApplyResult) -> None:
    """Move the files of ``result``, logging each move before it happens."""
    header = {
        "format": _LOG_FORMAT,
        "version": _LOG_VERSION,
        "event": "apply",
        "time": _now(),
        "plan": str(result.plan),
        "root": str(result.root),
        "quarantine": str(result.quarantine),
        "moves": len(result.files),
    }
    moved = 0
    with _Log.create(result.log, header) as log:
        try:
            for n, (move, step) in enumerate(zip(result.moves, result.files, strict=True), 1):
                for folder in _missing_folders(step.target.parent):
                    log.write({"event": "mkdir", "path": str(folder)}, sync=True)
                    folder.mkdir()
                record = {"event": "move", "n": n, "file": move.file, "action": move.action}
                record |= {"from": str(step.source), "to": str(step.target)}
                log.write(record | {"sha256": step.sha256}, sync=True)
                _rename_new(step.source, step.target)
                log.write({"event": "done", "n": n})
                moved = n
            log.write({"event": "finished", "time": _now(), "moved": moved}, sync=True)
        except BaseException as exc:
            exc.add_note(
                f"The apply stopped after {moved} of {len(result.files)} moves. The log "
                f"{result.log} records each move made: put the files back with "
                f"flowerkit audit --undo {result.log}"
            )
            raise


def _undo_check(step: FileMove, done: bool) -> tuple[bool, str | None]:
    """Whether ``step`` is to be moved back, or the problem that stops the undo."""
    if not os.path.lexists(step.target):
        if os.path.lexists(step.source) and (not done or _digest(step.source) == step.sha256):
            return False, None  # never moved (the apply stopped first), or back already
        return False, f"{step.target} is missing: it was moved there from {step.source}"
    if _digest(step.target) != step.sha256:
        return False, f"{step.target} changed since it was moved there (sha256 differs)"
    if os.path.lexists(step.source):
        return False, f"{step.source} is taken by another file: move that one away first"
    for folder in (step.target.parent, _existing_ancestor(step.source.parent)):
        if not os.access(folder, os.W_OK | os.X_OK):
            return False, f"{folder} is read-only: {step.target} cannot be moved back"
    return True, None


def undo(log_path: PathArg) -> list[FileMove]:
    """Put back every file an :func:`apply_plan` moved, as its log records, newest first.

    Each file is checked first (it is where the apply put it, with the same SHA-256, and
    its old place is free), and the undo is refused whole if one is not. Folders the apply
    created are removed if they are empty. An undo that stops midway can be run again: it
    goes on where it stopped. A log that was undone cannot be undone again.

    Args:
        log_path: The log the apply wrote (``ApplyResult.log``).

    Returns:
        The moves put back, in the order they were undone (``target`` is where the file
        was, ``source`` where it is again).

    Raises:
        ~flowerkit.PlanError: Not an audit log, undone already, or a file that cannot be
            put back (each is listed); nothing moved.
        OSError: A rename failed midway (the note says to run the undo again).

    >>> from flowerkit.auditing.moves import apply_plan, undo, write_plan
    >>> plan = write_plan([Move("roses/roses_00.jpg", "quarantine")], "plan.csv", "photos")
    >>> [f.source.name for f in undo(apply_plan(plan, "photos", yes=True).log)]
    ['roses_00.jpg']
    """
    state = _read_log(Path(log_path).resolve())
    if state.undone is not None:
        problem = f"{state.path} was undone already ({state.undone}): its files are back"
        raise PlanError(f"Nothing was moved: {problem}.", problems=[problem])
    pending = _pending(state)
    with _Log.append(state.path) as log:
        _restore(log, pending)
        for folder in reversed(state.folders):
            with suppress(OSError):  # not empty (or gone): left as it is
                folder.rmdir()
        log.write({"event": "undone", "time": _now(), "restored": len(pending)}, sync=True)
    return [step for _, step in pending]


def _pending(state: _LogState) -> list[tuple[int, FileMove]]:
    """The moves of ``state`` to put back, newest first, each checked.

    Raises:
        ~flowerkit.PlanError: A file cannot be put back; every one is listed.
    """
    pending: list[tuple[int, FileMove]] = []
    problems: list[str] = []
    for n in sorted(set(state.moves) - state.restored, reverse=True):
        restore, trouble = _undo_check(state.moves[n], n in state.done)
        if trouble is not None:
            problems.append(f"move {n}: {trouble}")
        elif restore:
            pending.append((n, state.moves[n]))
    if problems:
        hint = (
            "Put these files back where the apply left them (or free their old places), "
            "then undo again."
        )
        head = f"The undo of {state.path.name} was refused, nothing was moved"
        raise _refuse(head, problems, hint)
    return pending


def _restore(log: _Log, pending: Sequence[tuple[int, FileMove]]) -> None:
    """Move each file back, marking each in the log so a second run goes on from there."""
    restored = 0
    try:
        log.write({"event": "undo", "time": _now(), "moves": len(pending)}, sync=True)
        for n, step in pending:
            step.source.parent.mkdir(parents=True, exist_ok=True)
            _rename_new(step.target, step.source)
            log.write({"event": "restored", "n": n})
            restored += 1
    except BaseException as exc:
        exc.add_note(
            f"The undo stopped after putting back {restored} of {len(pending)} files: run "
            f"flowerkit audit --undo {log.path} again to finish; it goes on from there."
        )
        raise
