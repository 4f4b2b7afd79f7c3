"""``flowerkit.auditing``: label issues, near-duplicates and leaks, outliers, the cache, the
report (JSON, text, HTML), the plan it suggests and the ``flowerkit audit`` command.

The folder: three classes told apart by colour, each photo a smooth random pattern (so a
resized or cropped copy is recognisably the same picture and two photos are not), with
problems planted: a photo filed under the wrong colour, copies of one photo across the
split, and a colourless photo. The features come from a small model trained on it (CI has
no ImageNet weights); the default features are checked for their error message.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

import flowerkit as fk
from flowerkit.auditing import signatures
from flowerkit.auditing.neighbours import _exact, _hnsw, nearest, unit_rows

pytest.importorskip("cleanlab")

COLOURS = {"blue": (40, 60, 200), "green": (50, 180, 60), "red": (200, 50, 50)}


def _photo(rng: np.random.Generator, colour: tuple[int, int, int], size: int = 64) -> Image.Image:
    """A smooth random pattern tinted with ``colour``."""
    field = rng.uniform(0, 1, (6, 6))
    pattern = np.asarray(
        Image.fromarray((field * 255).astype(np.uint8)).resize(
            (size, size), Image.Resampling.BICUBIC
        ),
        dtype=np.float32,
    )
    pixels = np.array(colour, np.float32) * (0.45 + 0.55 * pattern[..., None] / 255)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _variants(image: Image.Image) -> dict[str, Image.Image]:
    w, h = image.size
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=30)
    return {
        "resized": image.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
        "jpeg": Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"),
        "crop": image.crop((2, 6, 2 + round(w * 0.85), 6 + round(h * 0.85))),
        "bright": ImageEnhance.Brightness(image).enhance(1.3),
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The folder (20 photos a class), what was planted in it, and a model trained on it."""
    root = tmp_path_factory.mktemp("audit") / "photos"
    rng = np.random.default_rng(5)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(20):
            _photo(rng, colour).save(root / name / f"{name}_{i:02d}.png")
    _photo(rng, COLOURS["red"]).save(root / "blue" / "wrong_label.png")
    original = Image.open(root / "green" / "green_03.png").convert("RGB")
    for kind, copy in _variants(original).items():
        copy.save(root / "green" / f"copy_{kind}.png")
    grey = np.full((64, 64, 3), 128, np.uint8) + rng.integers(0, 20, (64, 64, 1), dtype=np.uint8)
    Image.fromarray(grey).save(root / "red" / "no_colour.png")
    data = fk.load_datasets(root, image_size=32, batch_size=16, seed=1)
    clf = fk.Classifier.from_preset(
        "tutorial", class_names=data.class_names, image_size=32, seed=1, augmentation=False
    )
    clf.fit(data, epochs=6, verbose=0)
    return {
        "root": root,
        "model": clf,
        "copies": {"green/green_03.png"}
        | {f"green/copy_{k}.png" for k in ("resized", "jpeg", "crop", "bright")},
    }


@pytest.fixture(scope="module")
def report(planted: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    cache = tmp_path_factory.mktemp("audit-cache")
    return fk.audit(planted["root"], planted["model"], seed=1, cache=cache)


def _relative(report: Any, path: Path) -> str:
    return path.relative_to(report.directory).as_posix()


def test_the_photo_under_the_wrong_class_is_flagged_with_its_class(report: Any) -> None:
    found = {_relative(report, i.file): i for i in report.label_issues}
    assert "blue/wrong_label.png" in found
    issue = found["blue/wrong_label.png"]
    assert (issue.given, issue.suggested) == ("blue", "red")
    assert issue.score > 0.5 and "never saw it" in issue.reason
    assert len(report.label_issues) <= 4  # the clean photos are left alone
    scores = [i.score for i in report.label_issues]
    assert scores == sorted(scores, reverse=True)


def test_copies_form_one_group_and_the_leak_is_reported(
    report: Any, planted: dict[str, Any]
) -> None:
    groups = [{_relative(report, f) for f in g.files} for g in report.duplicate_groups]
    assert planted["copies"] in groups  # resized, re-encoded, cropped, brighter: one group
    assert len(report.duplicate_groups) == 1  # and no distinct photos grouped
    group = report.duplicate_groups[0]
    assert group.leak == (len(set(group.splits)) > 1)
    assert group.leak  # five copies, 20% validation: both sides (seed 1)
    assert report.leaks == (group,)
    effect = report.leak_effect
    assert effect is not None and effect.leaked >= 1
    assert 0 <= effect.accuracy_without <= 1 and effect.total > effect.leaked


def test_the_colourless_photo_is_the_outlier(report: Any) -> None:
    assert [_relative(report, o.file) for o in report.outliers][:1] == ["red/no_colour.png"]


def test_json_names_files_by_the_folder_as_given(
    planted: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowerkit.cli import main

    model = planted["model"].save(tmp_path / "m.keras")
    monkeypatch.chdir(planted["root"].parent)
    code = main(["audit", "photos", "--model", str(model), "--seed", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    issue = next(i for i in out["label_issues"] if i["file"].endswith("wrong_label.png"))
    assert issue["file"] == "photos/blue/wrong_label.png"
    assert (issue["given"], issue["suggested"]) == ("blue", "red") and 0 < issue["score"] <= 1
    assert all(f.startswith("photos/") for g in out["duplicate_groups"] for f in g["files"])
    assert out["outliers"][0]["file"] == "photos/red/no_colour.png"


def test_a_second_audit_of_an_unchanged_folder_runs_no_network_and_no_fit(
    planted: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowerkit.auditing import embeddings, labels

    first = fk.audit(planted["root"], planted["model"], seed=1, cache=tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("embedded again")

    monkeypatch.setattr(embeddings, "_compute", refuse)
    monkeypatch.setattr(labels, "check_labels", refuse)  # the cross-validation is kept too
    again = fk.audit(planted["root"], planted["model"], seed=1, cache=tmp_path)
    assert again.to_dict() | {"seconds": 0} == first.to_dict() | {"seconds": 0}


def test_without_a_model_or_weights_the_audit_says_what_it_needs(
    planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("FLOWERKIT_WEIGHTS", "")
    with pytest.raises(
        fk.ConfigError, match=r"--model M.*--weights FILE.*flowerkit weights --fetch"
    ):
        fk.audit(planted["root"])


def test_the_html_gallery_shows_each_finding_with_its_photos(report: Any) -> None:
    page = report.to_html()
    assert "Content-Security-Policy" in page and "<script" not in page
    assert page.count("data:image/jpeg;base64,") >= 10
    assert "wrong_label.png" in page and "typical red" in page and "typical blue" in page
    assert "copy_crop.png" in page and "no_colour.png" in page and "leak" in page


def test_the_plan_relabels_sets_copies_aside_and_round_trips(
    planted: dict[str, Any], report: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    shutil.copytree(planted["root"], folder)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    moves = {m.file: m for m in report.plan()}
    assert moves["blue/wrong_label.png"].action == "relabel"
    assert moves["blue/wrong_label.png"].to == "red"
    assert moves["red/no_colour.png"].action == "quarantine"
    assert sum(m.action == "quarantine" and "copy of" in m.reason for m in moves.values()) == 4
    plan = fk.auditing.write_plan(report.plan(), tmp_path / "plan.csv", folder)
    result = fk.auditing.apply_plan(plan, folder, yes=True)
    assert (folder / "red" / "wrong_label.png").is_file()
    fk.auditing.undo(result.log)
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before


def test_copy_scores_tell_copies_from_other_photos() -> None:
    rng = np.random.default_rng(0)
    photo = _photo(rng, (120, 120, 120), size=200)
    images = [photo, *(_variants(photo).values()), _photo(rng, (120, 120, 120), size=200)]
    thumbs = np.stack([signatures.grey_thumbnail(np.asarray(i.convert("RGB"))) for i in images])
    scores = signatures.copy_scores(thumbs, [(0, i) for i in range(1, len(images))])
    assert (scores[:-1] >= signatures.THRESHOLD).all(), scores
    assert scores[-1] < signatures.THRESHOLD


def test_approximate_neighbours_match_the_exact_ones() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 64))
    x = unit_rows(centres[rng.integers(0, 30, 600)] + 0.3 * rng.normal(size=(600, 64)))
    exact, _ = _exact(x, 5)
    approximate, sims = _hnsw(x, 5)
    assert (exact[:, 0] == approximate[:, 0]).mean() > 0.98
    assert (approximate != np.arange(600)[:, None]).all()  # never its own neighbour
    assert (np.diff(sims, axis=1) <= 1e-6).all()
    assert nearest(x[:1], 5)[0].shape == (1, 0)


def test_the_command_writes_a_plan_applies_it_and_undoes_it(
    planted: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowerkit.cli import main

    folder = tmp_path / "photos"
    shutil.copytree(planted["root"], folder)
    before = sorted((p.relative_to(folder), p.read_bytes()) for p in folder.rglob("*.png"))
    model = str(planted["model"].save(tmp_path / "m.keras"))
    plan, html = tmp_path / "plan.csv", tmp_path / "audit.html"
    argv = ["audit", str(folder), "--model", model, "--seed", "1"]
    assert main([*argv, "--write-plan", str(plan), "--report", str(html), "-q"]) == 0
    assert "wrong_label.png,relabel,red," in plan.read_text() and html.is_file()
    capsys.readouterr()
    assert main(["audit", str(folder), "--apply", str(plan), "--json"]) == 0  # dry run
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True
    assert sorted((p.relative_to(folder), p.read_bytes()) for p in folder.rglob("*.png")) == before
    assert main(["audit", str(folder), "--apply", str(plan), "--yes", "--json"]) == 0
    log = json.loads(capsys.readouterr().out)["log"]
    assert (folder / "red" / "wrong_label.png").is_file()
    assert main(["audit", "--undo", log]) == 0
    assert sorted((p.relative_to(folder), p.read_bytes()) for p in folder.rglob("*.png")) == before
    assert main(["audit", "--undo", log]) == 1  # a log is undone once
    assert "undone" in capsys.readouterr().err


def test_the_command_refuses_mixed_up_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from flowerkit.cli import main

    assert main(["audit"]) == 2
    assert "give the folder" in capsys.readouterr().err
    assert main(["audit", "photos", "--undo", "x.jsonl"]) == 2
    assert "--undo LOG takes no folder" in capsys.readouterr().err
    assert main(["audit", "photos", "--yes"]) == 2
    assert "--yes and --log go with --apply" in capsys.readouterr().err


def test_datasets_are_audited_with_their_own_split(planted: dict[str, Any], tmp_path: Path) -> None:
    data = fk.load_datasets(planted["root"], image_size=32, validation_split=0.5, seed=3)
    report = fk.audit(data, planted["model"], cache=tmp_path)
    validation = set(data.validation_files)
    for group in report.duplicate_groups:
        for file, split in zip(group.files, group.splits, strict=True):
            assert (split == "validation") == (file in validation)
    assert report.num_images == len(data.train_files) + len(data.validation_files)


def test_the_default_features_come_from_the_imagenet_backbone(
    planted: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backbone, built on first use (eagerly, outside the traced function): here with
    random weights from a file of their own, as CI has no ImageNet weights."""
    from flowerkit.auditing import embeddings

    backbone = fk.build_model(2, preset="mobilenet_v2", weights=None, image_size=96)
    weights = tmp_path / "backbone.weights.h5"
    backbone.get_layer("backbone").save_weights(weights)
    built: list[int] = []
    original = embeddings.Embedder.model.fget

    def counted(self: Any) -> Any:
        built.append(1)
        return original(self)

    monkeypatch.setattr(embeddings.Embedder, "model", property(counted))
    report = fk.audit(planted["root"], weights=weights, seed=1, cache=tmp_path / "cache")
    assert report.features.startswith("mobilenet_v2's ImageNet features (160x160")
    assert report.num_images == 66 and built
    built.clear()
    fk.audit(planted["root"], weights=weights, seed=1, cache=tmp_path / "cache")
    assert not built  # all cached: the network is not even built
