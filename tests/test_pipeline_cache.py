"""Where load_datasets keeps decoded images, and that a cold load decoded each file once."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import flowerkit as fk
import flowerkit.core.memory
import flowerkit.images.decode
from conftest import MakeFolder
from flowerkit.data.checking import check_and_decode
from flowerkit.images.decode import load_image

SIZE = (20, 30)


def _epoch(data: fk.Datasets) -> tuple[np.ndarray, np.ndarray]:
    """Every image and label of the validation split, after one pass over both splits."""
    train = sum(int(x.shape[0]) for x, _ in data.train)
    assert train == len(data.train_files)
    assert data.validation is not None
    batches = list(data.validation)
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    return images, labels


def _low_memory(monkeypatch: pytest.MonkeyPatch, free_disk: int | None = None) -> None:
    monkeypatch.setattr(flowerkit.core.memory, "available_memory", lambda: 10_000)
    if free_disk is not None:
        monkeypatch.setattr(flowerkit.core.memory, "free_disk", lambda folder: free_disk)


def test_cold_load_decoded_each_file_once(
    make_folder: MakeFolder, tmp_path: Path, decoded: list[str]
) -> None:
    root = make_folder(per_class=8, suffix=".jpg")
    data = fk.load_datasets(root, image_size=SIZE, batch_size=4, seed=1, check_cache=tmp_path)
    images, labels = _epoch(data)
    _epoch(data)  # a second epoch comes from the cache
    assert data.cache is True
    assert sorted(decoded) == sorted(str(p) for p in (*data.train_files, *data.validation_files))
    # What the check decoded is exactly what the pipeline would have decoded itself.
    for i, path in enumerate(data.validation_files):
        np.testing.assert_array_equal(images[i], load_image(path, SIZE))
    assert labels.tolist() == list(data.validation_labels)


def test_a_checked_folder_is_decoded_once_by_load_datasets(
    make_folder: MakeFolder, tmp_path: Path, decoded: list[str]
) -> None:
    root = make_folder(per_class=6, suffix=".png")
    fk.load_datasets(root, image_size=SIZE, seed=1, check_cache=tmp_path)
    del decoded[:]
    data = fk.load_datasets(root, image_size=SIZE, batch_size=4, seed=1, check_cache=tmp_path)
    # The check found every file in its cache; the images were decoded for the pipeline.
    assert sorted(decoded) == sorted(str(p) for p in (*data.train_files, *data.validation_files))
    images, _ = _epoch(data)
    _epoch(data)
    assert len(decoded) == len(data.train_files) + len(data.validation_files)
    np.testing.assert_array_equal(images[0], load_image(data.validation_files[0], SIZE))


def test_in_memory_order_depends_on_seed_and_epoch_only(colour_folder: Path) -> None:
    import tensorflow as tf

    def orders(seed: int) -> list[list[int]]:
        data = fk.load_datasets(colour_folder, image_size=8, batch_size=100, seed=seed)
        return [next(iter(data.train))[1].numpy().tolist() for _ in range(3)]

    first = orders(5)
    tf.random.set_seed(99)  # TensorFlow's global random state plays no part
    assert orders(5) == first
    assert len({tuple(o) for o in first}) == 3  # a new order every epoch
    assert orders(6) != first


def test_auto_cache_goes_to_disk_when_memory_is_short(
    make_folder: MakeFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoded: list[str]
) -> None:
    root = make_folder(per_class=6)
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(tmp_path / "fkcache"))
    _low_memory(monkeypatch)
    with pytest.warns(fk.FlowerkitWarning, match="disk cache") as caught:
        data = fk.load_datasets(root, image_size=SIZE, batch_size=4, seed=1)
    assert len(caught) == 1 and caught[0].filename == __file__
    assert data.cache == tmp_path / "fkcache" / "datasets"
    images, _ = _epoch(data)
    # Nothing was kept in memory: the check decoded to check, the first epoch to cache.
    assert len(decoded) == 2 * (len(data.train_files) + len(data.validation_files))
    assert any((data.cache / "train").iterdir()) and any((data.cache / "validation").iterdir())
    np.testing.assert_array_equal(images[-1], load_image(data.validation_files[-1], SIZE))


def test_auto_cache_is_off_when_disk_is_short_too(
    make_folder: MakeFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder(per_class=6)
    _low_memory(monkeypatch, free_disk=0)
    with pytest.warns(fk.FlowerkitWarning, match="decoding them every epoch"):
        data = fk.load_datasets(root, image_size=SIZE, batch_size=4, seed=1)
    assert data.cache is False
    first, _ = _epoch(data)
    second, _ = _epoch(data)
    np.testing.assert_array_equal(first, second)


def test_an_explicit_cache_overrides_the_estimate(
    make_folder: MakeFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoded: list[str]
) -> None:
    root = make_folder(per_class=6)
    _low_memory(monkeypatch, free_disk=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        in_memory = fk.load_datasets(root, image_size=SIZE, seed=1, cache=True, check_cache=False)
        nowhere = fk.load_datasets(root, image_size=SIZE, seed=1, cache=False)
        folder = fk.load_datasets(root, image_size=SIZE, seed=1, cache=tmp_path / "mine")
    assert (in_memory.cache, nowhere.cache, folder.cache) == (True, False, tmp_path / "mine")
    del decoded[:]
    _epoch(in_memory)
    assert decoded == []  # filled by the check, although memory looked short


def test_image_dataset_auto_cache_follows_the_same_rule(
    make_folder: MakeFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder(per_class=3)
    paths = sorted(root.rglob("*.png"))
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(tmp_path))
    _low_memory(monkeypatch)
    with pytest.warns(fk.FlowerkitWarning, match="disk cache"):
        ds = fk.image_dataset(paths, image_size=SIZE, batch_size=4)
    images = np.concatenate([x.numpy() for x in ds])
    np.testing.assert_array_equal(images[3], load_image(paths[3], SIZE))
    assert any((tmp_path / "datasets").iterdir())


def test_check_keeps_no_images_over_the_byte_limit(make_folder: MakeFolder) -> None:
    root = make_folder(per_class=3)
    report, decoded = check_and_decode(root, cache=False, image_size=SIZE)
    assert decoded is not None and decoded.images.shape == (9, *SIZE, 3)
    assert int(decoded.ready.sum()) == len(report.files) == 9
    for f in report.files:
        np.testing.assert_array_equal(
            decoded.images[decoded.row[str(f.path)]], load_image(f.path, SIZE)
        )
    _, none = check_and_decode(root, cache=False, image_size=SIZE, max_bytes=9 * 20 * 30 * 3 - 1)
    assert none is None


def test_cold_load_of_large_jpegs_matches_load_image(
    make_folder: MakeFolder, tmp_path: Path, decoded: list[str]
) -> None:
    root = make_folder(per_class=6, suffix=".jpg")  # 48x40: over 4x of 8x8, DCT-scaled
    data = fk.load_datasets(root, image_size=8, batch_size=4, seed=1, check_cache=tmp_path)
    images, _ = _epoch(data)
    # The check decoded in full (to fingerprint), then DCT-scaled for the cache.
    assert len(decoded) == 2 * (len(data.train_files) + len(data.validation_files))
    for i, path in enumerate(data.validation_files):
        np.testing.assert_array_equal(images[i], load_image(path, (8, 8)))


def test_a_given_report_is_decoded_into_memory_too(make_folder: MakeFolder) -> None:
    root = make_folder(per_class=4)
    report = fk.check_images(root)
    data = fk.load_datasets(root, image_size=SIZE, batch_size=4, seed=1, report=report)
    assert data.cache is True and data.report is report
    images, labels = _epoch(data)
    np.testing.assert_array_equal(images[1], load_image(data.validation_files[1], SIZE))
    assert labels.tolist() == list(data.validation_labels)
