"""Photo folders for the benchmarks: a smaller copy of a data set, made of links."""

from __future__ import annotations

from pathlib import Path


def subset(data_dir: Path, per_class: int, into: Path) -> Path:
    """A folder of symbolic links to the first ``per_class`` photos of every class."""
    for class_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        target = into / class_dir.name
        target.mkdir(parents=True)
        for photo in sorted(class_dir.iterdir())[:per_class]:
            (target / photo.name).symlink_to(photo.resolve())
    return into
