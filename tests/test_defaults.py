"""Strong defaults: which preset the default command trains and why, where pretrained
weights are found (their download: test_download_weights.py), the recipe's phases, and
the training options the CLI passes through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import flowerkit as fk
from flowerkit.cli import main
from flowerkit.models.weights import WEIGHTS_ENV, default_preset, find_weights, weights_folders
from flowerkit.training.loop import Phase, plan_phases

KERAS_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every weights folder empty: the env var unset, flowerkit's and Keras' caches in tmp."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("FLOWERKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path


def test_weights_folders_in_documented_order(
    no_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(no_weights / "mine"))
    assert weights_folders() == [
        no_weights / "mine",
        no_weights / "cache" / "weights",
        no_weights / "keras" / "models",
    ]


def test_no_weights_offline_means_compact_and_says_where_to_put_them(no_weights: Path) -> None:
    """The tests run offline (conftest.py); the download path: test_download_weights.py."""
    assert find_weights("mobilenet_v2") is None
    choice = default_preset()
    assert choice.preset == "compact"
    assert choice.options == {}
    assert choice.reason.startswith("offline ($FLOWERKIT_OFFLINE=1)")
    assert str(no_weights / "cache" / "weights") in choice.reason
    assert "$FLOWERKIT_WEIGHTS " in choice.reason and "$FLOWERKIT_WEIGHTS_MIRROR" in choice.reason


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("env", "mobilenet_v2_1.0_224_no_top.weights.h5"),
        ("cache/weights", "mobilenet_v2_1.0_224_no_top.weights.h5"),
        ("keras/models", KERAS_NAME),
    ],
)
def test_weights_found_in_each_folder(
    no_weights: Path, monkeypatch: pytest.MonkeyPatch, folder: str, name: str
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(no_weights / "env"))
    path = no_weights / folder / name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    assert find_weights("mobilenet_v2") == path
    choice = default_preset()
    assert choice.preset == "mobilenet_v2"
    assert choice.options == {"weights": str(path)}
    assert str(path) in choice.reason
    assert find_weights("compact") is None  # a preset without pretrained weights


def test_earlier_folder_wins(no_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(no_weights / "env"))
    first = no_weights / "env" / "mobilenet_v2_1.0_224_no_top.weights.h5"
    later = no_weights / "keras" / "models" / KERAS_NAME
    for path in (first, later):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"w")
    assert find_weights("mobilenet_v2") == first


def test_explicit_weights_beat_discovery(no_weights: Path) -> None:
    choice = default_preset("my.weights.h5")
    assert choice == ("mobilenet_v2", {"weights": "my.weights.h5"}, choice.reason)


# --------------------------------------------------------------------------- phases
RECIPE = fk.TrainingRecipe(epochs=5, fine_tune_epochs=3, fine_tune_layers=54)


def test_plan_phases_defaults_to_the_recipe() -> None:
    assert plan_phases(RECIPE) == [
        Phase("frozen", 5),
        Phase("fine_tune", 3, fine_tune=True, layers=54),
    ]
    assert plan_phases(RECIPE, epochs=2) == [Phase("train", 2)]


def test_plan_phases_fine_tuning_arguments() -> None:
    phases = plan_phases(RECIPE, fine_tune_layers="all")
    assert phases == [Phase("frozen", 5), Phase("fine_tune", 3, fine_tune=True, layers=None)]
    phases = plan_phases(RECIPE, epochs=2, fine_tune_epochs=4, fine_tune_learning_rate=1e-5)
    assert phases[0] == Phase("frozen", 2)
    assert phases[1] == Phase("fine_tune", 4, fine_tune=True, layers=54, learning_rate=1e-5)
    assert plan_phases(RECIPE, fine_tune_epochs=0) == [Phase("train", 5)]
    with pytest.raises(fk.ConfigError, match="fine_tune_layers"):
        plan_phases(RECIPE, fine_tune_layers=0)
    with pytest.raises(fk.ConfigError, match="no fine-tuning epochs"):
        plan_phases(fk.TrainingRecipe(), fine_tune_layers=3)


def test_compact_recipe_trains_40_epochs_growing_its_crops_by_default() -> None:
    recipe = fk.get_preset("compact").recipe
    assert (recipe.epochs, recipe.progressive_from, recipe.schedule) == (40, 64, "linear")
    assert fk.get_preset("tutorial").recipe == fk.TrainingRecipe()  # the tutorial, as it was


# --------------------------------------------------------------------------- CLI
def _train(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_preset_options_from_the_command_line(
    no_weights: Path, colour_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = no_weights / "m.keras"
    argv = ["train", str(colour_folder), "--out", str(out), "--preset", "compact"]
    argv += ["--image-size", "32", "--epochs", "1", "--option", "width=0.5", "--json"]
    argv += ["--validation-split", "0.3", "--class-weight", "balanced", "--calibrate"]
    code, stdout, err = _train(argv, capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["preset"] == "compact"
    assert summary["validation_images"] == pytest.approx(0.3 * 90, abs=4)
    assert set(summary["calibration"]) == {"temperature", "ece_before", "ece_after"}
    loaded = fk.Classifier.load(out)
    assert loaded.build_config["options"] == {"width": 0.5}
    assert loaded.temperature_ == summary["calibration"]["temperature"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--preset", "compact", "--weights", "none"], "does not take --weights"),
        (["--preset", "tutorial", "--option", "depth=3"], "does not take --option depth"),
        (["--preset", "compact", "--option", "width"], "KEY=VALUE"),
    ],
)
def test_options_a_preset_does_not_declare_are_usage_errors(
    no_weights: Path,
    colour_folder: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["train", str(colour_folder), "--out", str(no_weights / "m.keras"), *extra]
    code, _, err = _train(argv, capsys)
    assert code == 2
    assert message in err


@pytest.mark.slow  # mobilenet_v2 through both phases: ~18 s
def test_weights_none_trains_the_transfer_preset_from_scratch(
    no_weights: Path, colour_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = no_weights / "m.keras"
    argv = ["train", str(colour_folder), "--out", str(out), "--preset", "mobilenet_v2"]
    argv += ["--weights", "none", "--image-size", "32", "--epochs", "1", "--fine-tune-epochs", "1"]
    argv += ["--fine-tune-layers", "all", "--json"]
    code, stdout, err = _train(argv, capsys)
    assert code == 0, err
    assert json.loads(stdout)["epochs"] == 2  # one frozen, one fine-tuning
    assert fk.Classifier.load(out).build_config["options"] == {"weights": None}


def test_fit_takes_the_fine_tuning_arguments(colour_folder: Path, tiny_transfer: str) -> None:
    """On a transfer preset with mobilenet_v2's recipe and a tiny backbone (mobilenet_v2
    itself trains both phases in test_weights_none_trains_the_transfer_preset_from_scratch)."""
    data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)
    clf = fk.Classifier.from_preset(tiny_transfer, class_names=data.class_names, seed=1)
    history: Any = clf.fit(data, epochs=1, fine_tune_epochs=1, fine_tune_layers=10, verbose=0)
    assert len(history.history["loss"]) == 2
    backbone = clf.model.get_layer("backbone")
    assert backbone.trainable


def test_test_split_is_reported_apart(
    no_weights: Path, colour_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = no_weights / "m.keras"
    argv = ["train", str(colour_folder), "--out", str(out), "--preset", "tutorial"]
    argv += ["--image-size", "16", "--epochs", "2", "--test-split", "0.2", "--json"]
    code, stdout, err = _train(argv, capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    test = json.loads(Path(summary["test_report_json"]).read_text())
    assert test["split"] == "test"
    assert test["accuracy"] == summary["test_accuracy"]
    validation = json.loads(Path(summary["report_json"]).read_text())
    assert validation["split"] == "validation"
    assert test["num_samples"] + validation["num_samples"] + summary["train_images"] == 90
