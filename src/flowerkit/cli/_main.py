"""The ``flowerkit`` parser (one sub-command per module of this package) and
:func:`main`, which runs a command and turns its errors into one line and an exit code."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from flowerkit._version import __version__
from flowerkit.cli._common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, offline_env
from flowerkit.cli._data import add_audit_arguments, cmd_audit, cmd_check
from flowerkit.cli._ship import add_export_arguments, cmd_export, cmd_presets, cmd_weights
from flowerkit.cli._train import add_demo_arguments, add_train_arguments, cmd_demo, cmd_train
from flowerkit.cli._use import (
    add_evaluate_arguments,
    add_predict_arguments,
    cmd_evaluate,
    cmd_predict,
)
from flowerkit.core.runtime import tune_for_training
from flowerkit.exceptions import ConfigError, FlowerkitError

__all__ = ["build_parser", "main"]


_EPILOGS = {
    "check": """examples:
  flowerkit check photos/
  flowerkit check photos/ --json > report.json""",
    "audit": """examples:
  flowerkit audit photos/ --report audit.html        (label errors, copies, leaks, outliers)
  flowerkit audit photos/ --model flowers.keras --json > audit.json
  flowerkit audit photos/ --write-plan plan.csv      (suggested moves, for you to edit)
  flowerkit audit photos/ --apply plan.csv           (dry run: what would move)
  flowerkit audit photos/ --apply plan.csv --yes     (move; prints the log to undo with)
  flowerkit audit --undo photos.audit-20261207T101500Z.jsonl""",
    "train": """examples:
  flowerkit train photos/ --out flowers.keras        (mobilenet_v2 from ImageNet weights)
  flowerkit train photos/ --out flowers.keras --offline       (no download: compact if need be)
  flowerkit train photos/ --out flowers.keras --weights mobilenet_v2_no_top.weights.h5
  flowerkit train photos/ --out flowers.keras --preset tutorial --epochs 15 --augment
  flowerkit train photos/ --out flowers.keras --preset compact --option width=1.5 --json
  flowerkit train photos/ --out flowers.keras --preset mobilenet_v2 --fine-tune-layers all
  flowerkit train photos/ --out flowers.keras --class-weight balanced --calibrate""",
    "evaluate": """examples:
  flowerkit evaluate flowers.keras photos_test/
  flowerkit evaluate flowers.keras photos_test/ --report report.html --json""",
    "predict": """examples:
  flowerkit predict flowers.keras rose.jpg
  flowerkit predict flowers.keras 'new/*.jpg' --top-k 2 --format csv
  flowerkit predict flowers.keras new_photos/ --format json
  flowerkit predict flowers.keras rose.jpg --explain overlays/   (Grad-CAM overlays)
  flowerkit predict flowers.tflite rose.jpg        (LiteRT: no TensorFlow needed)""",
    "export": """examples:
  flowerkit export flowers.keras --format saved_model --out flowers_savedmodel
  flowerkit export flowers.keras --format tflite --out flowers.tflite
  flowerkit export flowers.keras --format tflite --quantization int8 \\
      --representative-data photos/ --validation-data photos_test/ --out flowers_int8.tflite""",
    "demo": """examples:
  flowerkit demo
  flowerkit demo --offline
  flowerkit demo --out /tmp/demo --preset tutorial --epochs 5""",
    "presets": """examples:
  flowerkit presets
  flowerkit presets --json""",
    "weights": """examples:
  flowerkit weights
  flowerkit weights --fetch
  flowerkit weights --json
  FLOWERKIT_WEIGHTS_MIRROR=https://files.example.com/weights/ flowerkit weights --fetch
  FLOWERKIT_WEIGHTS_MIRROR=/mnt/shared/weights flowerkit weights --fetch""",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with status 2."""

    def error(self, message: str) -> Any:  # usage errors exit 2 with one line
        self.print_usage(sys.stderr)
        print(f"flowerkit: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The ``flowerkit`` argument parser, every sub-command and flag on it (for tools
    that document or wrap the command line).

    Example:
        >>> from flowerkit.cli import build_parser
        >>> args = build_parser().parse_args(["check", "photos", "--json"])
        >>> args.command, args.directory, args.json
        ('check', 'photos', True)
    """
    parser = _Parser(
        prog="flowerkit",
        description="Train, check, evaluate and ship image classifiers from a folder of photos.",
        epilog="Run 'flowerkit COMMAND --help' for a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"flowerkit {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    common.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks and TensorFlow's log"
    )
    common.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=_EPILOGS.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = add("check", "check every image in a folder of class sub-folders", cmd_check)
    p.add_argument("directory", help="folder with one sub-folder per class")
    add_audit_arguments(
        add(
            "audit",
            "find likely label errors, near-duplicates, leaks and outliers in a folder",
            cmd_audit,
        )
    )

    add_train_arguments(add("train", "train a classifier on a folder and save it", cmd_train))

    add_evaluate_arguments(
        add("evaluate", "evaluate a saved model on a folder of class sub-folders", cmd_evaluate)
    )
    add_predict_arguments(
        add("predict", "classify image files, folders or glob patterns", cmd_predict)
    )
    add_export_arguments(
        add(
            "export",
            "export a saved model as a SavedModel, a LiteRT or an ONNX file",
            cmd_export,
        )
    )
    p = add("presets", "list the model presets", cmd_presets)

    p = add("weights", "list and verify the pretrained weights flowerkit knows", cmd_weights)
    p.add_argument(
        "--fetch",
        action="store_true",
        help="download what is missing first (from $FLOWERKIT_WEIGHTS_MIRROR when set)",
    )
    add_demo_arguments(
        add("demo", "train on the embedded flower sample and predict held-out photos", cmd_demo)
    )
    return parser


def _quiet_tensorflow(verbose: bool) -> None:
    # TensorFlow's C++ log (e.g. "failed call to cuInit" on every machine without a GPU)
    # is noise for CLI users; -v shows it. flowerkit's own errors are unaffected.
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or usage error (2)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _quiet_tensorflow(args.verbose)
    # The CLI trains, predicts in batches and exits: the process-wide speed settings pay
    # off in every command that runs a model (see flowerkit.core.runtime).
    tune_for_training()
    try:
        with offline_env(getattr(args, "offline", False)):
            return int(args.func(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    except BrokenPipeError:  # e.g. `flowerkit check --json DIR | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except ConfigError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"flowerkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FlowerkitError, OSError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"flowerkit: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("flowerkit: interrupted", file=sys.stderr)
        return 130
