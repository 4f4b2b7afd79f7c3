"""The command line, through main(argv) and through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flowerkit import __version__
from flowerkit.cli import main
from flowerkit.training.callbacks import latest_checkpoint

#: How the tests start the installed CLI in a fresh process.
FLOWERKIT = (sys.executable, "-m", "flowerkit")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help_are_fast_and_do_not_import_tensorflow() -> None:
    code = (
        "import sys, time\nt = time.perf_counter()\nfrom flowerkit.cli import main\n"
        "main(['--version'])\nprint(time.perf_counter() - t, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "flowerkit" and out[1] == __version__
    assert float(out[2]) < 1.0 and out[3] == "False"
    started = time.perf_counter()
    help_text = subprocess.run(
        [*FLOWERKIT, "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert time.perf_counter() - started < 5  # interpreter start included
    for command in ("check", "train", "evaluate", "predict", "demo", "presets", "weights"):
        assert command in help_text


@pytest.mark.parametrize("command", ["check", "train", "evaluate", "predict", "demo", "weights"])
def test_every_command_has_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and "examples:" in out and f"flowerkit {command}" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["train"], capsys)
    assert code == 2 and "error:" in err
    code, _, err = run(["bogus"], capsys)
    assert code == 2
    code, _, err = run([], capsys)
    assert code == 2


def test_check_json_and_exit_codes(
    colour_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["check", str(colour_folder), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["usable"] is True
    assert report["counts"] == {"blue": 30, "green": 30, "red": 30}
    (tmp_path / "only").mkdir()
    code, out, _ = run(["check", str(tmp_path), "--json"], capsys)
    assert code == 1 and json.loads(out)["usable"] is False


def test_missing_folder_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(["check", str(tmp_path / "nope")], capsys)
    assert code == 1
    assert err.startswith("flowerkit: error:") and "does not exist" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def trained_model(colour_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("cli") / "colours.keras"
    proc = subprocess.run(
        [
            *FLOWERKIT,
            "train",
            str(colour_folder),
            "--out",
            str(out),
            "--preset",
            "tutorial",
            "--image-size",
            "32",
            "--epochs",
            "6",
            "--no-augment",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_train_writes_model_curves_and_report(trained_model: dict[str, Any]) -> None:
    assert Path(trained_model["model"]).is_file()
    assert trained_model["classes"] == ["blue", "green", "red"]
    assert trained_model["epochs"] == 6
    assert trained_model["validation_accuracy"] > 0.9
    assert Path(trained_model["curves"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = Path(trained_model["report"]).read_text()
    assert "<html" in html.lower() and "data:image/png;base64" in html
    assert json.loads(Path(trained_model["report_json"]).read_text())["schema_version"] == 1


def test_train_time_budget_stops_early(
    colour_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "budget.keras"
    argv = [
        "train",
        str(colour_folder),
        "--out",
        str(out),
        "--preset",
        "tutorial",
        "--image-size",
        "16",
    ]
    argv += ["--epochs", "50", "--time-budget", "0", "--no-augment", "--json"]
    code, stdout, _ = run(argv, capsys)
    assert code == 0
    assert json.loads(stdout)["epochs"] == 1 and out.is_file()


def test_predict_formats(
    trained_model: dict[str, Any], colour_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = trained_model["model"]
    red = sorted((colour_folder / "red").glob("*.png"))[:2]
    code, out, _ = run(["predict", model, *map(str, red), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and [p["label"] for p in doc["predictions"]] == ["red", "red"]
    code, out, _ = run(
        [
            "predict",
            model,
            str(colour_folder / "blue" / "*.png"),
            "--format",
            "csv",
            "--top-k",
            "2",
        ],
        capsys,
    )
    lines = out.strip().splitlines()
    assert lines[0] == "source,label,confidence,blue,green,red" and len(lines) == 31
    code, out, _ = run(["predict", model, str(red[0])], capsys)
    assert code == 0 and "red" in out and "%" in out


def test_predict_reports_bad_files_and_fails(
    trained_model: dict[str, Any],
    colour_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    good = sorted((colour_folder / "green").glob("*.png"))[0]
    code, out, err = run(["predict", trained_model["model"], str(good), str(bad), "--json"], capsys)
    doc = json.loads(out)
    assert code == 1
    assert len(doc["predictions"]) == 1 and doc["failures"][0]["reason"] == "empty_file"
    assert "bad.jpg" in err


def test_evaluate_json_and_html(
    trained_model: dict[str, Any],
    colour_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = tmp_path / "r.html"
    code, out, _ = run(
        ["evaluate", trained_model["model"], str(colour_folder), "--json", "--report", str(report)],
        capsys,
    )
    doc = json.loads(out)
    assert code == 0 and doc["num_samples"] == 90 and doc["accuracy"] > 0.9
    assert report.stat().st_size > 1000


def test_evaluate_unreadable_model(
    tmp_path: Path, colour_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "m.keras"
    junk.write_text("nope")
    code, _, err = run(["evaluate", str(junk), str(colour_folder)], capsys)
    assert code == 1 and "not a .keras model file" in err


def test_presets_lists_tutorial(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["presets", "--json"], capsys)
    names = [p["name"] for p in json.loads(out)]
    assert code == 0 and "tutorial" in names


def test_demo_trains_saves_and_predicts_held_out_photos(tmp_path: Path) -> None:
    """The README's first command, shortened to one epoch; offline (conftest.py), so it
    takes the default path's fallback, ``compact``."""
    proc = subprocess.run(
        [
            *FLOWERKIT,
            "demo",
            "--out",
            str(tmp_path),
            "--epochs",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert Path(summary["model"]).is_file() and Path(summary["curves"]).is_file()
    assert summary["classes"] == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    assert len(summary["predictions"]) == 5
    assert all(0 < p["confidence"] <= 1 for p in summary["predictions"])
    assert summary["preset"] == "compact" and summary["epochs"] == 1


def test_ctrl_c_keeps_the_last_epoch_and_the_same_command_resumes(
    colour_folder: Path, tmp_path: Path
) -> None:
    import signal

    out = tmp_path / "m.keras"
    command = [
        *FLOWERKIT,
        "train",
        str(colour_folder),
        "--out",
        str(out),
        "--preset",
        "tutorial",
        "--image-size",
        "16",
        "--no-augment",
        "-q",
    ]
    # Ctrl-C as at a terminal: the child gets the default SIGINT disposition even when
    # the tests run in the background (where a shell starts them with SIGINT ignored).
    proc = subprocess.Popen(
        [*command, "--epochs", "200"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    folder = tmp_path / "m.keras.checkpoint"
    deadline = time.monotonic() + 120
    while not list(folder.glob("checkpoint-*")) and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    assert list(folder.glob("checkpoint-*")), "no epoch was checkpointed"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "m.keras.checkpoint" in err and "resume" in err
    assert "Traceback" not in err
    checkpoint = latest_checkpoint(folder)
    assert checkpoint is not None
    done = checkpoint.epochs_done
    assert not out.exists()

    # The same command again (with a reachable epoch count) resumes and finishes.
    epochs = done + 1
    finished = subprocess.run(
        [*command, "--epochs", str(epochs), "--json"], capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    summary = json.loads(finished.stdout)
    assert summary["epochs"] == epochs
    assert out.is_file() and not folder.exists()


def test_train_without_suffix_then_predict_with_the_same_name(
    colour_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"  # no .keras: train saves model.keras, predict finds it
    argv = [
        "train",
        str(colour_folder),
        "--out",
        str(out),
        "--preset",
        "tutorial",
        "--image-size",
        "16",
    ]
    code, stdout, err = run([*argv, "--epochs", "1", "--no-augment", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    reported = {Path(v).name for v in summary.values() if isinstance(v, str) and "/" in v}
    assert {p.name for p in tmp_path.iterdir()} == reported  # no empty checkpoint folder
    assert "model.keras" in reported
    image = sorted((colour_folder / "red").glob("*.png"))[0]
    code, stdout, err = run(["predict", str(out), str(image), "--format", "json"], capsys)
    assert code == 0, err
    from flowerkit.classifier import Classifier

    expected = Classifier.load(tmp_path / "model.keras").predict(image)[0].label
    assert json.loads(stdout)["predictions"][0]["label"] == expected
