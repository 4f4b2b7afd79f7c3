"""Acting on a plan with nothing lost: applying it, logging every move, and undoing it.

The plan itself (its CSV format, :class:`~flowerkit.auditing.plans.Move`, checking,
writing and reading it) lives in :mod:`flowerkit.auditing.plans`.

:func:`apply_plan` checks the whole plan before anything moves and refuses it whole
(:class:`~flowerkit.PlanError`, every problem with its line). It is a dry run unless told
``yes=True``; then it renames each file, never deletes or overwrites one, and writes every
move to a **log** (JSON lines, next to the data folder) synced to disk before the file
moves. :func:`undo` reads the log and puts every file back, even after an apply that was
interrupted, so the data folder ends as it was, byte for byte.

Pure Python: importing this module imports neither TensorFlow nor NumPy.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from flowerkit.auditing.plans import (
    _RETRY,
    FileMove,
    Move,
    PathArg,
    _digest,
    _existing_ancestor,
    _parse,
    _Places,
    _refuse,
    _show,
    _validate,
)
from flowerkit.exceptions import PlanError

__all__ = [
    "ApplyResult",
    "apply_plan",
    "undo",
]

_LOG_FORMAT = "flowerkit-audit-log"
_LOG_VERSION = 1


# --------------------------------------------------------------------------- the result


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

    >>> from flowerkit.auditing.moves import apply_plan
    >>> from flowerkit.auditing.plans import write_plan
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

    Nothing moves unless every row passes the checks of
    :func:`~flowerkit.auditing.plans.read_plan`. Then each file is renamed (never copied,
    deleted or written over): a relabelled one into ``root/<to>/<name>``, a quarantined one
    into ``<quarantine>/<class>/<name>``. Each move is recorded in the log, synced to disk,
    before the file moves, and marked done after.

    Args:
        plan_path: The plan (a CSV file from
            :func:`~flowerkit.auditing.plans.write_plan`, perhaps edited).
        root: The data folder.
        yes: Move the files; ``False`` (the default) only reports what would move.
        quarantine: The folder for quarantined files, outside ``root``; ``None`` for
            :func:`~flowerkit.auditing.plans.default_quarantine` (``<root>.quarantine``
            next to ``root``).
        log: The log to write (must not exist), outside ``root``; ``None`` for
            ``<root>.audit-<UTC time>.jsonl`` next to ``root``.

    Returns:
        What moved (or would move), with the log's path and a ``summary()``.

    Raises:
        ~flowerkit.PlanError: The plan was refused whole; the message lists every problem
            with its line, and nothing moved.
        OSError: A rename failed midway; the moves made so far are in the log (the
            error's note says how to undo them).

    >>> from flowerkit.auditing.moves import apply_plan, undo
    >>> from flowerkit.auditing.plans import write_plan
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

    >>> from flowerkit.auditing.moves import apply_plan, undo
    >>> from flowerkit.auditing.plans import write_plan
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
