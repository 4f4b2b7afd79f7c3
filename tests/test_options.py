"""One declaration per option: the public signatures, the CLI's flags and the saved
recipe all derive from ``flowerkit.options``; a copy that drifts fails here."""

from __future__ import annotations

import argparse
import inspect
import warnings
from pathlib import Path
from typing import Any

import pytest

import flowerkit as fk
from flowerkit.auditing.api import audit
from flowerkit.classifier import Classifier
from flowerkit.cli import build_parser
from flowerkit.core.options import RECIPE, Options
from flowerkit.data import load_datasets
from flowerkit.export import export_model
from flowerkit.lite import LiteClassifier
from flowerkit.models import build_model
from flowerkit.options.audit import AuditOptions
from flowerkit.options.data import LoadOptions
from flowerkit.options.export import QUANTIZATIONS, ExportOptions
from flowerkit.options.inference import EvaluateOptions, PredictOptions
from flowerkit.options.models import BuildOptions
from flowerkit.options.training import FinderOptions, TrainOptions
from flowerkit.prediction import predict_inputs
from flowerkit.training.lr_finder import find_learning_rate

#: (function, declaration, method key or None, {parameter name: option name})
SIGNATURES: list[tuple[Any, type[Options], str | None, dict[str, str]]] = [
    (Classifier.fit, TrainOptions, "fit", {}),
    (Classifier.fine_tune, TrainOptions, "fine_tune", dict(TrainOptions.FINE_TUNE_ALIASES)),
    (Classifier.distill, TrainOptions, "distill", {}),
    (load_datasets, LoadOptions, None, {}),
    (build_model, BuildOptions, None, {}),
    (Classifier.from_preset, BuildOptions, None, {}),
    (Classifier.find_learning_rate, FinderOptions, None, {}),
    (find_learning_rate, FinderOptions, None, {}),
    (Classifier.predict, PredictOptions, "predict", {}),
    (LiteClassifier.predict, PredictOptions, "predict_inputs", {}),
    # what is being predicted is not an option: "" marks such a parameter
    (predict_inputs, PredictOptions, "predict_inputs", {"image_size": "", "class_names": ""}),
    (Classifier.evaluate, EvaluateOptions, None, {}),
    (Classifier.export, ExportOptions, None, {}),
    (export_model, ExportOptions, None, {}),
    (audit, AuditOptions, None, {}),
]


def _keyword_only(function: Any) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


@pytest.mark.parametrize(
    ("function", "options", "method", "aliases"),
    SIGNATURES,
    ids=[f"{f[0].__module__}.{f[0].__qualname__}" for f in SIGNATURES],
)
def test_each_signature_is_pinned_to_the_declaration(
    function: Any, options: type[Options], method: str | None, aliases: dict[str, str]
) -> None:
    params = _keyword_only(function)
    declared = {item.name: item for item, _ in options.specs()}
    names = set(options.names(method)) | (set(aliases.values()) - {""})
    taken = {aliases.get(name, name) for name in params} & set(declared)
    if method is not None:  # every option of the method is a parameter, and no other
        extra = {aliases.get(name, name) for name in params} - names - {""}
        assert taken == names, sorted(names ^ taken)
        assert not extra, sorted(extra)
    else:  # the declaration covers the options the CLI repeats: each is a parameter
        assert set(declared) <= taken, sorted(set(declared) - taken)
    for name, param in params.items():
        item = declared.get(aliases.get(name, name))
        if item is None:
            continue
        assert param.default == item.default or param.default is item.default, name
        assert str(param.annotation) == str(item.type), (name, param.annotation, item.type)


def test_the_quantizations_are_declared_once() -> None:
    import typing

    from flowerkit.export import tflite
    from flowerkit.lite import Quantization

    assert typing.get_args(Quantization) == QUANTIZATIONS == tflite.QUANTIZATIONS
    assert ExportOptions.spec("quantization").flag.choices == QUANTIZATIONS  # type: ignore[union-attr]


def _parser(command: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices[command]
    return parser


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("predict", PredictOptions),
        ("evaluate", EvaluateOptions),
        ("export", ExportOptions),
        ("audit", AuditOptions),
    ],
)
def test_inference_and_export_flags_come_from_the_declarations(
    command: str, options: type[Options]
) -> None:
    parser = _parser(command)
    flags = {a.dest: a for a in parser._actions}
    for item, spec in options.specs():
        if spec.flag is None:
            assert spec.no_flag_because, item.name
        else:
            assert item.name in flags, (command, item.name)
            assert flags[item.name].default is argparse.SUPPRESS
            assert spec.help in (flags[item.name].help or "")


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices["train"]
    return parser


def test_every_train_option_is_a_flag_or_says_why_not() -> None:
    flags = {a.dest: a for a in _train_parser()._actions}
    for options, method in ((TrainOptions, "fit"), (LoadOptions, None), (BuildOptions, None)):
        for item, spec in options.specs():
            if method is not None and item.name not in options.names(method):
                continue
            if spec.flag is None:
                assert spec.no_flag_because, f"{item.name}: no flag and no reason"
                if item.name == "seed":  # the command's one --seed is LoadOptions'
                    assert "seed" in flags
                continue
            assert item.name in flags, item.name


def test_a_flag_not_given_leaves_the_option_out() -> None:
    args = _train_parser().parse_args(["photos", "--out", "m"])
    for options in (TrainOptions, LoadOptions, BuildOptions):
        for item, spec in options.specs():
            if spec.flag is not None:
                assert not hasattr(args, item.name), item.name  # so the API's default applies


def test_flags_parse_to_the_values_the_api_takes() -> None:
    argv = ["photos", "--out", "m", "--epochs", "3", "--fine-tune-layers", "all"]
    argv += ["--label-smoothing", "0.1", "--learning-rate", "0.01", "--no-augment"]
    argv += ["--image-size", "64x48", "--batch-size", "8", "--calibrate"]
    args = _train_parser().parse_args(argv)
    assert (args.epochs, args.fine_tune_layers, args.label_smoothing) == (3, "all", 0.1)
    assert (args.learning_rate, args.augmentation, args.image_size) == (0.01, False, (64, 48))
    assert (args.batch_size, args.calibrate) == (8, True)
    options = TrainOptions(epochs=args.epochs, label_smoothing=args.label_smoothing)
    assert options.given() == {"epochs": 3, "label_smoothing": 0.1}


def test_the_help_shows_the_declared_defaults() -> None:
    text = _train_parser().format_help()
    assert "(default 32)" in text  # --batch-size, from LoadOptions
    assert "(default stratified)" in text


def test_recipe_is_a_sentinel_distinct_from_none() -> None:
    assert RECIPE is fk.RECIPE and RECIPE is not None and repr(RECIPE) == "RECIPE"
    assert TrainOptions().fine_tune_layers is RECIPE
    assert TrainOptions(fine_tune_layers="all").fine_tune_layers == "all"
    with pytest.warns(DeprecationWarning, match="epochs=None is deprecated"):
        assert TrainOptions(epochs=None).epochs is RECIPE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"epochs": 0}, "`epochs` must be an integer >= 1"),
        ({"label_smoothing": 1.0}, "`label_smoothing` must be a number in"),
        ({"fine_tune_layers": 0}, "`fine_tune_layers` must be an integer >= 1"),
        ({"class_weight": "even"}, "`class_weight` must be None, 'balanced'"),
        ({"verbose": 3}, "`verbose` must be one of"),
        ({"temperature": 0}, "`temperature` must be positive"),
    ],
)
def test_each_option_is_checked_once_at_the_boundary(given: dict[str, Any], message: str) -> None:
    with pytest.raises(fk.ConfigError, match=message):
        TrainOptions(**given)


def test_fine_tune_names_its_own_arguments_in_errors(colour_folder: Path) -> None:
    import keras

    clf = fk.Classifier(
        keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]),
        ["a", "b", "c"],
    )
    with pytest.raises(fk.ConfigError, match="`layers` must be an integer >= 1"):
        clf.fine_tune(colour_folder, layers=0)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- recipe
def test_label_smoothing_is_a_fit_option_saved_with_the_model(
    trained: tuple[Any, Any], tmp_path: Path
) -> None:
    import copy

    clf, data = trained
    clf = copy.copy(clf)
    clf._trainer = copy.copy(clf._trainer)
    clf.history_ = {key: list(values) for key, values in clf.history_.items()}
    history = clf.fit(data, epochs=1, label_smoothing=0.2, verbose=0)
    assert len(history.history["loss"]) == 1
    assert clf.recipe.label_smoothing == 0.2
    assert clf.model.loss.get_config()["label_smoothing"] == 0.2
    loaded = fk.Classifier.load(clf.save(tmp_path / "smooth.keras"))
    assert loaded.recipe.label_smoothing == 0.2
    assert loaded.metadata_ is not None and loaded.metadata_.recipe is not None


def test_a_model_of_an_unregistered_preset_trains_by_its_saved_recipe(
    colour_folder: Path, tmp_path: Path
) -> None:
    from flowerkit.models import registry

    spec = fk.get_preset("tutorial")
    custom = fk.TrainingRecipe(learning_rate=0.004, label_smoothing=0.05, epochs=1)
    fk.register_preset(
        "recipe_test_preset",
        image_size=(32, 32),
        recipe=custom,
        description="a preset registered by a test",
    )(spec.builder)
    try:
        data = fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)
        clf = fk.Classifier.from_preset("recipe_test_preset", class_names=data.class_names, seed=1)
        clf.fit(data, verbose=0)
        path = clf.save(tmp_path / "custom.keras")
    finally:
        registry._REGISTRY.pop("recipe_test_preset", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recipe was saved: no guess, no warning
        loaded = fk.Classifier.load(path)
        assert loaded.recipe == custom
        loaded.fit(data, epochs=1, verbose=0)
    assert loaded.model.loss.get_config()["label_smoothing"] == 0.05


def test_a_model_saved_without_a_recipe_warns_when_it_trains_by_a_guess(
    trained: tuple[Any, Any], tmp_path: Path
) -> None:
    from flowerkit.training import recipes

    assert recipes.from_saved(None, None) == (fk.TrainingRecipe(), "")
    recipe, why = recipes.from_saved(None, "tutorial")
    assert recipe == fk.get_preset("tutorial").recipe
    assert "saved before flowerkit kept the training recipe" in why
    clf, _ = trained
    model = clf.model
    guessed = fk.Classifier(model, clf.class_names, preset="no_such_preset", trained=True)
    with pytest.warns(fk.RecipeWarning, match="No preset 'no_such_preset' is registered"):
        assert guessed.recipe == fk.TrainingRecipe()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert guessed.recipe == fk.TrainingRecipe()  # once
    with pytest.raises(ValueError, match=r"recipe\.epochs must be a JSON scalar"):
        recipes.from_saved({"epochs": [1]}, None)


def test_every_flag_is_documented_in_the_cli_page() -> None:
    page = (Path(__file__).parents[1] / "docs" / "cli.rst").read_text(encoding="utf-8")
    common = {"--help", "--quiet", "--verbose", "--json", "--version"}
    missing = []
    for command in ("check", "train", "evaluate", "predict", "export", "presets", "demo"):
        for action in _parser(command)._actions:
            for flag in action.option_strings:
                negative = flag.startswith("--no-")  # documented with its positive form
                documented = f"option:: {flag}" in page
                if flag.startswith("--") and flag not in common and not negative and not documented:
                    missing.append(f"{command} {flag}")
    assert not missing, missing
