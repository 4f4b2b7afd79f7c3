"""Models saved by earlier flowerkit versions keep loading and predicting the same."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

import flowerkit as fk
from flowerkit.exceptions import VersionMismatchWarning

FIXTURES = Path(__file__).parent / "fixtures"


def test_model_saved_before_the_reorganisation_loads_and_predicts_the_same() -> None:
    expected = json.loads((FIXTURES / "compact_v0_expected.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        clf = fk.Classifier.load(FIXTURES / "compact_v0.keras")
    assert list(clf.class_names) == expected["class_names"]
    assert list(clf.image_size) == expected["image_size"]
    assert clf.preset == "compact"
    assert clf.temperature_ == expected["temperature"]
    assert sorted(clf.history_) == expected["history_keys"]
    images = np.load(FIXTURES / "compact_v0_inputs.npy")
    np.testing.assert_allclose(
        clf.predict_proba(images), np.asarray(expected["probabilities"]), rtol=0, atol=1e-5
    )
