"""What every ``flowerkit`` command shares: exit codes, output that ``-q`` and ``--json``
silence, progress lines on a terminal, ``--offline``, and the flags generated from the
option declarations (:mod:`flowerkit.core.options`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, Literal

from flowerkit.core.options import RECIPE, Options

__all__: list[str] = []  # private module


EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def say(args: argparse.Namespace, text: str) -> None:
    """Human-readable output: silent with -q, and with --json (stdout is for the JSON)."""
    if not args.quiet and not getattr(args, "json", False):
        print(text)


def progress_verbose(args: argparse.Namespace) -> Literal[0, 1, 2]:
    """Keras verbosity: a progress bar on a terminal, one line per epoch in a pipe."""
    if args.quiet or getattr(args, "json", False):
        return 0
    return 1 if sys.stdout.isatty() else 2


def progress_line(args: argparse.Namespace, label: str) -> Callable[[int, int], None] | None:
    """A one-line progress display on a terminal's stderr; nothing in a pipe, -q or --json."""
    if args.quiet or getattr(args, "json", False) or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done == total else ""
        print(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def download_progress(
    args: argparse.Namespace, label: str
) -> Callable[[int, int | None], None] | None:
    """A one-line download display (megabytes) on a terminal's stderr; nothing in a pipe,
    -q or --json."""
    if args.quiet or getattr(args, "json", False) or not sys.stderr.isatty():
        return None

    def show(done: int, total: int | None) -> None:
        width, mb = 30, done / 1e6
        if total is None:
            line = f"{mb:.1f} MB"
        else:
            filled = width * done // max(total, 1)
            line = f"[{'#' * filled}{'.' * (width - filled)}] {mb:.1f}/{total / 1e6:.1f} MB"
        end = "\n" if done == total else ""
        print(f"\r{label} {line}", end=end, file=sys.stderr, flush=True)

    return show


@contextlib.contextmanager
def offline_env(on: bool) -> Iterator[None]:
    """``--offline``: ``$FLOWERKIT_OFFLINE=1`` for this command (restored afterwards), so
    that the default preset and ``weights="imagenet"`` both see it."""
    if not on:
        yield
        return
    from flowerkit.models.download import OFFLINE_ENV

    saved = os.environ.get(OFFLINE_ENV)
    os.environ[OFFLINE_ENV] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(OFFLINE_ENV, None)
        else:
            os.environ[OFFLINE_ENV] = saved


def add_option_flags(group: Any, options: type[Options]) -> None:
    """A flag for every option of ``options`` that declares one. A flag not given leaves
    its option out of the namespace (``argparse.SUPPRESS``), so the API's default applies:
    no default is declared here."""
    for item, spec in options.specs():
        flag = spec.flag
        if flag is None:
            continue
        default = item.default
        hidden = default is None or default is False or default == () or default is RECIPE
        shown = "" if hidden else f" (default {'on' if default is True else default})"
        kwargs: dict[str, Any] = {"dest": item.name, "help": spec.help + shown}
        kwargs["default"] = argparse.SUPPRESS
        if flag.kind == "switch":
            kwargs["action"] = "store_true"
        elif flag.kind == "negatable":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update(metavar=flag.metavar, choices=flag.choices, type=flag.parse or str)
        group.add_argument(flag.name or "--" + item.name.replace("_", "-"), **kwargs)


def options_given(args: argparse.Namespace, options: type[Options]) -> dict[str, Any]:
    """The options of ``options`` that the command line gave."""
    return {
        item.name: getattr(args, item.name)
        for item, spec in options.specs()
        if spec.flag is not None and hasattr(args, item.name)
    }


def add_offline_flag(group: Any, without: str = "") -> None:
    group.add_argument(
        "--offline",
        action="store_true",
        help="never download pretrained weights (as $FLOWERKIT_OFFLINE=1): without a local "
        "copy "
        + (
            without
            or "the default preset is compact, and --preset mobilenet_v2 stops with an error"
        ),
    )
