"""``flowerkit export``, ``flowerkit presets`` and ``flowerkit weights``: shipping a
model, and what it can be built from."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from flowerkit.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_option_flags,
    download_progress,
    options_given,
    say,
)
from flowerkit.options.export import ExportOptions

__all__: list[str] = []  # private module


def cmd_export(args: argparse.Namespace) -> int:
    from flowerkit.classifier import Classifier

    clf = Classifier.load(args.model)
    result = clf.export(args.out, args.format, **options_given(args, ExportOptions))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        say(args, f"exported {result.path} ({result.size_bytes / 1e6:.1f} MB)")
        for check in result.checks:
            say(args, f"  {check}: {'ok' if check.passed else 'FAILED'}")
    return EXIT_OK


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model saved by 'flowerkit train' or Classifier.save")
    p.add_argument("--format", choices=("saved_model", "tflite", "onnx"), required=True)
    p.add_argument(
        "--out", required=True, help="the SavedModel folder, .tflite or .onnx file to write"
    )
    add_option_flags(p, ExportOptions)


def cmd_presets(args: argparse.Namespace) -> int:
    from flowerkit.models import get_preset, list_presets

    rows = [get_preset(name) for name in list_presets()]
    if args.json:
        print(
            json.dumps(
                [
                    {"name": s.name, "image_size": list(s.image_size), "description": s.description}
                    for s in rows
                ],
                indent=2,
            )
        )
    else:
        for s in rows:
            say(args, f"{s.name:<14} {s.image_size[0]}x{s.image_size[1]}  {s.description}")
    return EXIT_OK


def cmd_weights(args: argparse.Namespace) -> int:
    from flowerkit.models.download import KNOWN_WEIGHTS, fetch_weights, verify_weights

    if args.fetch:
        for preset in sorted(KNOWN_WEIGHTS):
            path = fetch_weights(preset, progress=download_progress(args, f"{preset}:"))
            say(args, f"{preset}: {path}")
    rows = verify_weights()
    bad = [row for row in rows if row.status == "mismatch"]
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        _weights_text(args, rows)
    for row in bad:
        print(
            f"flowerkit: {row.path} does not verify ({row.detail}); delete it and run "
            "'flowerkit weights --fetch'",
            file=sys.stderr,
        )
    return EXIT_FAILURE if bad else EXIT_OK


def _weights_text(args: argparse.Namespace, rows: list[Any]) -> None:
    from flowerkit.models.download import MIRROR_ENV, is_offline
    from flowerkit.models.local_weights import weights_folders

    mirror = os.environ.get(MIRROR_ENV)
    source = f"${MIRROR_ENV} ({mirror})" if mirror else "their public addresses"
    say(args, "folders searched, in order: " + ", ".join(map(str, weights_folders())))
    say(args, "downloads: " + ("none (offline)" if is_offline() else f"from {source}"))
    for row in rows:
        used = "  [used by default]" if row.used else ""
        where = row.path if row.path is not None else f"not here (would go to {row.target})"
        say(args, f"{row.preset}  {row.status:<10}  {row.name}{used}")
        say(args, f"    {where}: {row.detail}" if row.path is not None else f"    {where}")
