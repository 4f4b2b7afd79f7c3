"""flowerkit.training.lr_finder: the learning-rate range test, on tiny synthetic data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from flowerkit.exceptions import ConfigError, DatasetError
from flowerkit.training.lr_finder import (
    MIN_DROP,
    LearningRateFinding,
    find_learning_rate,
    suggest_learning_rate,
)
from flowerkit.training.optimizers import compile_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _compiled(preset: str, optimizer: Any = None) -> Any:
    """A 3-class model of ``preset`` at 32x32, compiled as ``Classifier.fit`` compiles it."""
    model = fk.build_model(3, preset=preset, image_size=32, seed=1)
    compile_model(
        model,
        fk.get_preset(preset).recipe,
        optimizer=optimizer,
        learning_rate=None,
        from_logits=True,
        num_classes=3,
    )
    return model


def _state(model: Any) -> list[tuple[str, np.ndarray]]:
    """Every variable of the model, its metrics and its optimizer, by path."""
    variables = [*model.variables, *model.metrics_variables, *model.optimizer.variables]
    return [(x.path, np.array(x.numpy(), copy=True)) for x in variables]


def _assert_same_state(
    before: list[tuple[str, np.ndarray]], model: Any, *, fresh: bool = False
) -> None:
    """Every variable in ``before`` has its value back; with ``fresh`` (a model never
    trained), variables that the first step creates (optimizer moments, metric
    accumulators) may exist now, all zeros, as a first ``fit`` would create them."""
    after = dict(_state(model))
    missing = [p for p, _ in before if p not in after]
    assert not missing, f"gone: {missing}"
    changed = [p for p, a in before if not np.array_equal(a, after[p])]
    assert not changed, f"not restored: {changed}"
    new = {p: a for p, a in after.items() if p not in dict(before)}
    if fresh:
        assert not [p for p, a in new.items() if np.any(a)], "new variables must be zeros"
    else:
        assert not new, f"new variables: {sorted(new)}"


@pytest.fixture(scope="module")
def data(colour_folder: Path) -> Any:
    return fk.load_datasets(colour_folder, image_size=32, batch_size=16, seed=1)


@pytest.fixture(scope="module")
def tutorial(data: Any) -> Any:
    """A compiled tutorial model trained for one epoch, so its optimizer has state.

    Shared: every test must leave it as it found it (which is what the finder promises).
    """
    model = _compiled("tutorial")
    model.fit(data.train, epochs=1, verbose=0)
    return model


# --------------------------------------------------------------------------- the curve


def test_records_one_loss_per_rate_on_an_exponential_schedule(tutorial: Any, data: Any) -> None:
    finding = find_learning_rate(
        tutorial, data.train, start=1e-5, end=1e-2, steps=12, divergence=math.inf
    )
    assert isinstance(finding, LearningRateFinding)
    assert not finding.stopped_early
    assert len(finding.rates) == len(finding.losses) == len(finding.smoothed) == 12
    rates = np.array(finding.rates)
    assert rates[0] == pytest.approx(1e-5)
    assert rates[-1] == pytest.approx(1e-2)
    np.testing.assert_allclose(rates[1:] / rates[:-1], (1e3) ** (1 / 11), rtol=1e-9)
    assert all(math.isfinite(x) and x > 0 for x in finding.losses)
    # fastai's smoothing: an exponential moving average, bias-corrected
    average = 0.0
    for step, (loss, smooth) in enumerate(zip(finding.losses, finding.smoothed, strict=True), 1):
        average = 0.98 * average + 0.02 * loss
        assert smooth == pytest.approx(average / (1 - 0.98**step))
    assert finding.smoothed[0] == pytest.approx(finding.losses[0])


def test_stops_early_when_the_loss_diverges(tutorial: Any, data: Any) -> None:
    finding = find_learning_rate(tutorial, data.train, start=1e-4, end=1e4, steps=60)
    assert finding.stopped_early
    assert 2 <= len(finding.rates) < 60
    last = finding.smoothed[-1]
    assert not math.isfinite(last) or last > 4.0 * min(finding.smoothed[:-1])
    assert all(
        s <= 4.0 * min(finding.smoothed[: i + 1]) for i, s in enumerate(finding.smoothed[:-1])
    )


def test_suggests_a_rate_inside_the_tested_range(tutorial: Any, data: Any) -> None:
    finding = find_learning_rate(tutorial, data.train, start=1e-5, end=10.0, steps=40, seed=3)
    assert finding.suggestion is not None, finding.reason
    assert finding.rates[0] <= finding.suggestion <= finding.rates[-1]
    assert finding.suggestion in finding.rates
    assert finding.reason.startswith("Valley")
    doc = finding.to_dict()
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    assert doc["suggestion"] == finding.suggestion
    assert len(doc["losses"]) == len(finding.rates)


# --------------------------------------------------------------------------- restoring


def test_leaves_every_variable_as_it_was(tutorial: Any, data: Any) -> None:
    before = _state(tutorial)
    iterations = int(tutorial.optimizer.iterations.numpy())
    assert iterations > 0 and any(np.any(a) for p, a in before if "momentum" in p)
    seen: list[list[np.ndarray]] = []
    original = tutorial.train_on_batch

    def spying(*args: Any, **kwargs: Any) -> Any:
        logs = original(*args, **kwargs)
        seen.append([w.numpy() for w in tutorial.trainable_variables])
        return logs

    tutorial.train_on_batch = spying
    try:
        find_learning_rate(tutorial, data.train, start=1e-4, end=1.0, steps=8)
    finally:
        del tutorial.train_on_batch
    assert seen, "the test trained nothing"
    # it did train (weights moved), and every variable came back
    assert not all(
        np.array_equal(a, w.numpy())
        for a, w in zip(seen[-1], tutorial.trainable_variables, strict=True)
    )
    _assert_same_state(before, tutorial)
    assert int(tutorial.optimizer.iterations.numpy()) == iterations


def test_restores_everything_when_interrupted(tutorial: Any, data: Any) -> None:
    before = _state(tutorial)
    calls = 0
    original = tutorial.train_on_batch

    def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        logs = original(*args, **kwargs)  # the weights have moved when it fails
        if calls == 3:
            raise RuntimeError("interrupted")
        return logs

    tutorial.train_on_batch = failing
    try:
        with pytest.raises(RuntimeError, match="interrupted"):
            find_learning_rate(tutorial, data.train, start=1e-3, end=1.0, steps=10)
    finally:
        del tutorial.train_on_batch
    assert calls == 3
    _assert_same_state(before, tutorial)


def test_compact_recipe_batchnorm_and_schedule_rate(data: Any, tiny_compact: str) -> None:
    """The compact recipe: AdamW with weight decay, label smoothing, batch norm,
    augmentation (random seeds) and a warm-up/cosine schedule that drives the optimizer's
    rate variable; the test starts on a never-trained model (unbuilt optimizer). The model
    is the tiny preset with compact's recipe and augmentation (tests/tiny_presets.py)."""
    assert fk.get_preset(tiny_compact).recipe == fk.get_preset("compact").recipe
    model = _compiled(tiny_compact)
    model.optimizer.learning_rate = 1.234e-3  # as WarmupCosine leaves it mid-schedule
    assert not model.optimizer.built
    before = _state(model)
    function = model.train_function
    finding = find_learning_rate(model, data.train, start=1e-4, end=1.0, steps=10)
    assert len(finding.losses) == 10 or finding.stopped_early
    _assert_same_state(before, model, fresh=True)
    assert model.optimizer.built
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1.234e-3)
    bn = [p for p, _ in before if "moving_mean" in p]
    assert bn, "compact should have batch-norm statistics"
    assert function is None
    assert model.train_function is not None  # traced once, kept for the next fit


def test_user_optimizer_with_a_learning_rate_schedule(data: Any) -> None:
    """A Keras LearningRateSchedule cannot be assigned: the test runs on a stand-in copy
    and the model's optimizer (schedule, iterations, moments) is left untouched."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(1e-7, decay_steps=1000)
    optimizer = keras.optimizers.Adam(schedule)
    model = _compiled("tutorial", optimizer=optimizer)
    model.fit(data.train.take(2), epochs=1, verbose=0)
    function = model.train_function
    before = _state(model)
    rate_before = float(optimizer.learning_rate)
    # with the schedule's own rate (~1e-7) nothing could diverge: reaching 1e4 proves the
    # test's rates were applied
    finding = find_learning_rate(model, data.train, start=1e-4, end=1e4, steps=50)
    assert finding.stopped_early
    assert model.optimizer is optimizer
    assert model.train_function is function
    _assert_same_state(before, model)
    assert float(optimizer.learning_rate) == rate_before
    model.fit(data.train.take(1), epochs=1, verbose=0)  # still trains with its schedule
    assert int(optimizer.iterations.numpy()) == 3


# --------------------------------------------------------------------------- the rule


def _valley(n: int = 60) -> tuple[list[float], list[float]]:
    rates = [1e-6 * 10 ** (7 * i / (n - 1)) for i in range(n)]
    x = np.log10(rates)
    loss = 1.0 + 0.5 * np.tanh(-(x + 3.0)) + np.exp(2.5 * (x + 0.5))  # falls, then blows up
    return rates, [float(v) for v in loss]


def test_suggestion_is_half_way_down_the_valley() -> None:
    rates, loss = _valley()
    suggestion, reason = suggest_learning_rate(rates, loss)
    assert suggestion is not None, reason
    low = int(np.argmin(loss))
    assert rates[6] < suggestion < rates[low] / 3  # well below the minimum, past the start
    # fastai's index: first + int(n / 3) + int(n / 6) into the valley (after the skip)
    skip = len(loss) // 10
    index = skip + int((low - skip) / 3) + int((low - skip) / 3 / 2)
    assert suggestion == rates[index]


def test_noise_does_not_split_the_valley() -> None:
    rates, loss = _valley()
    noisy = [v + (0.01 if i % 7 == 3 else 0.0) for i, v in enumerate(loss)]
    assert suggest_learning_rate(rates, noisy)[0] == suggest_learning_rate(rates, loss)[0]


def test_no_suggestion_on_a_flat_curve() -> None:
    rates = [10 ** (-6 + i / 10) for i in range(50)]
    flat = [0.3 + 0.002 * math.sin(i) for i in range(50)]
    suggestion, reason = suggest_learning_rate(rates, flat)
    assert suggestion is None
    assert "flat" in reason
    assert f"{MIN_DROP:.0%}" in reason


def test_no_suggestion_on_a_short_curve() -> None:
    suggestion, reason = suggest_learning_rate([1e-3, 1e-2, 1e-1], [1.0, 0.5, 0.2])
    assert suggestion is None
    assert "Too short" in reason


def test_non_finite_tail_is_ignored() -> None:
    rates, loss = _valley()
    cut = [*loss[:45], math.nan, math.inf]
    suggestion, _ = suggest_learning_rate(rates[:47], cut)
    assert suggestion == suggest_learning_rate(rates[:45], loss[:45])[0]
    finding = LearningRateFinding(
        tuple(rates[:47]), tuple(cut), tuple(cut), suggestion, stopped_early=True
    )
    doc = finding.to_dict()
    assert doc["losses"][-2:] == [None, None]
    json.dumps(doc, allow_nan=False)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"start": 0.0}, "start"),
        ({"start": -1e-3}, "start"),
        ({"start": math.nan}, "start"),
        ({"start": True}, "start"),
        ({"start": "1e-3"}, "start"),
        ({"end": 1e-8}, "end"),
        ({"start": 1e-2, "end": 1e-2}, "end"),
        ({"end": math.inf}, "end"),
        ({"steps": 1}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"divergence": 1.0}, "divergence"),
        ({"divergence": -4}, "divergence"),
        ({"smoothing": 1.0}, "smoothing"),
        ({"smoothing": -0.1}, "smoothing"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_name_the_argument(
    tutorial: Any, data: Any, options: dict[str, Any], name: str
) -> None:
    with pytest.raises(ConfigError, match=f"`{name}`"):
        find_learning_rate(tutorial, data.train, **options)


def test_model_and_dataset_are_checked(tutorial: Any, data: Any) -> None:
    import tensorflow as tf

    with pytest.raises(ConfigError, match=r"`model` must be a keras\.Model"):
        find_learning_rate("model", data.train)
    uncompiled = fk.build_model(3, preset="tutorial", image_size=32, seed=1)
    with pytest.raises(ConfigError, match="`model` must be compiled"):
        find_learning_rate(uncompiled, data.train)
    with pytest.raises(ConfigError, match="`dataset`"):
        find_learning_rate(tutorial, [(np.zeros((1, 32, 32, 3)), np.zeros(1))])
    images_only = data.train.map(lambda x, y: x)
    with pytest.raises(ConfigError, match="`dataset`"):
        find_learning_rate(tutorial, images_only)
    before = _state(tutorial)
    with pytest.raises(DatasetError, match="empty"):
        find_learning_rate(tutorial, data.train.take(0))
    _assert_same_state(before, tutorial)
    assert isinstance(data.train, tf.data.Dataset)


# --------------------------------------------------------------------------- the plot


@pytest.fixture
def finding() -> LearningRateFinding:
    rates, loss = _valley()
    suggestion, reason = suggest_learning_rate(rates, loss)
    noisy = tuple(v * (1.05 if i % 3 else 0.95) for i, v in enumerate(loss))
    return LearningRateFinding(tuple(rates), noisy, tuple(loss), suggestion, True, reason)


def test_plot_writes_a_png(finding: LearningRateFinding, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from flowerkit.evaluation.plots import plot_lr_find

    target = tmp_path / "lr.png"
    fig = plot_lr_find(finding, save_path=target)
    assert target.read_bytes()[:8] == PNG_MAGIC
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert "Smoothed loss" in labels
    assert any(label.startswith("Suggestion") for label in labels)


def test_plot_into_axes_without_a_suggestion(finding: LearningRateFinding) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from flowerkit.evaluation.plots import plot_lr_find

    fig = Figure()
    ax = fig.add_subplot()
    flat = LearningRateFinding(finding.rates, finding.losses, finding.smoothed, None, False)
    assert plot_lr_find(flat, ax=ax) is fig
    assert "no suggestion" in ax.get_title()
    with pytest.raises(ConfigError, match="`finding`"):
        plot_lr_find({"rates": []})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="`save_path`"):
        plot_lr_find(finding, save_path="lr.gif")
