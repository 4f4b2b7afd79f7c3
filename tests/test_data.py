"""load_datasets: splits, pipeline shapes, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import flowerkit as fk
from conftest import COLOURS, MakeFolder, write_colour_image
from flowerkit.data.loading import split_files
from flowerkit.exceptions import ConfigError, DatasetError
from flowerkit.images.decode import load_image


def _split_of(ds: fk.Datasets) -> dict[str, str]:
    out = {p.as_posix(): "train" for p in ds.train_files}
    out.update({p.as_posix(): "validation" for p in ds.validation_files})
    return out


def test_shapes_dtypes_and_counts(colour_folder: Path) -> None:
    ds = fk.load_datasets(colour_folder, image_size=(24, 28), batch_size=8, seed=3, cache=False)
    images, labels = next(iter(ds.train))
    assert images.dtype.name == "uint8" and labels.dtype.name == "int32"
    assert tuple(images.shape) == (8, 24, 28, 3)
    assert tuple(labels.shape) == (8,)
    assert ds.class_names == ("blue", "green", "red")
    total = sum(ds.counts["train"].values()) + sum(ds.counts["validation"].values())
    assert total == 90 == len(ds.train_files) + len(ds.validation_files)
    n_val = sum(int(x.shape[0]) for x, _ in ds.validation)
    assert n_val == len(ds.validation_files)


def test_split_is_disjoint_and_stratified(make_folder: MakeFolder) -> None:
    folder = make_folder(per_class=200, size=(8, 8))
    ds = fk.load_datasets(folder, image_size=8, seed=11)
    assert not set(ds.train_files) & set(ds.validation_files)
    for name in ds.class_names:
        val = ds.counts["validation"][name]
        frac = val / (val + ds.counts["train"][name])
        assert 0.13 < frac < 0.27, (name, frac)


def test_small_class_keeps_one_file_each_side(make_folder: MakeFolder) -> None:
    folder = make_folder(per_class=2, size=(8, 8))
    ds = fk.load_datasets(folder, image_size=8, seed=5)
    assert all(n == 1 for n in ds.counts["validation"].values())
    assert all(n == 1 for n in ds.counts["train"].values())


def test_split_is_deterministic_across_processes(colour_folder: Path) -> None:
    here = _split_of(fk.load_datasets(colour_folder, image_size=8, seed=123))
    code = (
        "import json, sys, flowerkit as fk\n"
        f"ds = fk.load_datasets({str(colour_folder)!r}, image_size=8, seed=123)\n"
        "print(json.dumps({'t': [p.as_posix() for p in ds.train_files],"
        " 'v': [p.as_posix() for p in ds.validation_files]}))\n"
    )
    env = {"PYTHONHASHSEED": "987", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    there = json.loads(out.strip().splitlines()[-1])
    assert here == {**dict.fromkeys(there["t"], "train"), **dict.fromkeys(there["v"], "validation")}


def test_split_depends_on_seed(colour_folder: Path) -> None:
    a = fk.load_datasets(colour_folder, image_size=8, seed=1).validation_files
    b = fk.load_datasets(colour_folder, image_size=8, seed=2).validation_files
    assert set(a) != set(b)


def test_split_is_stable_when_files_are_added(make_folder: MakeFolder) -> None:
    folder = make_folder(per_class=40, size=(8, 8))
    before = _split_of(fk.load_datasets(folder, image_size=8, seed=7))
    for i in range(15):
        write_colour_image(
            folder / "red" / f"new_{i}.png", COLOURS["red"], size=(8, 8), seed=9000 + i
        )
    after = _split_of(fk.load_datasets(folder, image_size=8, seed=7))
    assert len(after) == len(before) + 15
    assert {p: after[p] for p in before} == before


def test_split_ignores_listing_order() -> None:
    from flowerkit.data.checking import ImageFile

    files = [
        ImageFile(Path(f"/d/c{i % 2}/f{i}.png"), i % 2, f"c{i % 2}", f"c{i % 2}/f{i}.png")
        for i in range(60)
    ]
    t1, v1 = split_files(files, 0.2, seed=4)
    t2, v2 = split_files(list(reversed(files)), 0.2, seed=4)
    assert (t1, v1) == (t2, v2)


def test_keras_split_matches_keras(make_folder: MakeFolder) -> None:
    import keras

    folder = make_folder(per_class=17, suffix=".jpg", size=(12, 12))
    ours = fk.load_datasets(folder, image_size=12, split="keras", seed=123)
    train, val = keras.utils.image_dataset_from_directory(
        folder,
        validation_split=0.2,
        subset="both",
        seed=123,
        image_size=(12, 12),
        batch_size=32,
        verbose=False,
    )
    assert [str(p) for p in ours.validation_files] == list(val.file_paths)
    assert sorted(str(p) for p in ours.train_files) == sorted(train.file_paths)
    keras_labels = np.concatenate([y.numpy() for _, y in val])
    assert list(ours.validation_labels) == keras_labels.tolist()


def test_pipeline_pixels_equal_load_image(colour_folder: Path) -> None:
    """No train/serve skew: the pipeline yields exactly load_image's pixels."""
    ds = fk.load_datasets(colour_folder, image_size=(20, 30), batch_size=4, seed=2)
    assert ds.validation is not None
    images, _ = next(iter(ds.validation))
    for i in range(4):
        expected = load_image(ds.validation_files[i], (20, 30))
        np.testing.assert_array_equal(images[i].numpy(), expected)


def test_training_order_reshuffles_each_epoch(colour_folder: Path) -> None:
    ds = fk.load_datasets(colour_folder, image_size=8, batch_size=100, seed=2)
    first = next(iter(ds.train))[1].numpy().tolist()
    second = next(iter(ds.train))[1].numpy().tolist()
    assert sorted(first) == sorted(second) and first != second


def test_disk_cache_folder(colour_folder: Path, tmp_path: Path) -> None:
    ds = fk.load_datasets(colour_folder, image_size=8, seed=2, cache=tmp_path / "cache")
    n = sum(int(x.shape[0]) for x, _ in ds.train)
    assert n == len(ds.train_files)
    assert any((tmp_path / "cache" / "train").iterdir())


def test_validation_split_zero(colour_folder: Path) -> None:
    ds = fk.load_datasets(colour_folder, image_size=8, validation_split=0)
    assert ds.validation is None and len(ds.train_files) == 90


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"image_size": (0, 10)}, "image_size"),
        ({"image_size": "big"}, "image_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": -0.1}, "validation_split"),
        ({"split": "random"}, "split"),
        ({"seed": None}, "seed"),
        ({"seed": -1}, "seed"),
        ({"on_bad_file": "ignore"}, "on_bad_file"),
        ({"cache": 3}, "cache"),
    ],
)
def test_bad_arguments_name_the_argument(
    colour_folder: Path, kwargs: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        fk.load_datasets(colour_folder, **kwargs)  # type: ignore[arg-type]
    assert "Received" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        fk.load_datasets(tmp_path / "nope")


def test_file_instead_of_folder(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("hi")
    with pytest.raises(DatasetError, match="is a file"):
        fk.load_datasets(f)


def test_folder_without_classes(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no class sub-folders"):
        fk.load_datasets(tmp_path)


def test_single_class(make_folder: MakeFolder) -> None:
    folder = make_folder(per_class=3, classes={"only": (1, 2, 3)}, size=(8, 8))
    with pytest.raises(DatasetError, match="only one class"):
        fk.load_datasets(folder)


def test_no_images_in_classes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match="no usable images"):
        fk.load_datasets(tmp_path)


def test_empty_class_folder(make_folder: MakeFolder, tmp_path: Path) -> None:
    folder = make_folder(per_class=3, size=(8, 8))
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    (target / "zebra").mkdir()
    with pytest.raises(DatasetError, match="zebra"):
        fk.load_datasets(target)


def test_class_names_select_and_order(colour_folder: Path) -> None:
    ds = fk.load_datasets(colour_folder, image_size=8, class_names=["red", "blue"])
    assert ds.class_names == ("red", "blue")
    assert set(ds.counts["train"]) == {"red", "blue"}
    with pytest.raises(DatasetError, match="purple"):
        fk.load_datasets(colour_folder, class_names=["red", "purple"])
