"""``flowerkit check`` and ``flowerkit audit``: what is in a folder of photos."""

from __future__ import annotations

import argparse
import json

from flowerkit.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_offline_flag,
    add_option_flags,
    options_given,
    progress_line,
    say,
)
from flowerkit.exceptions import ConfigError
from flowerkit.options.audit import AuditOptions

__all__: list[str] = []  # private module


def cmd_check(args: argparse.Namespace) -> int:
    from flowerkit.data import check_images

    report = check_images(args.directory, progress=progress_line(args, "checking"))
    if args.json:
        print(report.to_json())
    else:
        say(args, report.to_text(verbose=args.verbose))
    return EXIT_OK if report.usable else EXIT_FAILURE


def cmd_audit(args: argparse.Namespace) -> int:
    from flowerkit import auditing as fa

    if args.undo is not None:
        if args.directory is not None or args.apply is not None:
            raise ConfigError("--undo LOG takes no folder and no --apply: the log names both")
        restored = fa.undo(args.undo)
        if args.json:
            print(json.dumps({"restored": [str(m.source) for m in restored]}))
        else:
            say(args, f"restored {len(restored)} files; the folder is as before the apply")
        return EXIT_OK
    if args.directory is None:
        raise ConfigError("give the folder to audit (or --undo LOG)")
    if args.apply is not None:
        result = fa.apply_plan(
            args.apply, args.directory, yes=args.yes, quarantine=args.quarantine, log=args.log
        )
        if args.json:
            print(json.dumps(result.to_dict(), indent=2))
        else:
            say(args, result.summary())
        return EXIT_OK
    if args.yes or args.log is not None:
        raise ConfigError("--yes and --log go with --apply PLAN")
    report = fa.audit(
        args.directory,
        model=args.model,
        **options_given(args, AuditOptions),
        progress=progress_line(args, "embedding"),
    )
    written: dict[str, str] = {}
    if args.report is not None:
        written["report_html"] = str(report.write_html(args.report))
    if args.write_plan is not None:
        plan = fa.write_plan(
            report.plan(), args.write_plan, args.directory, quarantine=args.quarantine
        )
        written["plan"] = str(plan)
    if args.json:
        print(json.dumps({**report.to_dict(), **written}, indent=2))
    else:
        say(args, report.to_text())
        for what, path in written.items():
            say(args, f"{what.replace('_', ' ')}: {path}")
    return EXIT_OK


def add_audit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", nargs="?", help="folder with one sub-folder per class")
    p.add_argument(
        "--model",
        metavar="M",
        help="a model trained on the folder: its features, and its accuracy with and "
        "without the leaked photos (default: the ImageNet backbone's features)",
    )
    p.add_argument("--report", metavar="HTML", help="write the gallery of findings here")
    add_offline_flag(p, "the audit needs --model or --weights")
    add_option_flags(p, AuditOptions)
    act = p.add_argument_group("acting on the findings (nothing is ever deleted)")
    act.add_argument("--write-plan", metavar="CSV", help="write the suggested moves, to edit")
    act.add_argument("--apply", metavar="CSV", help="perform a plan (a dry run without --yes)")
    act.add_argument("--yes", action="store_true", help="with --apply: move the files")
    act.add_argument("--log", metavar="FILE", help="with --apply: where to log the moves")
    act.add_argument(
        "--quarantine",
        metavar="DIR",
        help="where set-aside files go (default: DIR.quarantine next to the folder)",
    )
    act.add_argument("--undo", metavar="LOG", help="put back every file an --apply moved")
