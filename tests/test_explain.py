"""Grad-CAM (flowerkit.models.explain), the overlays (flowerkit.images.overlay), and where
they show: ``predict(explain=True)``, ``flowerkit predict --explain`` and the evaluation
report's mistakes gallery.

The first test is the proof the issue asks for: on synthetic photos whose class is
decided by one coloured patch, most of the map's mass lies on the patch.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from PIL import Image

import flowerkit as fk
from conftest import COLOURS, MakeFolder
from flowerkit.cli import main
from flowerkit.evaluation import EvaluationReport
from flowerkit.images.overlay import overlay, resize_heatmap, turbo
from flowerkit.models.explain import grad_cam

# ------------------------------------------------------------------ the patch test
SIDE = 64  # the synthetic photos are SIDE x SIDE
PATCH = 11  # the coloured patch: about a sixth of the side
MARGIN = 5  # the patch region: the patch and MARGIN pixels around it
#: Class 0: a red patch; class 1: a blue one; class 2: no patch. Every photo also has a
#: green patch (a distractor) and grey noise. The third class keeps the test honest: in
#: a two-class problem a network may recognise one class by the absence of the other's
#: colour, and the map of an absence has nothing to point at.
PATCH_COLOURS = ((220, 30, 30), (30, 30, 220))
DISTRACTOR = (30, 200, 30)


def _apart(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two patches at ``a`` and ``b`` leave their regions apart."""
    gap = PATCH + 2 * MARGIN
    return abs(a[0] - b[0]) >= gap or abs(a[1] - b[1]) >= gap


def _patch_photos(count: int, seed: int) -> tuple[Any, Any, list[Any], list[Any]]:
    """Photos, labels, and the top-left corners of each photo's patch and distractor."""
    rng = np.random.default_rng(seed)
    photos = np.clip(128 + rng.normal(0, 20, (count, SIDE, SIDE, 3)), 0, 255)
    labels = rng.integers(0, 3, count)
    patches, distractors = [], []
    for i in range(count):
        patch = tuple(int(v) for v in rng.integers(0, SIDE - PATCH + 1, 2))
        distractor = patch
        while not _apart(patch, distractor):
            distractor = tuple(int(v) for v in rng.integers(0, SIDE - PATCH + 1, 2))
        if labels[i] < 2:
            photos[i, patch[0] : patch[0] + PATCH, patch[1] : patch[1] + PATCH] = PATCH_COLOURS[
                labels[i]
            ]
        y, x = distractor
        photos[i, y : y + PATCH, x : x + PATCH] = DISTRACTOR
        patches.append(patch)
        distractors.append(distractor)
    return photos.astype(np.float32), labels, patches, distractors


def _region(corner: tuple[int, int]) -> tuple[slice, slice]:
    y, x = corner
    return (
        slice(max(0, y - MARGIN), y + PATCH + MARGIN),
        slice(max(0, x - MARGIN), x + PATCH + MARGIN),
    )


def _mass_on(heat: Any, corner: tuple[int, int]) -> float:
    """The share of the map's mass, resized to the photo, inside the region at ``corner``."""
    full = resize_heatmap(heat, (SIDE, SIDE))
    return float(full[_region(corner)].sum() / max(float(full.sum()), 1e-12))


def _patch_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for filters in (16, 32):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def test_grad_cam_points_at_the_patch_that_decides_the_class() -> None:
    photos, labels, _, _ = _patch_photos(512, seed=0)
    model = _patch_model()
    model.fit(photos, labels, epochs=6, batch_size=32, verbose=0)

    test, truth, patches, distractors = _patch_photos(60, seed=1)
    assert (model.predict(test, verbose=0).argmax(axis=1) == truth).mean() >= 0.95
    maps = grad_cam(model, test)
    assert maps.shape == (60, 16, 16)
    region = (PATCH + 2 * MARGIN) ** 2 / SIDE**2
    assert region < 0.15  # a map spread evenly puts only this share on the region

    shown = [i for i in range(60) if truth[i] < 2]  # the photos with a patch
    on_patch = np.array([_mass_on(maps[i], patches[i]) for i in shown])
    on_distractor = np.array([_mass_on(maps[i], distractors[i]) for i in shown])
    assert (on_patch > 0.5).mean() >= 0.9, np.round(on_patch, 2)
    assert np.median(on_patch) > 0.7
    # The measure is not met by any bright blob: the distractor's region gets little.
    assert (on_distractor < 0.5).all() and np.median(on_distractor) < 0.15


# ------------------------------------------------------------------ grad_cam
def _conv_model(name: str = "small", softmax: bool = False) -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax" if softmax else None, name="scores")(
        pooled
    )
    return keras.Model(inputs, outputs, name=name)


def _images(count: int, side: int = 32, seed: int = 0) -> Any:
    return np.random.default_rng(seed).integers(0, 256, (count, side, side, 3)).astype(np.uint8)


@pytest.mark.parametrize(
    ("preset", "size", "options", "pooled"),
    [
        ("tutorial", 32, {}, "flatten"),
        ("compact", 64, {}, "pool"),
        ("mobilenet_v2", 64, {"weights": None}, "pool"),
    ],
)
def test_every_builtin_preset_has_a_map_of_its_last_feature_map(
    preset: str, size: int, options: dict[str, Any], pooled: str
) -> None:
    assert preset in fk.list_presets()
    model = fk.build_model(3, preset=preset, image_size=size, seed=1, **options)
    images = _images(3, size)
    maps = grad_cam(model, images)
    # The map has the size of what the model pools or flattens: for mobilenet_v2 the
    # output of its nested "backbone".
    assert maps.shape == (3, *model.get_layer(pooled).input.shape[1:3])
    assert maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    if preset == "mobilenet_v2":
        assert maps.shape[1:] == tuple(model.get_layer("backbone").output.shape[1:3])
        same = grad_cam(model, images, layer="backbone")
        np.testing.assert_array_equal(maps, same)


def test_the_augmentation_inside_a_model_is_inactive() -> None:
    model = fk.build_model(
        3, preset="tutorial", image_size=32, seed=1, augmentation=fk.augmentation_block(seed=1)
    )
    images = _images(4)
    first = grad_cam(model, images)
    # In training mode the random flips and rotations would move the map between calls.
    np.testing.assert_array_equal(first, grad_cam(model, images))
    np.testing.assert_allclose(first[:1], grad_cam(model, images[:1]), atol=1e-5)  # batch-free


def test_class_index_chooses_the_class_and_none_is_the_predicted_one() -> None:
    model = _conv_model()
    images = _images(4)
    predicted = np.asarray(model(images.astype(np.float32))).argmax(axis=1)
    np.testing.assert_array_equal(grad_cam(model, images), grad_cam(model, images, predicted))
    per_class = [grad_cam(model, images, c) for c in range(3)]
    assert not np.array_equal(per_class[0], per_class[1])
    assert grad_cam(model, images[0], class_index=2).shape == (1, 13, 13)
    assert grad_cam(model, images, layer="conv").shape == (4, 15, 15)
    probabilities = grad_cam(_conv_model("soft", softmax=True), images)
    assert probabilities.shape == (4, 13, 13) and probabilities.max() == 1.0


def test_the_compiled_function_is_kept_only_while_its_model_lives() -> None:
    import gc
    import weakref

    from flowerkit.models import explain

    model = _conv_model("short_lived")
    first = grad_cam(model, _images(2))
    np.testing.assert_array_equal(first, grad_cam(model, _images(2)))  # the same function
    assert len(explain._RUNS[model]) == 1
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_grad_cam_of_a_sequential_model_built_on_data() -> None:
    layers = [keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.GlobalAveragePooling2D()]
    model = keras.Sequential([*layers, keras.layers.Dense(2)])
    model(np.zeros((1, 32, 32, 3), dtype=np.float32))  # built on a batch of one
    assert grad_cam(model, _images(3)).shape == (3, 30, 30)


def test_models_without_a_convolutional_feature_map_are_refused() -> None:
    mlp = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(3)], name="mlp"
    )
    with pytest.raises(fk.ConfigError, match=r"'mlp'.*no convolutional feature map.*4-D"):
        grad_cam(mlp, _images(2))
    inputs = keras.Input((32, 32, 3))  # 4-D tensors, but no convolution made them
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    no_conv = keras.Model(inputs, keras.layers.Dense(3)(pooled), name="pooled_pixels")
    with pytest.raises(fk.ConfigError, match="'pooled_pixels'"):
        grad_cam(no_conv, _images(2))


def test_bad_arguments_say_what_is_wrong() -> None:
    model = _conv_model()
    with pytest.raises(
        fk.ConfigError, match=r"no layer named 'nope'.*4-D layers: \['conv', 'conv2', "
    ):
        grad_cam(model, _images(2), layer="nope")
    with pytest.raises(fk.ConfigError, match="needs a 4-D feature map"):
        grad_cam(model, _images(2), layer="scores")
    with pytest.raises(fk.ConfigError, match=r"`images` must be an array \(N, 32, 32, 3\)"):
        grad_cam(model, _images(2, side=16))
    with pytest.raises(fk.ConfigError, match="class_index"):
        grad_cam(model, _images(2), class_index=3)
    with pytest.raises(fk.ConfigError, match="class_index"):
        grad_cam(model, _images(2), class_index=[0, 1, 2])
    with pytest.raises(fk.ConfigError, match=r"keras\.Model"):
        grad_cam("model.keras", _images(2))  # type: ignore[arg-type]


# ------------------------------------------------------------------ overlays
def test_the_colour_map_is_turbo() -> None:
    values = np.linspace(0, 1, 256)
    mine = turbo(values).astype(np.float64) / 255
    assert mine.shape == (256, 3)
    matplotlib = pytest.importorskip("matplotlib")
    reference = matplotlib.colormaps["turbo"](values)[:, :3]
    assert np.abs(mine - reference).max() < 0.03


def test_overlay_blends_the_upsampled_map_over_the_image() -> None:
    image = np.full((40, 60, 3), 100, dtype=np.uint8)
    heat = np.zeros((4, 6), dtype=np.float32)
    heat[0, 0] = 1.0
    shown = overlay(image, heat, alpha=0.5)
    assert shown.shape == (40, 60, 3) and shown.dtype == np.uint8
    hot, cold = turbo(1.0).astype(float), turbo(0.0).astype(float)
    np.testing.assert_allclose(shown[2, 2], 0.5 * 100 + 0.5 * hot, atol=1)
    np.testing.assert_allclose(shown[39, 59], 0.5 * 100 + 0.5 * cold, atol=1)
    np.testing.assert_array_equal(overlay(image, heat, alpha=0.0), image)
    up = resize_heatmap(heat, (40, 60))
    assert up.shape == (40, 60) and up[0, 0] == 1.0 and up[20:, 30:].max() == 0.0
    with pytest.raises(fk.ConfigError, match="alpha"):
        overlay(image, heat, alpha=1.5)
    with pytest.raises(fk.ConfigError, match="heatmap"):
        overlay(image, np.zeros((2, 2, 2)))
    with pytest.raises(fk.ConfigError, match="image"):
        overlay(image[..., 0], heat)


# ------------------------------------------------------------------ predict and the CLI
@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[fk.Classifier, Path]:
    """An (untrained) tutorial classifier at 32 x 32 treated as trained, and its file."""
    model = fk.build_model(3, preset="tutorial", image_size=32, seed=1)
    clf = fk.Classifier(model, list(COLOURS), trained=True)
    return clf, clf.save(tmp_path_factory.mktemp("explain-model") / "colours.keras")


@pytest.fixture(scope="module")
def photos(make_folder: MakeFolder) -> Path:
    return make_folder(per_class=4)


def test_predict_explain_attaches_the_map_of_the_predicted_class(
    classifier: tuple[fk.Classifier, Path], photos: Path
) -> None:
    clf, _ = classifier
    plain = clf.predict(photos)
    explained = clf.predict(photos, explain=True, batch_size=5)
    assert all(p.explanation is None for p in plain)
    assert [p.to_dict() for p in explained] == [p.to_dict() for p in plain]  # same JSON
    assert explained.to_json() == plain.to_json()
    images = np.stack([fk.load_image(p.source, clf.image_size) for p in explained])
    expected = grad_cam(clf.model, images, [p.index for p in explained])
    for p, heat in zip(explained, expected, strict=True):
        assert p.explanation is not None and p.explanation.shape == (4, 4)
        np.testing.assert_allclose(p.explanation, heat, atol=1e-5)


def test_predict_explain_refuses_a_model_without_a_feature_map(photos: Path) -> None:
    mlp = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(3)], name="mlp"
    )
    clf = fk.Classifier(mlp, list(COLOURS), trained=True)
    assert len(clf.predict(photos)) == 12  # predicting is fine; explaining is not
    with pytest.raises(fk.ConfigError, match=r"'mlp'.*no convolutional feature map"):
        clf.predict(photos, explain=True)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_predict_explain_writes_one_overlay_per_input(
    classifier: tuple[fk.Classifier, Path], photos: Path, tmp_path: Path
) -> None:
    _, model = classifier
    twin = tmp_path / "other" / "red_000.png"  # the same stem as photos/red/red_000.png
    twin.parent.mkdir()
    twin.write_bytes((photos / "red" / "red_000.png").read_bytes())
    out = tmp_path / "overlays"
    inputs = [str(photos / "red" / "red_000.png"), str(twin), str(photos / "blue")]
    code, stdout, _ = _run("predict", str(model), *inputs, "--explain", str(out), "--json")
    assert code == 0
    items = json.loads(stdout)["predictions"]
    written = [item["explanation"] for item in items]
    assert written[:2] == [str(out / "red_000.gradcam.png"), str(out / "red_000-2.gradcam.png")]
    assert written[2:] == [str(out / f"blue_{i:03d}.gradcam.png") for i in range(4)]
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(w).name for w in written)
    with Image.open(written[0]) as image:
        assert image.size == (48, 40) and image.mode == "RGB"  # the photo's own size
        drawn = np.asarray(image)
    with Image.open(inputs[0]) as photo:
        assert not np.array_equal(drawn, np.asarray(photo.convert("RGB")))

    code, table, _ = _run("predict", str(model), inputs[0], "--explain", str(out))
    assert code == 0 and "Grad-CAM" in table and str(out / "red_000.gradcam.png") in table
    code, csv_text, _ = _run(
        "predict", str(model), inputs[0], "--explain", str(out), "--format", "csv"
    )
    lines = csv_text.splitlines()
    assert lines[0].endswith(",explanation") and lines[1].endswith("red_000.gradcam.png")
    code, plain, _ = _run("predict", str(model), inputs[0], "--json")
    assert "explanation" not in plain


def test_cli_predict_explain_refuses_a_tflite_model(tmp_path: Path, photos: Path) -> None:
    code, _, err = _run(
        "predict", str(tmp_path / "m.tflite"), str(photos), "--explain", str(tmp_path / "o")
    )
    assert code == 2
    assert "--explain needs the .keras model" in err and "gradients" in err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ the report
_OVERLAY = re.compile(r'<img class="gradcam" src="data:image/jpeg;base64,([^"]+)" alt="([^"]+)"')


def test_the_report_shows_an_overlay_beside_each_mistake(
    classifier: tuple[fk.Classifier, Path], photos: Path, tmp_path: Path
) -> None:
    clf, _ = classifier
    report = clf.evaluate(photos)
    assert report.mistakes, "an untrained model makes mistakes"
    assert all(m.explanation is not None and m.explanation.shape == (4, 4) for m in report.mistakes)
    again = EvaluationReport.from_dict(json.loads(report.to_json()))
    assert again == report and hash(again) == hash(report)
    assert "explanation" not in report.to_json()
    assert all(m.explanation is None for m in again.mistakes)

    page = report.to_html(tmp_path / "report.html").read_text(encoding="utf-8")
    found = _OVERLAY.findall(page)
    assert len(found) == len(report.mistakes)
    assert all(alt.startswith("Grad-CAM overlay: where the model saw ") for _, alt in found)
    with Image.open(io.BytesIO(base64.b64decode(found[0][0]))) as image:
        assert image.size == (48, 40)  # the thumbnail's size: the photo, never enlarged
    assert "Content-Security-Policy" in page and "img-src data:" in page
    assert "https:" not in page and "http:" not in page

    # The same report made from arrays, without a model, has no overlays.
    plain = again.to_html(tmp_path / "plain.html").read_text(encoding="utf-8")
    assert 'class="gradcam"' not in plain


def test_a_model_without_a_feature_map_still_reports(photos: Path, tmp_path: Path) -> None:
    mlp = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(3)], name="mlp"
    )
    report = fk.Classifier(mlp, list(COLOURS), trained=True).evaluate(photos)
    assert all(m.explanation is None for m in report.mistakes)
    page = report.to_html(tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="gradcam"' not in page
