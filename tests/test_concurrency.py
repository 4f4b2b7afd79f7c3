"""Concurrency: threads sharing a classifier, processes sharing the check cache, and two
trainings at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import MakeFolder
from flowerkit import Classifier
from flowerkit.data import check_images


def test_threads_sharing_one_classifier_get_one_threads_answers(
    trained: tuple[Any, Any],
) -> None:
    clf, _ = trained
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8) for _ in range(8)]
    alone = [clf.predict_proba(batch) for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(clf.predict_proba, batches * 3))
    for i, result in enumerate(together):
        np.testing.assert_allclose(result, alone[i % len(batches)], rtol=1e-6, atol=1e-7)


def _run(argv: list[str], cache: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "FLOWERKIT_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    pipe = subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "flowerkit", *argv], env=env, stdout=pipe, stderr=pipe, text=True
    )


def test_two_processes_checking_one_folder_share_the_cache(
    make_folder: MakeFolder, tmp_path: Path, decoded: list[str], monkeypatch: Any
) -> None:
    folder = make_folder(per_class=40)
    cache = tmp_path / "cache"
    runs = [_run(["check", str(folder), "--json"], cache) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    assert reports[0]["usable"] and reports[1]["usable"]
    assert len(reports[0]["files"]) == len(reports[1]["files"]) == 120
    files = list((cache / "checks").glob("*"))
    assert files and all(json.loads(f.read_text()) for f in files)  # whole, valid JSON
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(cache))
    report = check_images(folder)
    assert len(report.files) == 120
    assert decoded == []  # every result came from the cache the two processes wrote


@pytest.mark.slow  # two trainings in two processes: ~15 s
def test_two_trainings_at_once_do_not_interfere(make_folder: MakeFolder, tmp_path: Path) -> None:
    folder = make_folder(per_class=10)
    cache = tmp_path / "cache"
    outs = [tmp_path / name / "m.keras" for name in ("a", "b")]
    common = ["--preset", "tutorial", "--epochs", "2", "--image-size", "16", "--json"]
    runs = [
        _run(["train", str(folder), "--out", str(out), *common, "--seed", str(seed)], cache)
        for seed, out in zip((1, 2), outs, strict=True)
    ]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in results]
    summaries = [json.loads(out) for out, _ in results]
    for out, summary in zip(outs, summaries, strict=True):
        assert summary["model"] == str(out)
        assert out.with_name("m.report.json").is_file()
        assert not out.with_name("m.keras.checkpoint").exists()
        assert Classifier.load(out).class_names == ("blue", "green", "red")
    a, b = (Classifier.load(out).model.get_weights()[0] for out in outs)
    assert not np.array_equal(a, b)  # each kept its own seed's weights
