"""The optional test split: stable, disjoint, stratified; its pipeline; reports naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import flowerkit as fk
from conftest import COLOURS, LABELS, PROBS, MakeFolder, write_colour_image
from flowerkit.data import labelled_batches, split_files
from flowerkit.data.checking import ImageFile
from flowerkit.data.loading import _unit_hash
from flowerkit.evaluation import EvaluationReport
from flowerkit.exceptions import ConfigError, DatasetError
from flowerkit.images.decode import load_image

SIZE = 16
NAMES = tuple(COLOURS)


def _split_of(ds: fk.Datasets) -> dict[str, str]:
    """Every file's split, by path."""
    out = {p.as_posix(): "train" for p in ds.train_files}
    out.update({p.as_posix(): "validation" for p in ds.validation_files})
    out.update({p.as_posix(): "test" for p in ds.test_files})
    return out


def _files(per_class: dict[str, int]) -> list[ImageFile]:
    """Synthetic ImageFiles (nothing on disk): ``per_class[name]`` files per class."""
    return [
        ImageFile(Path(f"/d/{name}/f{i}.png"), label, name, f"{name}/f{i}.png")
        for label, (name, n) in enumerate(per_class.items())
        for i in range(n)
    ]


def _epoch(dataset: object) -> tuple[np.ndarray, np.ndarray]:
    batches = list(dataset)  # type: ignore[call-overload]
    images = np.concatenate([np.asarray(x) for x, _ in batches])
    labels = np.concatenate([np.asarray(y) for _, y in batches])
    return images, labels


@pytest.fixture(scope="module")
def folder(make_folder: MakeFolder) -> Path:
    """3 classes x 40 PNGs of 16x16 (read-only)."""
    return make_folder(per_class=40, size=(SIZE, SIZE))


@pytest.fixture(scope="module")
def three_way(folder: Path) -> fk.Datasets:
    return fk.load_datasets(
        folder,
        image_size=SIZE,
        batch_size=8,
        validation_split=0.2,
        test_split=0.25,
        seed=7,
        check_cache=False,
    )


# --------------------------------------------------------------------------- the rule


def test_three_splits_are_disjoint_and_cover_every_usable_file(three_way: fk.Datasets) -> None:
    train, val, test = (
        set(three_way.train_files),
        set(three_way.validation_files),
        set(three_way.test_files),
    )
    assert not train & val and not train & test and not val & test
    assert three_way.report is not None
    assert train | val | test == {f.path for f in three_way.report.files}
    assert len(train) + len(val) + len(test) == 120
    assert three_way.test is not None and three_way.validation is not None


def test_files_go_where_their_hash_says(three_way: fk.Datasets) -> None:
    """40 files a class are enough for no per-class correction: the interval rule is exact."""
    assert three_way.report is not None
    where = _split_of(three_way)
    for f in three_way.report.files:
        u = _unit_hash(7, f.key)
        expected = "validation" if u < 0.2 else "test" if u < 0.45 else "train"
        assert where[f.path.as_posix()] == expected, (f.key, u)


def test_every_class_is_in_every_split(three_way: fk.Datasets) -> None:
    counts = three_way.counts
    assert set(counts) == {"train", "validation", "test"}
    for name in NAMES:
        assert counts["train"][name] > 0
        assert counts["validation"][name] > 0
        assert counts["test"][name] > 0
        assert sum(counts[s][name] for s in counts) == 40
    assert three_way.class_counts("test") == counts["test"]
    assert sum(counts["test"].values()) == len(three_way.test_files)


def test_split_is_stable_when_files_are_added(make_folder: MakeFolder) -> None:
    root = make_folder(per_class=30, size=(8, 8))
    kwargs = {"image_size": 8, "validation_split": 0.2, "test_split": 0.2, "seed": 3}
    before = _split_of(fk.load_datasets(root, **kwargs))  # type: ignore[arg-type]
    for i in range(12):
        name = ("red", "blue")[i % 2]
        write_colour_image(root / name / f"new_{i}.png", COLOURS[name], size=(8, 8), seed=500 + i)
    after = _split_of(fk.load_datasets(root, **kwargs))  # type: ignore[arg-type]
    assert len(after) == len(before) + 12
    assert {p: after[p] for p in before} == before
    assert {after[p] for p in after if p not in before} <= {"train", "validation", "test"}


def test_test_split_zero_is_exactly_the_two_way_split(folder: Path) -> None:
    old = fk.load_datasets(folder, image_size=SIZE, seed=7, check_cache=False, cache=False)
    zero = fk.load_datasets(
        folder, image_size=SIZE, seed=7, test_split=0.0, check_cache=False, cache=False
    )
    assert (zero.train_files, zero.train_labels) == (old.train_files, old.train_labels)
    assert (zero.validation_files, zero.validation_labels) == (
        old.validation_files,
        old.validation_labels,
    )
    assert zero.test is None and zero.test_files == () and zero.test_labels == ()
    assert "test" not in zero.counts
    assert zero.class_counts("test") == dict.fromkeys(NAMES, 0)


def test_a_test_split_takes_files_from_training_only(folder: Path, three_way: fk.Datasets) -> None:
    two_way = fk.load_datasets(folder, image_size=SIZE, seed=7, check_cache=False, cache=False)
    assert three_way.validation_files == two_way.validation_files
    assert set(three_way.test_files) <= set(two_way.train_files)
    assert set(three_way.train_files) == set(two_way.train_files) - set(three_way.test_files)


def test_split_files_keeps_its_two_way_form() -> None:
    files = _files({"a": 50, "b": 7, "c": 2})
    two = split_files(files, 0.2, seed=4)
    assert len(two) == 2
    train, val, test = split_files(files, 0.2, seed=4, test_split=0.0)
    assert (train, val) == two and test == []
    t3, v3, s3 = split_files(list(reversed(files)), 0.2, seed=4, test_split=0.3)
    assert v3 == val  # the same validation files with a test split
    assert (t3, v3, s3) == split_files(files, 0.2, seed=4, test_split=0.3)  # order-free
    assert sorted(t3 + v3 + s3, key=lambda f: f.key) == sorted(files, key=lambda f: f.key)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_small_classes_keep_a_file_in_each_split_they_can(n: int) -> None:
    files = _files({"a": n, "b": n})
    for seed in range(150):
        train, val, test = split_files(files, 0.1, seed=seed, test_split=0.1)
        for name in ("a", "b"):
            sizes = [sum(f.class_name == name for f in part) for part in (train, val, test)]
            assert sum(sizes) == n
            assert sizes[0] >= 1 and sizes[1] >= 1, (seed, sizes)
            # Three or more files: one in test too. Two: training and validation first.
            if n == 2:
                assert sizes[2] == 0, (seed, sizes)
            else:
                assert sizes[2] >= 1, (seed, sizes)


def test_test_split_without_validation_split() -> None:
    files = _files({"a": 20, "b": 3})
    train, val, test = split_files(files, 0.0, seed=1, test_split=0.3)
    assert val == []
    assert {f.class_name for f in test} == {"a", "b"}
    assert {f.class_name for f in train} == {"a", "b"}


def test_each_class_gets_its_share_of_test_files() -> None:
    files = _files({"a": 400, "b": 400})
    _, val, test = split_files(files, 0.2, seed=9, test_split=0.1)
    for name in ("a", "b"):
        assert 0.06 < sum(f.class_name == name for f in test) / 400 < 0.14
        assert 0.15 < sum(f.class_name == name for f in val) / 400 < 0.25


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("validation_split", "test_split", "bad"),
    [
        (0.2, -0.1, "test_split"),
        (0.2, 1.0, "test_split"),
        (0.2, "0.1", "test_split"),
        (0.2, True, "test_split"),
        (0.5, 0.5, "less than 1"),
        (0.7, 0.4, "less than 1"),
        (1.0, 0.0, "validation_split"),
    ],
)
def test_bad_fractions_raise_config_error(
    folder: Path, validation_split: object, test_split: object, bad: str
) -> None:
    with pytest.raises(ConfigError, match=bad):
        fk.load_datasets(
            folder,
            image_size=SIZE,
            validation_split=validation_split,  # type: ignore[arg-type]
            test_split=test_split,  # type: ignore[arg-type]
        )
    with pytest.raises(ConfigError, match=bad):
        split_files(_files({"a": 4}), validation_split, seed=1, test_split=test_split)  # type: ignore[arg-type]


def test_keras_split_has_no_test_split(folder: Path) -> None:
    with pytest.raises(ConfigError, match="split='stratified'"):
        fk.load_datasets(folder, image_size=SIZE, split="keras", test_split=0.1)
    # test_split=0 keeps working with the keras rule.
    ds = fk.load_datasets(folder, image_size=SIZE, split="keras", test_split=0.0, cache=False)
    assert ds.test is None and ds.test_files == ()


def test_a_test_split_needs_a_seed(folder: Path) -> None:
    with pytest.raises(ConfigError, match="seed"):
        fk.load_datasets(folder, image_size=SIZE, validation_split=0, test_split=0.2, seed=None)


def test_an_empty_test_split_raises_dataset_error(make_folder: MakeFolder) -> None:
    # Classes of two files keep one training and one validation file: nothing for test.
    root = make_folder(per_class=2, size=(8, 8))
    with pytest.raises(DatasetError, match=r"test_split=0\.2 leaves no test images"):
        fk.load_datasets(root, image_size=8, validation_split=0.2, test_split=0.2, seed=1)


# --------------------------------------------------------------------------- pipelines


@pytest.mark.parametrize("cache", [True, False, "disk"])
def test_test_pipeline_yields_test_files_in_order(
    folder: Path, tmp_path: Path, cache: bool | str
) -> None:
    where: bool | Path = tmp_path / "cache" if cache == "disk" else bool(cache)
    ds = fk.load_datasets(
        folder,
        image_size=SIZE,
        batch_size=8,
        validation_split=0.2,
        test_split=0.25,
        seed=7,
        cache=where,
        check_cache=False,
    )
    assert ds.cache == where
    assert ds.test is not None
    images, labels = _epoch(ds.test)
    assert len(images) == len(ds.test_files)
    for i, path in enumerate(ds.test_files):
        np.testing.assert_array_equal(images[i], load_image(path, (SIZE, SIZE)))
    assert labels.tolist() == list(ds.test_labels)
    assert [ds.class_names[y] for y in ds.test_labels] == [p.parent.name for p in ds.test_files]
    again, _ = _epoch(ds.test)  # a fixed order, every epoch
    np.testing.assert_array_equal(again, images)
    if isinstance(where, Path):
        assert sorted(p.name for p in where.iterdir()) == ["test", "train", "validation"]
        assert any((where / "test").iterdir())


def test_in_memory_cache_decodes_test_files_before_returning(
    folder: Path, tmp_path: Path, decoded: list[str]
) -> None:
    kwargs = {"image_size": SIZE, "test_split": 0.25, "seed": 7, "check_cache": tmp_path}
    fk.load_datasets(folder, cache=False, **kwargs)  # type: ignore[arg-type]
    del decoded[:]
    # The check now finds every file in its cache: load_datasets decodes for the pipeline.
    ds = fk.load_datasets(folder, cache=True, **kwargs)  # type: ignore[arg-type]
    assert ds.cache is True and ds.test is not None
    assert {str(p) for p in ds.test_files} <= set(decoded)
    del decoded[:]
    images, _ = _epoch(ds.test)
    assert decoded == []  # gathered from the filled in-memory cache
    for i, path in enumerate(ds.test_files):
        np.testing.assert_array_equal(images[i], load_image(path, (SIZE, SIZE)))


def test_datasets_built_without_test_fields() -> None:
    ds = fk.Datasets(
        train=None,
        validation=None,
        class_names=NAMES,
        train_files=(Path("a.png"), Path("b.png")),
        train_labels=(0, 1),
        validation_files=(),
        validation_labels=(),
        image_size=(8, 8),
        batch_size=2,
        seed=1,
        split="stratified",
    )
    assert ds.test is None and ds.test_files == () and ds.test_labels == ()
    assert set(ds.counts) == {"train", "validation"}
    with pytest.raises(ConfigError, match="subset"):
        ds.class_counts("holdout")  # type: ignore[arg-type]


def test_labelled_batches_of_the_test_split(three_way: fk.Datasets) -> None:
    batches, paths = labelled_batches(
        three_way, class_names=NAMES, image_size=(SIZE, SIZE), subset="test"
    )
    assert batches is three_way.test
    assert paths == [str(p) for p in three_way.test_files]
    batches, paths = labelled_batches(three_way, class_names=NAMES, image_size=(SIZE, SIZE))
    assert batches is three_way.validation
    assert paths == [str(p) for p in three_way.validation_files]
    with pytest.raises(ConfigError, match="subset"):
        labelled_batches(
            three_way,
            class_names=NAMES,
            image_size=(SIZE, SIZE),
            subset="train",  # type: ignore[arg-type]
        )


def test_labelled_batches_without_a_test_split(folder: Path) -> None:
    ds = fk.load_datasets(folder, image_size=SIZE, seed=7, cache=False, check_cache=False)
    with pytest.raises(ConfigError, match="no test split"):
        labelled_batches(ds, class_names=NAMES, image_size=(SIZE, SIZE), subset="test")


def test_labelled_batches_ignores_subset_for_folders_and_pipelines(
    folder: Path, three_way: fk.Datasets
) -> None:
    _, paths = labelled_batches(folder, class_names=NAMES, image_size=(SIZE, SIZE), subset="test")
    assert paths is not None and len(paths) == 120  # every image of the folder
    assert three_way.test is not None
    same, none = labelled_batches(
        three_way.test, class_names=NAMES, image_size=(SIZE, SIZE), subset="test"
    )
    assert same is three_way.test and none is None


# --------------------------------------------------------------------------- the report


def _report(split: str | None) -> EvaluationReport:
    return EvaluationReport.from_predictions(
        LABELS, PROBS, ["a", "b", "c"], file_paths=[f"f{i}.png" for i in range(5)], split=split
    )


def test_report_split_round_trips() -> None:
    report = _report("test")
    assert report.split == "test"
    data = report.to_dict()
    assert data["split"] == "test" and data["schema_version"] == 1
    assert EvaluationReport.from_dict(data) == report
    assert EvaluationReport.from_dict(json.loads(report.to_json())) == report
    unknown = _report(None)
    assert "split" not in unknown.to_dict()  # the keys a report always had, no more
    assert EvaluationReport.from_dict(unknown.to_dict()) == unknown
    assert report != unknown


def test_report_saved_without_split_still_loads() -> None:
    old = _report("test").to_dict()
    del old["split"]
    loaded = EvaluationReport.from_dict(old)
    assert loaded.split is None
    assert loaded == _report(None)
    assert EvaluationReport.from_dict({**old, "split": None}) == loaded
    with pytest.raises(ConfigError, match="split"):
        EvaluationReport.from_dict({**old, "split": 3})


def test_report_renderings_name_the_split(tmp_path: Path) -> None:
    report = _report("test")
    text = report.to_text()
    assert text.splitlines()[0] == "split: test"
    assert "split: test" in report.to_markdown().splitlines()
    assert "split:" not in _report(None).to_text()
    assert "split:" not in _report(None).to_markdown()
    page = report.to_html(tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h1>Evaluation report</h1>" in page
    assert " images of the test split in " in page
    titled = report.to_html(tmp_path / "t.html", title="Mine").read_text(encoding="utf-8")
    assert "<h1>Mine</h1>" in titled and " of the test split " in titled
    unknown = _report(None).to_html(tmp_path / "u.html").read_text(encoding="utf-8")
    assert " split " not in unknown


@pytest.mark.parametrize("bad", ["", 3, ["test"]])
def test_report_split_must_be_a_name(bad: object) -> None:
    with pytest.raises(ConfigError, match="split"):
        _report(bad)  # type: ignore[arg-type]
