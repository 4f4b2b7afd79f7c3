"""Acting on an audit with nothing lost (flowerkit.auditing.plans and .moves): plans are
written, read and refused whole; an apply moves exactly the plan, logs every move and is
undone byte for byte, even after it was interrupted."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowerkit
from flowerkit.auditing.moves import ApplyResult, apply_plan, undo
from flowerkit.auditing.plans import (
    PLAN_COLUMNS,
    Move,
    check_plan,
    default_quarantine,
    read_plan,
    write_plan,
)
from flowerkit.exceptions import DatasetError, PlanError

CLASSES = ("daisy", "roses", "tulips")
PER_CLASS = 3


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_folder(root: Path) -> Path:
    """``root/<class>/<class>_<i>.jpg``: small files, every one's bytes different."""
    for name in CLASSES:
        for i in range(PER_CLASS):
            path = root / name / f"{name}_{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(hashlib.sha512(f"{name}/{i}".encode()).digest() * (i + 1))
    return root


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder``: ``"dir"`` for a folder, the SHA-256 for a file."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): "dir" if p.is_dir() else sha(p)
        for p in sorted(folder.rglob("*"))
    }


def write_rows(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(PLAN_COLUMNS if header is None else header)
        writer.writerows(rows)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "flowers")


def row(root: Path, file: str, action: str, to: str = "", reason: str = "") -> list[str]:
    """A plan row with the file's true sha256 (empty when it does not exist)."""
    path = root / file
    return [file, action, to, sha(path) if path.is_file() else "", reason]


def mixed_moves(root: Path) -> list[Move]:
    return [
        Move("roses/roses_0.jpg", "relabel", "tulips", reason="label issue: given roses, 0.93"),
        Move("daisy/daisy_1.jpg", "quarantine", reason='outlier, "far" from every class'),
        Move("tulips/tulips_2.jpg", "relabel", "daisy", reason="label issue"),
        Move("roses/roses_2.jpg", "quarantine", reason="near-duplicate 🌹"),
    ]


def logs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


# --------------------------------------------------------------------------- plans


def test_write_then_read_round_trip(root: Path, tmp_path: Path) -> None:
    moves = mixed_moves(root)
    plan = write_plan(moves, tmp_path / "plan.csv", root)

    assert plan == (tmp_path / "plan.csv").resolve()
    lines = plan.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file,action,to,sha256,reason"
    read = read_plan(plan, root)
    # write_plan filled in each file's sha256; everything else comes back as written.
    assert read == [Move(m.file, m.action, m.to, sha(root / m.file), m.reason) for m in moves]
    assert read_plan(plan, root) == read
    assert snapshot(root) == snapshot(make_folder(tmp_path / "again"))  # nothing moved


def test_a_plan_edited_by_a_person_is_read(root: Path, tmp_path: Path) -> None:
    # A byte-order mark, upper-case header with spaces, an extra column, a blank row, a
    # hand-added row without sha256, and spaces around the action.
    plan = tmp_path / "edited.csv"
    first = row(root, "roses/roses_0.jpg", "relabel", "tulips")
    text = (
        "\ufeffFile, Action ,to,SHA256,reason,notes\n"
        f"{first[0]}, relabel ,tulips,{first[3].upper()},checked by Ann,ok\n"
        ",,,,,\n"
        "daisy/daisy_1.jpg,quarantine,,,added by hand,\n"
    )
    plan.write_text(text, encoding="utf-8")

    assert read_plan(plan, root) == [
        Move("roses/roses_0.jpg", "relabel", "tulips", first[3], "checked by Ann"),
        Move("daisy/daisy_1.jpg", "quarantine", "", "", "added by hand"),
    ]
    result = apply_plan(plan, root)
    assert result.files[1].sha256 == sha(root / "daisy/daisy_1.jpg")  # taken as it is


@pytest.mark.parametrize("inside", [".", "roses"])
def test_write_plan_refuses_a_plan_inside_the_data_folder(root: Path, inside: str) -> None:
    target = root / inside / "plan.csv"
    with pytest.raises(PlanError, match="inside the data folder") as info:
        write_plan(mixed_moves(root), target, root)
    assert not target.exists()
    assert "was not written" in str(info.value)


def test_write_plan_refuses_moves_it_cannot_make(root: Path, tmp_path: Path) -> None:
    moves = [Move("roses/gone.jpg", "quarantine"), Move("roses/roses_0.jpg", "relabel", "x")]
    with pytest.raises(PlanError) as info:
        write_plan(moves, tmp_path / "plan.csv", root)
    assert info.value.problems == (
        f"line 2: roses/gone.jpg is not in {root.resolve()}",
        f"line 3: class folder x is missing from {root.resolve()} (create it first to add a class)",
    )
    assert not (tmp_path / "plan.csv").exists()


def test_check_plan_returns_each_move_on_disk(root: Path) -> None:
    files = check_plan(mixed_moves(root), root)
    base, aside = root.resolve(), default_quarantine(root)
    assert aside == base.parent / "flowers.quarantine"
    assert [(f.source, f.target) for f in files] == [
        (base / "roses/roses_0.jpg", base / "tulips/roses_0.jpg"),
        (base / "daisy/daisy_1.jpg", aside / "daisy/daisy_1.jpg"),
        (base / "tulips/tulips_2.jpg", base / "daisy/tulips_2.jpg"),
        (base / "roses/roses_2.jpg", aside / "roses/roses_2.jpg"),
    ]
    assert [f.sha256 for f in files] == [sha(f.source) for f in files]


# --------------------------------------------------------------------------- apply and undo


def test_a_dry_run_moves_nothing_and_writes_nothing(root: Path, tmp_path: Path) -> None:
    plan = write_plan(mixed_moves(root), tmp_path / "plan.csv", root)
    before = snapshot(tmp_path)

    result = apply_plan(plan, root)

    assert snapshot(tmp_path) == before
    assert result.dry_run and len(result.files) == 4
    assert not result.log.exists() and result.log.parent == tmp_path.resolve()
    assert not result.quarantine.exists()
    text = result.summary()
    assert text.startswith(
        f"Dry run of plan.csv on {root.resolve()}: 4 files would move (2 relabelled, 2 set "
        f"aside in {result.quarantine}); nothing moved."
    )
    assert "  roses/roses_0.jpg -> tulips/roses_0.jpg  (label issue: given roses, 0.93)" in text
    assert "--yes" in text and str(result.log) in text


def test_apply_then_undo_restores_the_folder_byte_for_byte(root: Path, tmp_path: Path) -> None:
    plan = write_plan(mixed_moves(root), tmp_path / "plan.csv", root)
    before = snapshot(root)

    result = apply_plan(plan, root, yes=True)

    assert not result.dry_run and result.log.is_file()
    base, aside = root.resolve(), result.quarantine
    assert aside == tmp_path.resolve() / "flowers.quarantine"
    assert snapshot(aside) == {
        "daisy": "dir",
        "daisy/daisy_1.jpg": before["daisy/daisy_1.jpg"],
        "roses": "dir",
        "roses/roses_2.jpg": before["roses/roses_2.jpg"],
    }
    after = snapshot(root)
    assert after["tulips/roses_0.jpg"] == before["roses/roses_0.jpg"]
    assert after["daisy/tulips_2.jpg"] == before["tulips/tulips_2.jpg"]
    assert set(before) - set(after) == {
        "roses/roses_0.jpg",
        "daisy/daisy_1.jpg",
        "tulips/tulips_2.jpg",
        "roses/roses_2.jpg",
    }
    assert sorted(after.values()) == sorted(  # nothing lost, nothing duplicated
        [v for k, v in before.items() if k not in {"daisy/daisy_1.jpg", "roses/roses_2.jpg"}]
    )
    assert result.summary().startswith(f"Moved 4 files of {base} (2 relabelled, 2 set aside")
    assert f"flowerkit audit --undo {result.log}" in result.summary()

    restored = undo(result.log)

    assert snapshot(root) == before
    assert not aside.exists()  # the folders the apply made are gone
    assert [f.source.relative_to(base).as_posix() for f in restored] == [
        "roses/roses_2.jpg",
        "tulips/tulips_2.jpg",
        "daisy/daisy_1.jpg",
        "roses/roses_0.jpg",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["flowers", "plan.csv", result.log.name]
    )


def test_the_log_records_each_move_before_it_happens(root: Path, tmp_path: Path) -> None:
    plan = write_plan(mixed_moves(root)[:2], tmp_path / "plan.csv", root)
    sums = [sha(root / "roses/roses_0.jpg"), sha(root / "daisy/daisy_1.jpg")]
    result = apply_plan(plan, root, yes=True, log=tmp_path / "logs" / "run.jsonl")

    assert result.log == (tmp_path / "logs" / "run.jsonl").resolve()
    records = [json.loads(line) for line in result.log.read_text().splitlines()]
    assert records[0]["format"] == "flowerkit-audit-log" and records[0]["event"] == "apply"
    assert records[0]["root"] == str(root.resolve())
    assert [r["event"] for r in records[1:]] == [
        "move", "done", "mkdir", "mkdir", "move", "done", "finished"
    ]  # fmt: skip
    first, second = records[1], records[5]
    assert (first["from"], first["to"], first["sha256"]) == (
        str(root.resolve() / "roses/roses_0.jpg"),
        str(root.resolve() / "tulips/roses_0.jpg"),
        sums[0],
    )
    assert second["sha256"] == sums[1] and second["action"] == "quarantine"
    assert [r["path"] for r in records[3:5]] == [
        str(result.quarantine),
        str(result.quarantine / "daisy"),
    ]


def test_an_undone_log_cannot_be_undone_again(root: Path, tmp_path: Path) -> None:
    plan = write_plan(mixed_moves(root), tmp_path / "plan.csv", root)
    result = apply_plan(plan, root, yes=True)
    undo(result.log)
    before = snapshot(tmp_path)

    with pytest.raises(PlanError, match="was undone already"):
        undo(result.log)
    assert snapshot(tmp_path) == before


def test_an_empty_plan_moves_nothing(root: Path, tmp_path: Path) -> None:
    before = snapshot(root)
    plan = write_plan([], tmp_path / "plan.csv", root)
    result = apply_plan(plan, root, yes=True)
    assert result.files == () and "no file" in result.summary()
    assert undo(result.log) == []
    assert snapshot(root) == before


def test_files_in_sub_folders_keep_their_path_in_the_quarantine(root: Path, tmp_path: Path) -> None:
    (root / "roses/2023").mkdir()
    (root / "roses/2023/roses_0.jpg").write_bytes(b"another rose")
    before = snapshot(root)
    moves = [Move("roses/2023/roses_0.jpg", "quarantine"), Move("roses/roses_0.jpg", "quarantine")]
    result = apply_plan(write_plan(moves, tmp_path / "p.csv", root), root, yes=True)
    assert [f.target.relative_to(result.quarantine).as_posix() for f in result.files] == [
        "roses/2023/roses_0.jpg",
        "roses/roses_0.jpg",
    ]
    undo(result.log)
    assert snapshot(root) == before


def test_the_result_as_json(root: Path, tmp_path: Path) -> None:
    plan = write_plan(mixed_moves(root)[:1], tmp_path / "plan.csv", root)
    result = apply_plan(plan, root)
    assert isinstance(result, ApplyResult)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["dry_run"] is True and data["root"] == str(root.resolve())
    assert data["moves"] == [
        {
            "file": "roses/roses_0.jpg",
            "action": "relabel",
            "to": "tulips",
            "reason": "label issue: given roses, 0.93",
            "sha256": sha(root / "roses/roses_0.jpg"),
            "from": str(root.resolve() / "roses/roses_0.jpg"),
            "target": str(root.resolve() / "tulips/roses_0.jpg"),
        }
    ]


# --------------------------------------------------------------------------- refusals

#: name -> (prepare the folder and return the rows and apply_plan's keywords, the problem)
Case = Callable[[Path, Path], tuple[list[list[str]], dict[str, Any]]]


def _unknown_file(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [
        row(root, "roses/roses_0.jpg", "quarantine"),
        ["roses/nope.jpg", "quarantine", "", "", ""],
    ], {}


def _missing_class(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "relabel", "lilies")], {}


def _changed_file(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    rows = [row(root, "roses/roses_0.jpg", "relabel", "tulips")]
    (root / "roses/roses_0.jpg").write_bytes(b"edited since the audit")
    return rows, {}


def _target_exists(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    (root / "tulips/roses_0.jpg").write_bytes(b"a tulip with the same name")
    return [row(root, "roses/roses_0.jpg", "relabel", "tulips")], {}


def _quarantined_exists(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    (tmp / "flowers.quarantine/roses").mkdir(parents=True)
    (tmp / "flowers.quarantine/roses/roses_0.jpg").write_bytes(b"set aside before")
    return [row(root, "roses/roses_0.jpg", "quarantine")], {}


def _listed_twice(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    first = row(root, "roses/roses_0.jpg", "quarantine")
    return [
        first,
        row(root, "daisy/daisy_0.jpg", "quarantine"),
        ["./roses//roses_0.jpg", *first[1:]],
    ], {}


def _same_target(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    (root / "roses/x.jpg").write_bytes(b"rose x")
    (root / "daisy/x.jpg").write_bytes(b"daisy x")
    return [
        row(root, "roses/x.jpg", "relabel", "tulips"),
        row(root, "daisy/x.jpg", "relabel", "tulips"),
    ], {}


def _bad_action(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "delete")], {}


def _parent_path(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    (tmp / "outside.jpg").write_bytes(b"not in the folder")
    return [
        ["../outside.jpg", "quarantine", "", "", ""],
        ["roses/../../outside.jpg", "quarantine", "", "", ""],
    ], {}


def _absolute_path(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [[str(root.resolve() / "roses/roses_0.jpg"), "quarantine", "", "", ""]], {}


def _not_in_a_class(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    (root / "top.jpg").write_bytes(b"top")
    return [row(root, "top.jpg", "quarantine")], {}


def _same_class(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "relabel", "roses")], {}


def _no_class(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "relabel", "")], {}


def _bad_class_name(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "relabel", "../tulips")], {}


def _quarantine_with_class(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "quarantine", "tulips")], {}


def _bad_digest(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [["roses/roses_0.jpg", "quarantine", "", "abc123", ""]], {}


def _a_folder(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    (root / "roses/2023").mkdir()
    return [["roses/2023", "quarantine", "", "", ""]], {}


def _extra_fields(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [[*row(root, "roses/roses_0.jpg", "quarantine"), "unquoted", "comma"]], {}


def _quarantine_inside(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "quarantine")], {"quarantine": root / "aside"}


def _log_inside(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    return [row(root, "roses/roses_0.jpg", "quarantine")], {"log": root / "moves.jsonl"}


def _log_exists(root: Path, tmp: Path) -> tuple[list[list[str]], dict[str, Any]]:
    (tmp / "old.jsonl").write_text("{}\n")
    return [row(root, "roses/roses_0.jpg", "quarantine")], {"log": tmp / "old.jsonl"}


REFUSALS: dict[str, tuple[Case, str]] = {
    "unknown file": (_unknown_file, "line 3: roses/nope.jpg is not in {root}"),
    "class folder missing": (_missing_class, "line 2: class folder lilies is missing from {root}"),
    "file changed": (
        _changed_file,
        "line 2: roses/roses_0.jpg changed since the plan was written (sha256 differs)",
    ),
    "target exists": (_target_exists, "line 2: tulips/roses_0.jpg already exists"),
    "quarantined file exists": (
        _quarantined_exists,
        "line 2: {tmp}/flowers.quarantine/roses/roses_0.jpg already exists",
    ),
    "listed twice": (_listed_twice, "line 4: roses/roses_0.jpg is listed twice (first on line 2)"),
    "two files to one place": (
        _same_target,
        "line 3: daisy/x.jpg would move to tulips/x.jpg, as line 2",
    ),
    "unknown action": (_bad_action, "line 2: unknown action 'delete' (use relabel or quarantine)"),
    "path leading outside": (
        _parent_path,
        "line 3: roses/../../outside.jpg leads outside the data folder",
    ),
    "absolute path": (_absolute_path, "is an absolute path: give it relative to the data folder"),
    "not in a class folder": (_not_in_a_class, "line 2: top.jpg is not in a class folder"),
    "relabel into its own class": (_same_class, "line 2: roses/roses_0.jpg is in roses already"),
    "relabel without a class": (_no_class, "line 2: relabel needs the class folder"),
    "class that is no folder name": (
        _bad_class_name,
        "'to' must name a class folder of {root}, not '../tulips'",
    ),
    "quarantine with a class": (_quarantine_with_class, "line 2: quarantine takes no class"),
    "bad sha256": (_bad_digest, "line 2: sha256 'abc123' is not a SHA-256 digest"),
    "a folder": (_a_folder, "line 2: roses/2023 is a folder, not a file"),
    "more fields than columns": (_extra_fields, "line 2: more fields than the header names"),
    "quarantine inside the folder": (
        _quarantine_inside,
        "the quarantine folder {root}/aside is inside the data folder",
    ),
    "log inside the folder": (_log_inside, "the log {root}/moves.jsonl is inside the data folder"),
    "log exists": (_log_exists, "the log {tmp}/old.jsonl exists already"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_plan_is_refused_whole_before_anything_moves(
    case: str, root: Path, tmp_path: Path
) -> None:
    prepare, expected = REFUSALS[case]
    rows, options = prepare(root, tmp_path)
    plan = write_rows(tmp_path / "plan.csv", rows)
    before = snapshot(tmp_path)

    with pytest.raises(PlanError) as info:
        apply_plan(plan, root, yes=True, **options)

    message = str(info.value)
    problem = expected.format(root=root.resolve(), tmp=tmp_path.resolve())
    assert problem in message
    assert any(problem in p for p in info.value.problems)
    assert message.startswith("plan.csv was refused, nothing was moved:\n")
    assert message.endswith("run flowerkit audit again and write a new plan (--write-plan).")
    assert snapshot(tmp_path) == before  # nothing moved, no log, no quarantine


def test_read_plan_refuses_the_same_plans(root: Path, tmp_path: Path) -> None:
    plan = write_rows(tmp_path / "plan.csv", _bad_action(root, tmp_path)[0])
    with pytest.raises(PlanError, match="unknown action 'delete'"):
        read_plan(plan, root)


def test_every_problem_is_listed_with_its_line(root: Path, tmp_path: Path) -> None:
    rows = [
        row(root, "roses/roses_0.jpg", "relabel", "tulips"),
        ["roses/nope.jpg", "quarantine", "", "", ""],
        row(root, "daisy/daisy_0.jpg", "quarantine"),
        row(root, "daisy/daisy_1.jpg", "relabel", "lilies"),
        row(root, "tulips/tulips_0.jpg", "burn"),
    ]
    (root / "daisy/daisy_0.jpg").write_bytes(b"changed")
    plan = write_rows(tmp_path / "plan.csv", rows)
    before = snapshot(tmp_path)

    with pytest.raises(PlanError) as info:
        apply_plan(plan, root, yes=True)

    assert [p.split(":")[0] for p in info.value.problems] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
    ]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (["file", "action", "to", "reason"], "line 1: the header must name the columns"),
        (None, "cannot be read as a CSV plan"),  # not UTF-8
    ],
)
def test_a_file_that_is_no_plan_is_refused(
    root: Path, tmp_path: Path, header: list[str] | None, problem: str
) -> None:
    plan = tmp_path / "plan.csv"
    if header is None:
        plan.write_bytes(b"file,action,to,sha256,reason\n\xff\xfe,quarantine,,,\n")
    else:
        write_rows(plan, [["roses/roses_0.jpg", "quarantine", ""]], header)
    with pytest.raises(PlanError, match=problem):
        apply_plan(plan, root, yes=True)
    with pytest.raises(PlanError, match="there is no plan at"):
        apply_plan(tmp_path / "missing.csv", root)
    with pytest.raises(PlanError, match="does not exist"):
        apply_plan(plan, tmp_path / "no-such-folder")


def test_plan_error_is_a_public_dataset_error() -> None:
    assert flowerkit.PlanError is PlanError
    assert "PlanError" in flowerkit.__all__
    assert issubclass(PlanError, DatasetError) and issubclass(PlanError, ValueError)
    assert PlanError.__module__ == "flowerkit"
    assert PlanError("x", problems=["a", "b"]).problems == ("a", "b")


# --------------------------------------------------------------------------- read-only folders


def _deny_writing(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Make ``os.access`` say ``folders`` are read-only (root ignores permissions)."""
    denied = {str(f.resolve()) for f in folders}
    real = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if mode & os.W_OK and str(Path(path).resolve()) in denied:
            return False
        return real(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_a_read_only_class_folder_is_refused_at_plan_time(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deny_writing(monkeypatch, root / "roses")
    with pytest.raises(PlanError) as info:
        write_plan(mixed_moves(root), tmp_path / "plan.csv", root)
    assert info.value.problems == (
        f"{(root / 'roses').resolve()} is read-only, so no file can be moved into or out of "
        "it: copy the data folder somewhere writable and audit the copy, or run flowerkit "
        "audit without --write-plan",
    )
    assert not (tmp_path / "plan.csv").exists()
    # A plan that leaves the read-only folder alone is written.
    write_plan([Move("daisy/daisy_0.jpg", "relabel", "tulips")], tmp_path / "plan.csv", root)


def test_a_read_only_data_folder_is_refused_at_plan_time(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deny_writing(monkeypatch, root)
    with pytest.raises(PlanError, match=f"{root.resolve()} is read-only"):
        write_plan([Move("daisy/daisy_0.jpg", "relabel", "tulips")], tmp_path / "p.csv", root)


def test_a_read_only_folder_for_the_quarantine_is_refused_at_plan_time(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The quarantine would be made next to the data folder, in tmp_path.
    _deny_writing(monkeypatch, tmp_path)
    relabel = [Move("daisy/daisy_0.jpg", "relabel", "tulips")]
    write_plan(relabel, tmp_path / "plan.csv", root)
    with pytest.raises(PlanError, match=f"{tmp_path.resolve()} is read-only"):
        write_plan([Move("daisy/daisy_0.jpg", "quarantine")], tmp_path / "plan.csv", root)
    # Applying needs the log's folder too.
    with pytest.raises(PlanError, match=f"{tmp_path.resolve()} is read-only"):
        apply_plan(tmp_path / "plan.csv", root)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root may write to read-only folders (the os.access tests above cover this)",
)
def test_a_folder_made_read_only_is_refused_at_plan_time(root: Path, tmp_path: Path) -> None:
    (root / "roses").chmod(0o555)
    try:
        with pytest.raises(PlanError, match="is read-only"):
            write_plan(mixed_moves(root), tmp_path / "plan.csv", root)
    finally:
        (root / "roses").chmod(0o755)


# --------------------------------------------------------------------------- interruptions


class Crash(BaseException):
    """The process dying at an awkward moment."""


def _failing_rename(monkeypatch: pytest.MonkeyPatch, at: int, *, after: bool) -> None:
    """Make the ``at``-th rename fail: before it moves the file, or ``after`` it did."""
    real = os.rename
    calls = {"n": 0}

    def rename(source: Any, target: Any) -> None:
        calls["n"] += 1
        if calls["n"] == at:
            if after:
                real(source, target)
                raise Crash("killed between the rename and its log record")
            raise OSError(5, "Input/output error")
        real(source, target)

    monkeypatch.setattr(os, "rename", rename)


@pytest.mark.parametrize("after", [False, True], ids=["rename failed", "killed after rename"])
def test_an_interrupted_apply_is_undone(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    plan = write_plan(mixed_moves(root), tmp_path / "plan.csv", root)
    before = snapshot(root)
    log = tmp_path / "run.jsonl"
    _failing_rename(monkeypatch, 3, after=after)

    with pytest.raises((OSError, Crash)) as info:
        apply_plan(plan, root, yes=True, log=log)
    monkeypatch.undo()

    assert any(f"flowerkit audit --undo {log}" in note for note in info.value.__notes__)
    moved = 3 if after else 2
    assert len(set(before) - set(snapshot(root))) == moved
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events.count("move") == 3 and events.count("done") == 2  # the third is unfinished
    with log.open("a") as stream:
        stream.write('{"event": "do')  # and the log's last record was cut short

    restored = undo(log)

    assert len(restored) == moved
    assert snapshot(root) == before
    assert not default_quarantine(root).exists()


def test_an_interrupted_undo_goes_on_when_run_again(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(root)
    result = apply_plan(write_plan(mixed_moves(root), tmp_path / "p.csv", root), root, yes=True)
    _failing_rename(monkeypatch, 2, after=False)
    with pytest.raises(OSError, match="Input/output") as info:
        undo(result.log)
    monkeypatch.undo()
    assert "run flowerkit audit --undo" in info.value.__notes__[0]

    assert len(undo(result.log)) == 3  # the first was put back already
    assert snapshot(root) == before
    with pytest.raises(PlanError, match="undone already"):
        undo(result.log)


# --------------------------------------------------------------------------- undo refusals


def _changed(target: Path, source: Path) -> None:
    target.write_bytes(b"edited after the apply")


def _missing(target: Path, source: Path) -> None:
    target.rename(target.with_name("renamed.jpg"))


def _taken(target: Path, source: Path) -> None:
    source.write_bytes(b"a new photo in the old place")


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (_changed, "changed since it was moved there (sha256 differs)"),
        (_missing, "is missing: it was moved there from"),
        (_taken, "is taken by another file"),
    ],
    ids=["changed", "missing", "place taken"],
)
def test_an_undo_that_cannot_restore_a_file_is_refused_whole(
    root: Path,
    tmp_path: Path,
    spoil: Callable[[Path, Path], None],
    problem: str,
) -> None:
    result = apply_plan(write_plan(mixed_moves(root), tmp_path / "p.csv", root), root, yes=True)
    spoil(result.files[1].target, result.files[1].source)
    before = snapshot(tmp_path)

    with pytest.raises(PlanError) as info:
        undo(result.log)

    assert info.value.problems[0].startswith("move 2: ")
    assert problem in info.value.problems[0]
    assert "refused, nothing was moved" in str(info.value)
    assert snapshot(tmp_path) == before


def test_undo_refuses_what_is_not_an_audit_log(tmp_path: Path) -> None:
    (tmp_path / "notes.jsonl").write_text('{"hello": 1}\n')
    with pytest.raises(PlanError, match="is not a flowerkit audit log"):
        undo(tmp_path / "notes.jsonl")
    with pytest.raises(PlanError, match="cannot read the audit log"):
        undo(tmp_path / "missing.jsonl")


# --------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    choices=st.lists(
        st.sampled_from(["keep", "quarantine", *CLASSES]),
        min_size=len(CLASSES) * PER_CLASS,
        max_size=len(CLASSES) * PER_CLASS,
    )
)
def test_any_plan_applied_then_undone_leaves_the_folder_as_it_was(
    tmp_path_factory: pytest.TempPathFactory, choices: list[str]
) -> None:
    base = tmp_path_factory.mktemp("property")
    root = make_folder(base / "flowers")
    files = [f"{name}/{name}_{i}.jpg" for name in CLASSES for i in range(PER_CLASS)]
    moves = [
        Move(file, "quarantine") if choice == "quarantine" else Move(file, "relabel", choice)
        for file, choice in zip(files, choices, strict=True)
        if choice != "keep" and not file.startswith(f"{choice}/")
    ]
    before = snapshot(root)

    result = apply_plan(write_plan(moves, base / "plan.csv", root), root, yes=True)
    moved = snapshot(root) | {f"Q/{k}": v for k, v in snapshot(result.quarantine).items()}
    assert sorted(v for v in moved.values() if v != "dir") == sorted(
        v for v in before.values() if v != "dir"
    )
    undo(result.log)

    assert snapshot(root) == before
    assert not result.quarantine.exists()


# --------------------------------------------------------------------------- importing


def test_importing_the_moves_does_not_import_tensorflow() -> None:
    code = (
        "import sys, flowerkit.auditing.plans, flowerkit.auditing.moves\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
