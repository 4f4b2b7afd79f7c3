"""``python -m flowerkit`` runs the command-line interface."""

from flowerkit.cli import main

raise SystemExit(main())
