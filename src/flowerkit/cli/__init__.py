"""The ``flowerkit`` command line: the whole workflow, with the API's names.

TensorFlow is imported only inside the commands that need it, so ``flowerkit --help`` and
``flowerkit --version`` answer at once. Exit codes: 0 success, 1 the task failed (bad
data, unreadable model, ...), 2 usage error. Errors print as one line; ``-v`` adds the
traceback.

One module per group of commands: ``_data`` (check, audit), ``_train`` (train, demo),
``_use`` (evaluate, predict) and ``_ship`` (export, presets, weights), on ``_common``
(output, progress, flags generated from the option declarations); ``_main`` builds the
parser and runs a command.
"""

from __future__ import annotations

from flowerkit.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
