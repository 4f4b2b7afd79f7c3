"""Prediction streams: parallel decoding keeps order and errors, and the model is traced once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from flowerkit.exceptions import UnreadableImageError
from flowerkit.images.inputs import decode_all, decode_batches, expand


def _items(folder: Path, tmp_path: Path) -> list[tuple[str, object]]:
    files = sorted(folder.rglob("*.png"))[:9]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"<html>404 not found</html>")
    truncated = tmp_path / "short.png"
    truncated.write_bytes(files[0].read_bytes()[:60])
    paths: list[Path] = [*files[:3], bad, *files[3:7], truncated, *files[7:]]
    return expand(paths)


@pytest.mark.parametrize(("batch_size", "workers"), [(1, 2), (3, 2), (4, 3), (50, 2), (3, 1)])
def test_parallel_batches_keep_input_order_and_failures(
    colour_folder: Path, tmp_path: Path, batch_size: int, workers: int
) -> None:
    items = _items(colour_folder, tmp_path)
    one_by_one = decode_all(items, (16, 16), raise_errors=False)
    batches = list(
        decode_batches(items, (16, 16), batch_size=batch_size, raise_errors=False, workers=workers)
    )
    assert len(batches) == -(-len(items) // batch_size)
    assert all(len(b.names) + len(b.failures) <= batch_size for b in batches)
    assert [n for b in batches for n in b.names] == one_by_one.names
    assert [f for b in batches for f in b.failures] == one_by_one.failures
    assert [f.reason for f in one_by_one.failures] == ["not_an_image", "truncated"]
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), one_by_one.images)


def test_parallel_batches_raise_the_first_bad_item_in_input_order(
    colour_folder: Path, tmp_path: Path
) -> None:
    items = _items(colour_folder, tmp_path)
    with pytest.raises(UnreadableImageError, match=r"broken\.jpg"):
        for _ in decode_batches(items, (16, 16), batch_size=8, raise_errors=True, workers=2):
            pass


def test_the_model_is_traced_once_for_every_call(trained: tuple[Any, Any], tmp_path: Path) -> None:
    clf, data = trained
    clf = fk.Classifier(clf.model, clf.class_names, trained=True)  # a fresh scorer
    files = list(data.validation_files)
    first = clf.predict(files[0])
    clf.predict(files[:5], batch_size=2)  # batches of 2 and a last one of 1
    clf.predict(files, batch_size=7)
    clf.predict(np.zeros((3, 32, 32, 3), dtype=np.uint8))
    clf.predict_proba(np.full((2, 32, 32, 3), 127.5))  # floats take the same path
    clf.evaluate(data)
    again = clf.predict(files[0])
    assert clf._scorer is not None and clf._scorer.traces == 1
    assert again[0].probabilities == first[0].probabilities


def test_streaming_predictions_match_one_batch(trained: tuple[Any, Any]) -> None:
    clf, data = trained
    files = list(data.validation_files)
    whole = clf.predict(files, batch_size=len(files))
    streamed = clf.predict(files, batch_size=3)
    assert [p.source for p in streamed] == [str(f) for f in files]
    for a, b in zip(whole, streamed, strict=True):
        assert a.label == b.label
        np.testing.assert_allclose(
            list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-6
        )


def test_predict_reports_progress_after_every_batch(
    trained: tuple[Any, Any], tmp_path: Path
) -> None:
    clf, data = trained
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    files = [*data.validation_files[:4], bad, *data.validation_files[4:6]]
    seen: list[tuple[int, int]] = []
    got = clf.predict(files, batch_size=3, errors="skip", progress=lambda *a: seen.append(a))
    assert seen == [(3, 7), (6, 7), (7, 7)]
    assert len(got) == 6 and len(got.failures) == 1
