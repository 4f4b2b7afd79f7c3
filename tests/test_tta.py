"""Test-time augmentation: the views, and predict/evaluate averaging over them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from flowerkit.core.numeric import softmax
from flowerkit.images.views import TTA_VIEWS, tta_views


def test_views_are_the_image_its_mirror_a_centre_crop_and_its_mirror() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    views = tta_views(images)
    assert len(views) == TTA_VIEWS
    assert all(view.shape == images.shape and view.dtype == np.uint8 for view in views)
    np.testing.assert_array_equal(views[0], images)
    np.testing.assert_array_equal(views[1], images[:, :, ::-1])
    np.testing.assert_array_equal(views[3], views[2][:, :, ::-1])
    crop = fk.images.resize_image(np.ascontiguousarray(images[0, 1:15, 1:22]), (16, 24))
    np.testing.assert_array_equal(views[2][0], crop)
    assert [v.shape for v in tta_views(images[:0])] == [(0, 16, 24, 3)] * 4


def test_tta_averages_the_logits_of_the_views(trained: Any) -> None:
    clf, data = trained
    files = list(data.validation_files[:6])
    images = np.stack([fk.load_image(f, clf.image_size) for f in files])
    logits = np.mean([clf._scores(view) for view in tta_views(images)], axis=0)
    expected = softmax(logits / clf.temperature_)
    np.testing.assert_allclose(clf.predict_proba(images, tta=True), expected, atol=1e-6)
    preds = clf.predict(files, tta=True)
    np.testing.assert_allclose([p.confidence for p in preds], expected.max(axis=1), atol=1e-6)
    plain = clf.predict_proba(images)
    assert not np.allclose(plain, expected)  # the views do change the answer


def test_evaluate_with_tta(trained: Any) -> None:
    clf, data = trained
    plain, augmented = clf.evaluate(data), clf.evaluate(data, tta=True)
    assert augmented.num_samples == plain.num_samples
    assert augmented.accuracy == pytest.approx(plain.accuracy, abs=0.2)
