"""``check_images``: every file in a messy folder is used, left out with a reason, or
ignored on purpose; duplicates, label conflicts and imbalance are found; repeat checks hit
the cache; and ``load_datasets`` iterates a full epoch over the good files only."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import MakeFolder
from corpus import Expected, build_dataset, can_symlink, encode, noise, solid
from flowerkit.data import _checkcache
from flowerkit.data.checking import (
    IGNORE_REASONS,
    IMBALANCE_THRESHOLD,
    DatasetReport,
    check_images,
    format_report,
    list_class_folders,
)
from flowerkit.exceptions import BadFilesWarning, ConfigError, DatasetError
from flowerkit.images.decode import REASONS


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache folder, never the user's."""
    folder = tmp_path / "user-cache"
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    root = tmp_path_factory.mktemp("mixed") / "photos"
    return root, build_dataset(root)


@pytest.fixture(scope="module")
def mixed_report(mixed: tuple[Path, Expected]) -> DatasetReport:
    return check_images(mixed[0], cache=False)


def _rel(report: DatasetReport, path: Path) -> str:
    return path.relative_to(report.directory).as_posix()


Counter = Callable[[], int]


@pytest.fixture
def count_decodes(decoded: list[str]) -> Counter:
    """How many files were decoded so far."""
    return lambda: len(decoded)


def _small_folder(root: Path, sizes: dict[str, int]) -> Path:
    for c, (name, n) in enumerate(sizes.items()):
        for i in range(n):
            path = root / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode(noise((6, 8), seed=100 * c + i), "PNG"))
    return root


# ----------------------------------------------------------------- what the report says


def test_every_file_is_accounted_for(
    mixed: tuple[Path, Expected], mixed_report: DatasetReport
) -> None:
    root, exp = mixed
    report = mixed_report
    assert report.directory == root.absolute()
    assert report.class_names == ("cats", "dogs", "empty")
    used = {name: {_rel(report, f.path) for f in report.files if f.class_name == name}
            for name in report.class_names}  # fmt: skip
    assert used == exp.good
    assert {_rel(report, b.path): b.reason for b in report.bad_files} == exp.bad
    assert {_rel(report, i.path): i.reason for i in report.ignored} == exp.ignored
    assert report.counts == {name: len(paths) for name, paths in exp.good.items()}
    assert set(report.empty_classes) == exp.empty_classes
    assert all(i.reason in IGNORE_REASONS for i in report.ignored)
    assert all(b.reason in REASONS for b in report.bad_files)


def test_used_files_carry_their_facts(mixed_report: DatasetReport) -> None:
    by_key = {f.key: f for f in mixed_report.files}
    wide = by_key["dogs/wide.png"]
    assert (wide.width, wide.height, wide.label) == (10_000, 10, 1)
    rotated = by_key["cats/rotated.jpg"]
    assert (rotated.width, rotated.height) == (30, 20)  # upright after EXIF orientation 6
    assert by_key["cats/nested/deeper/inner.png"].class_name == "cats"
    data = Path(by_key["cats/baseline.jpg"].path).read_bytes()
    import hashlib

    assert by_key["cats/baseline.jpg"].sha256 == hashlib.sha256(data).hexdigest()
    assert len(by_key["cats/baseline.jpg"].pixel_sha256) == 64


def test_bad_file_messages_name_the_file_and_what_to_do(mixed_report: DatasetReport) -> None:
    for bad in mixed_report.bad_files:
        assert str(bad.path) in bad.message
        assert ";" in bad.message or "rename" in bad.message  # problem; advice
        assert bad.class_name in ("cats", "dogs")


def test_duplicates_and_label_conflicts(
    mixed: tuple[Path, Expected], mixed_report: DatasetReport
) -> None:
    _, exp = mixed
    report = mixed_report
    groups = [{_rel(report, p) for p in g.paths} for g in report.duplicates]
    assert sorted(map(sorted, groups)) == sorted(map(sorted, exp.duplicates))
    conflicts = [{_rel(report, p) for p in g.paths} for g in report.label_conflicts]
    assert sorted(map(sorted, conflicts)) == sorted(map(sorted, exp.conflicts))
    kinds = {min(_rel(report, p) for p in g.paths): g.same_bytes for g in report.duplicates}
    assert kinds == {
        "cats/baseline.jpg": True,  # byte-identical copies, one of them under "dogs"
        "cats/png_named.jpg": False,  # the same pixels as PNG and as BMP
        "dogs/UPPER.PNG": False,  # the same pixels at two PNG compression levels
    }
    for group in report.label_conflicts:
        assert group.class_names == ("cats", "dogs")
    # All copies stay in the data set: the user decides which label is right.
    used = {f.path for f in report.files}
    assert all(p in used for g in report.duplicates for p in g.paths)


def test_empty_class_makes_data_unusable(mixed_report: DatasetReport) -> None:
    assert not mixed_report.usable
    (problem,) = mixed_report.problems()
    assert "empty" in problem and "add images" in problem
    with pytest.raises(DatasetError, match="empty"):
        mixed_report.raise_if_unusable()


@pytest.mark.parametrize(
    ("sizes", "ratio", "flag"),
    [
        ({"a": 12, "b": 3}, 4.0, True),
        ({"a": 6, "b": 3}, 2.0, False),
        ({"a": 3, "b": 3}, 1.0, False),
    ],
)
def test_class_imbalance(tmp_path: Path, sizes: dict[str, int], ratio: float, flag: bool) -> None:
    report = check_images(_small_folder(tmp_path / "d", sizes))
    assert report.imbalance_ratio == pytest.approx(ratio)
    assert report.is_imbalanced is flag is (ratio > IMBALANCE_THRESHOLD)
    assert any("imbalanced" in n for n in report.notes()) is flag
    assert report.to_dict()["imbalance"]["imbalanced"] is flag


def test_follow_links_includes_linked_folders(mixed: tuple[Path, Expected]) -> None:
    root, exp = mixed
    if not exp.symlinks:
        pytest.skip("symlinks not available")
    report = check_images(root, follow_links=True, cache=False)
    keys = {f.key for f in report.files}
    assert "dogs/linked_folder/in_linked_folder.png" in keys
    assert "dogs/linked_folder" not in {_rel(report, i.path) for i in report.ignored}


def test_symlink_loop_terminates(tmp_path: Path) -> None:
    if not can_symlink(tmp_path):
        pytest.skip("symlinks not available")
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    os.symlink(root / "a", root / "a" / "loop")
    os.symlink(root, root / "b" / "up")
    report = check_images(root, follow_links=True, cache=False)
    assert report.counts["a"] == 2
    reasons = {_rel(report, i.path): i.reason for i in report.ignored}
    assert reasons["a/loop"] == "already_searched"
    # b/up leads back to the root: "a" is searched under b too, "b" is not searched twice.
    assert report.counts["b"] == 2 + 2
    assert reasons["b/up/b"] == reasons["b/up/a/loop"] == "already_searched"


def test_class_names_select_and_unknown_names_fail(mixed: tuple[Path, Expected]) -> None:
    root, _ = mixed
    report = check_images(root, class_names=["dogs", "cats"], cache=False)
    assert report.class_names == ("dogs", "cats")
    assert {f.label for f in report.files if f.class_name == "dogs"} == {0}
    assert ("empty", "class_not_selected") in {
        (_rel(report, i.path), i.reason) for i in report.ignored
    }
    assert report.usable
    with pytest.raises(DatasetError, match="birds"):
        check_images(root, class_names=["cats", "birds"])


def test_list_class_folders_skips_system_folders(mixed: tuple[Path, Expected]) -> None:
    assert list_class_folders(mixed[0]) == ["cats", "dogs", "empty"]


def test_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    try:
        name = os.fsdecode(b"bad-\xff.png")
        (root / "a" / name).write_bytes(encode(solid((1, 2, 3)), "PNG"))
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    report = check_images(root)
    (bad,) = report.bad_files
    assert (bad.reason, bad.class_name) == ("unreadable", "a")
    assert "rename" in bad.message
    report.to_json()  # still serialisable


def test_workers_give_the_same_report(mixed: tuple[Path, Expected]) -> None:
    root, _ = mixed
    one = check_images(root, workers=1, cache=False)
    two = check_images(root, workers=2, cache=False)
    assert one == two


@pytest.mark.parametrize(("option", "value"), [("workers", 0), ("workers", 1.5), ("cache", 3)])
def test_bad_options(tmp_path: Path, option: str, value: object) -> None:
    with pytest.raises(ConfigError, match=option):
        check_images(tmp_path, **{option: value})  # type: ignore[arg-type]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        check_images(tmp_path / "nope")


# ----------------------------------------------------------------------- text and JSON


def test_json_schema(mixed_report: DatasetReport) -> None:
    data = json.loads(mixed_report.to_json())
    assert data["schema_version"] == 1
    assert set(data) == {
        "schema_version", "directory", "usable", "problems", "notes", "summary",
        "class_names", "counts", "empty_classes", "imbalance", "files", "bad_files",
        "ignored", "duplicates", "totals",
    }  # fmt: skip
    assert data["usable"] is False and data["empty_classes"] == ["empty"]
    assert set(data["files"][0]) == {
        "path", "class_name", "label", "key", "width", "height", "sha256", "pixel_sha256"
    }  # fmt: skip
    assert set(data["bad_files"][0]) == {"path", "class_name", "reason", "message"}
    assert set(data["ignored"][0]) == {"path", "reason"}
    assert set(data["duplicates"][0]) == {"same_bytes", "label_conflict", "class_names", "files"}
    assert set(data["imbalance"]) == {"ratio", "threshold", "imbalanced", "largest", "smallest"}
    assert data["imbalance"]["ratio"] is None  # an empty class: no ratio
    totals = data["totals"]
    assert totals == {
        "used": len(mixed_report.files),
        "bad": len(mixed_report.bad_files),
        "ignored": len(mixed_report.ignored),
        "duplicate_groups": 3,
        "label_conflicts": 2,
    }


def test_text_report(mixed_report: DatasetReport) -> None:
    text = mixed_report.to_text()
    assert text == format_report(mixed_report)
    for words in ("Classes (3):", "Left out (", "[truncated]", "Ignored on purpose",
                  "LABEL CONFLICT", "NOT USABLE", "use --verbose"):  # fmt: skip
        assert words in text
    verbose = mixed_report.to_text(verbose=True)
    assert "[apple_double] cats/._baseline.jpg" in verbose
    assert "use --verbose" not in verbose
    summary = mixed_report.summary()
    assert "\n" not in summary and "left out" in summary and "across classes" in summary


def test_text_report_of_a_clean_folder(tmp_path: Path) -> None:
    report = check_images(_small_folder(tmp_path / "d", {"a": 3, "b": 3}))
    text = report.to_text()
    assert text.endswith("Usable for training: 6 images.")
    assert "Left out" not in text and report.notes() == []


# ------------------------------------------------------------------------------ cache


def test_second_check_does_not_decode(
    mixed: tuple[Path, Expected], private_cache: Path, decoded: list[str]
) -> None:
    root, _ = mixed
    first = check_images(root)
    assert len(decoded) == len(first.files) + len(first.bad_files)
    del decoded[:]
    second = check_images(root)
    assert second == first
    # Nothing is decoded again; only paths that cannot even be stat-ed (a broken link)
    # are looked at again, which costs one failed stat.
    assert decoded == [str(b.path) for b in first.bad_files if b.reason == "missing"]
    files = list((private_cache / "checks").iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"  # no temporary files left over


def test_cache_never_writes_next_to_the_data(tmp_path: Path, private_cache: Path) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    root.chmod(0o555)
    try:
        check_images(root)
    finally:
        root.chmod(0o755)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert (private_cache / "checks").is_dir()


def test_changed_added_and_deleted_files(tmp_path: Path, count_decodes: Counter) -> None:
    root = _small_folder(tmp_path / "d", {"a": 3, "b": 3})
    check_images(root)
    assert count_decodes() == 6
    (root / "a" / "0.png").write_bytes(b"")  # now broken
    (root / "b" / "new.png").write_bytes(encode(noise(seed=99), "PNG"))
    (root / "b" / "0.png").unlink()
    report = check_images(root)
    assert count_decodes() == 6 + 2  # only the changed and the new file
    assert [(b.path.name, b.reason) for b in report.bad_files] == [("0.png", "empty_file")]
    assert report.counts == {"a": 2, "b": 3}


def test_same_size_and_mtime_but_replaced_file(tmp_path: Path, count_decodes: Counter) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    check_images(root)
    target = root / "a" / "0.png"
    info = target.stat()
    replacement = tmp_path / "other.png"
    replacement.write_bytes(b"x" * info.st_size)
    os.utime(replacement, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(replacement, target)  # same size and mtime, new inode
    report = check_images(root)
    assert count_decodes() == 5
    assert [b.reason for b in report.bad_files] == ["not_an_image"]


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00\xff not json", b"[1, 2, 3]", b'{"format": "flowerkit-check-cache", "version": 1}',
     json.dumps({"format": "flowerkit-check-cache", "version": 1,
                 "decoder": _checkcache._decoder(), "entries": {"x": [1], "y": "z"}}).encode()],
)  # fmt: skip
def test_corrupt_cache_is_ignored(
    tmp_path: Path, private_cache: Path, count_decodes: Counter, garbage: bytes
) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    expected = check_images(root, cache=False)
    check_images(root)
    (cache_file,) = (private_cache / "checks").iterdir()
    cache_file.write_bytes(garbage)
    before = count_decodes()
    assert check_images(root) == expected
    assert count_decodes() == before + 4  # decoded again, then cached again
    assert check_images(root) == expected
    assert count_decodes() == before + 4


def test_corrupt_entries_for_one_file_are_ignored(
    tmp_path: Path, private_cache: Path, count_decodes: Counter
) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    expected = check_images(root)
    (cache_file,) = (private_cache / "checks").iterdir()
    data = json.loads(cache_file.read_text())
    key = str(root / "a" / "0.png")
    data["entries"][key][4] = 42  # reason must be a string or null
    cache_file.write_text(json.dumps(data))
    assert check_images(root) == expected
    assert count_decodes() == 4 + 1


def test_unwritable_cache_is_ignored(tmp_path: Path, count_decodes: Counter) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    first = check_images(root, cache=blocker)
    second = check_images(root, cache=blocker)
    assert first == second
    assert count_decodes() == 8  # no cache, no failure
    assert blocker.read_text().startswith("a file")


def test_cache_false_and_explicit_folder(
    tmp_path: Path, private_cache: Path, count_decodes: Counter
) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    check_images(root, cache=False)
    check_images(root, cache=False)
    assert count_decodes() == 8
    assert not private_cache.exists()
    elsewhere = tmp_path / "elsewhere"
    check_images(root, cache=elsewhere)
    check_images(root, cache=str(elsewhere))
    assert count_decodes() == 12
    assert len(list((elsewhere / "checks").iterdir())) == 1


def test_old_cache_files_are_pruned(tmp_path: Path, private_cache: Path) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    check_images(root)
    (current,) = (private_cache / "checks").iterdir()
    stale = private_cache / "checks" / "0123456789abcdef01234567.json"
    stray = private_cache / "checks" / ".tmp-abc.json"
    recent = private_cache / "checks" / "fedcba9876543210fedcba98.json"
    for path in (stale, stray, recent):
        path.write_text("{}")
    old = time.time() - (_checkcache.MAX_AGE_DAYS + 1) * 86_400
    for path in (stale, stray, current):
        os.utime(path, (old, old))
    (root / "a" / "new.png").write_bytes(encode(noise(seed=7), "PNG"))
    check_images(root)  # writes the cache, then prunes
    assert sorted(p.name for p in (private_cache / "checks").iterdir()) == sorted(
        [current.name, recent.name]
    )


def test_a_cache_file_in_use_is_not_pruned_as_old(tmp_path: Path, private_cache: Path) -> None:
    unchanged = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    check_images(unchanged)
    (kept,) = (private_cache / "checks").iterdir()
    old = time.time() - (_checkcache.MAX_AGE_DAYS + 1) * 86_400
    os.utime(kept, (old, old))
    check_images(unchanged)  # nothing new to write: the file is marked as used
    assert kept.stat().st_mtime > time.time() - 3600
    check_images(_small_folder(tmp_path / "e", {"a": 2, "b": 2}))  # writes, then prunes
    assert kept.exists()


def test_default_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(tmp_path / "a"))
    assert _checkcache.default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FLOWERKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _checkcache.default_cache_dir() == tmp_path / "xdg" / "flowerkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if os.name != "nt":
        assert _checkcache.default_cache_dir() == tmp_path / "home" / ".cache" / "flowerkit"


# ---------------------------------------------------------------- the training pipeline


def test_load_datasets_iterates_a_full_epoch_over_the_good_files(
    tmp_path: Path,
) -> None:
    from flowerkit.data.loading import load_datasets

    root = tmp_path / "photos"
    exp = build_dataset(root, with_empty_class=False)
    with pytest.warns(BadFilesWarning, match="left out"):
        data = load_datasets(root, image_size=(24, 24), batch_size=5, seed=3, cache=False)
    good = {str(root.absolute() / rel) for paths in exp.good.values() for rel in paths}
    used = {str(p) for p in (*data.train_files, *data.validation_files)}
    assert used == good
    assert data.report is not None
    assert {str(b.path) for b in data.report.bad_files} == {
        str(root.absolute() / rel) for rel in exp.bad
    }
    for dataset, files in (
        (data.train, data.train_files),
        (data.validation, data.validation_files),
    ):
        assert dataset is not None
        seen = 0
        for images, labels in dataset:
            assert images.dtype.name == "uint8" and images.shape[1:] == (24, 24, 3)
            assert np.all(labels.numpy() < 2)
            seen += int(images.shape[0])
        assert seen == len(files)


def test_training_over_the_mixed_folder_finishes(tmp_path: Path) -> None:
    """Bad files in the folder never reach, or stop, training."""
    import flowerkit as fk

    root = tmp_path / "photos"
    build_dataset(root, with_empty_class=False)
    with pytest.warns(BadFilesWarning, match="left out"):
        data = fk.load_datasets(root, image_size=16, batch_size=4, seed=3)
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=16, seed=1)
    history = clf.fit(data, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))
    assert clf.evaluate(data).num_samples == len(data.validation_files)


def test_progress_is_reported_for_files_decoded(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    build_dataset(root, with_empty_class=False)
    calls: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            calls.append((done, total))

    report = check_images(root, cache=tmp_path / "cache", progress=progress)
    total = len(report.files) + len(report.bad_files)
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == list(range(1, total + 1))
    calls.clear()
    check_images(root, cache=tmp_path / "cache", progress=progress)
    # Only results that may be transient (a missing or unreadable file) are probed again.
    transient = sum(b.reason in ("missing", "unreadable") for b in report.bad_files)
    assert transient >= 1
    assert calls[-1:] == [(transient, transient)]


def test_a_bad_pixel_limit_is_one_clear_error_not_a_bad_file_each(
    make_folder: MakeFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(per_class=2)
    monkeypatch.setenv("FLOWERKIT_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="FLOWERKIT_MAX_PIXELS"):
        check_images(folder)
    monkeypatch.setenv("FLOWERKIT_MAX_PIXELS", "100")  # below a 40x48 image
    report = check_images(folder)
    assert {bad.reason for bad in report.bad_files} == {"too_large"}
    monkeypatch.delenv("FLOWERKIT_MAX_PIXELS")
    assert check_images(folder).bad_files == ()  # the cached results did not stick


def test_an_unlistable_data_folder_is_a_dataset_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _small_folder(tmp_path / "d", {"a": 1, "b": 1})
    real_scandir = os.scandir

    def refuse(path: object) -> object:  # root reads anything: refuse like a locked folder
        if Path(str(path)) == root:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", refuse)
    for call in (lambda: list_class_folders(root), lambda: check_images(root)):
        with pytest.raises(DatasetError, match=r"Cannot list the data folder .*Permission denied"):
            call()


def test_one_duplicate_group_is_counted_in_the_singular(tmp_path: Path) -> None:
    root = _small_folder(tmp_path / "d", {"a": 2, "b": 2})
    (root / "b" / "copy.png").write_bytes((root / "a" / "0.png").read_bytes())
    text = format_report(check_images(root))
    assert "Duplicates (1 group, 1 across classes" in text
