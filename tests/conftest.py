"""Shared fixtures: small class-coloured image folders made on the fly."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import flowerkit.images.decode

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep flowerkit's caches out of the user's home during tests, and keep the tests off
    the internet: pretrained weights are never downloaded (``FLOWERKIT_OFFLINE=1``, also
    in the subprocesses tests start) unless a test serves them itself from 127.0.0.1
    (``tests/test_download_weights.py``)."""
    os.environ["FLOWERKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("flowerkit-cache"))
    os.environ["FLOWERKIT_OFFLINE"] = "1"
    os.environ.pop("FLOWERKIT_WEIGHTS_MIRROR", None)


#: Three easy classes: each image is its class colour plus noise.
COLOURS: dict[str, tuple[int, int, int]] = {
    "blue": (30, 40, 210),
    "green": (40, 190, 50),
    "red": (210, 30, 40),
}

MakeFolder = Callable[..., Path]

#: Five predictions over three classes, shared by the report and plotting tests
#: (test_evaluation.py works their metrics out by hand).
LABELS = [0, 0, 1, 2, 2]
PROBS = [
    [0.7, 0.2, 0.1],
    [0.2, 0.5, 0.3],
    [0.1, 0.8, 0.1],
    [0.3, 0.3, 0.4],
    [0.6, 0.1, 0.3],
]


def write_colour_image(
    path: Path, colour: tuple[int, int, int], *, size: tuple[int, int] = (40, 48), seed: int = 0
) -> Path:
    """Write a noisy image of ``colour`` (format from the suffix)."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = np.array(colour, dtype=np.int16)[None, None, :]
    noise = rng.integers(-25, 26, size=(h, w, 3), dtype=np.int16)
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="session")
def make_folder(tmp_path_factory: pytest.TempPathFactory) -> MakeFolder:
    """Factory: ``make_folder(per_class=20, classes=COLOURS, suffix=".png")`` -> folder."""
    counter = iter(range(10_000))

    def _make(
        per_class: int = 20,
        classes: Mapping[str, tuple[int, int, int]] = COLOURS,
        suffix: str = ".png",
        size: tuple[int, int] = (40, 48),
    ) -> Path:
        root = tmp_path_factory.mktemp(f"images{next(counter)}")
        for c_index, (name, colour) in enumerate(classes.items()):
            for i in range(per_class):
                write_colour_image(
                    root / name / f"{name}_{i:03d}{suffix}",
                    colour,
                    size=size,
                    seed=c_index * 1000 + i,
                )
        return root

    return _make


@pytest.fixture(scope="session")
def colour_folder(make_folder: MakeFolder) -> Path:
    """3 classes x 30 PNG images (read-only for tests: do not modify)."""
    return make_folder(per_class=30)


@pytest.fixture(scope="session")
def trained(colour_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """A tutorial-preset classifier trained on ``colour_folder`` at 32x32, and its data."""
    import flowerkit as fk

    data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=32, seed=1)
    clf.fit(data, epochs=8, verbose=0)
    return clf, data


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources decoded (``decode_image``, behind ``load_image`` too), from any thread."""
    calls: list[str] = []
    lock = threading.Lock()
    original = flowerkit.images.decode.decode_image

    def counting(source: Any, image_size: Any = None) -> Any:
        with lock:
            calls.append(str(source))
        return original(source, image_size)

    monkeypatch.setattr(flowerkit.images.decode, "decode_image", counting)
    return calls


@pytest.fixture(scope="session")
def tiny_compact() -> str:
    """A preset with ``compact``'s recipe and augmentation on a one-convolution network:
    the recipe's behaviour at a fifth of ``compact``'s cost (``tests/tiny_presets.py``)."""
    import tiny_presets

    return tiny_presets.register()[0]


@pytest.fixture(scope="session")
def tiny_transfer() -> str:
    """A preset with ``mobilenet_v2``'s two-phase recipe on a three-layer ``backbone``:
    fine-tuning at a sixth of ``mobilenet_v2``'s cost (``tests/tiny_presets.py``)."""
    import tiny_presets

    return tiny_presets.register()[1]


#: Files whose tests start worker processes of their own and take the longest: run first,
#: so the two test workers share the rest and neither is left alone with a long tail.
_FIRST = ("test_distribute.py", "test_multi_worker.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the slowest files first (``--dist loadfile`` hands out files in order)."""
    rank = {name: i for i, name in enumerate(_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_FIRST)))
