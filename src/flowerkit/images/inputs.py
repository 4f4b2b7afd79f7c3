"""Turn what a user hands to ``predict`` into named images.

``predict`` takes a file path, a folder, a ``PIL.Image.Image``, encoded bytes, an array
``(H, W, 3)`` or ``(N, H, W, 3)``, a tensor, or a list of any of these. :func:`expand`
flattens that into one ``(source name, image)`` pair per image; :func:`decode_all` decodes
them with :func:`~flowerkit.images.load_image`, keeping the ones that fail apart.

This is not the adapter of the ``data`` that training, evaluation and export take
(``Datasets``, ``tf.data`` pipelines, folders of class sub-folders): that one, with its
table of accepted kinds, is :mod:`flowerkit.data.adapt`, a layer above. ``predict``'s
inputs are single unlabelled images of many kinds, named one by one and streamed; each
item is judged when it is decoded, so an unreadable file can be skipped
(``errors="skip"``) without refusing the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from flowerkit.core.runtime import available_cores
from flowerkit.exceptions import ConfigError, UnreadableImageError
from flowerkit.images.decode import load_image
from flowerkit.images.files import image_files

__all__ = ["Decoded", "Failure", "decode_all", "decode_batches", "expand", "source_name"]


def source_name(item: object, position: int) -> str:
    """How a prediction names its input.

    That is the path, or ``"<array 3>"``, ``"<bytes 3>"``, ``"<PIL 3>"`` for in-memory
    inputs, numbered by ``position``.
    """
    if isinstance(item, str | Path):
        return str(item)
    kinds = {"bytes": "bytes", "bytearray": "bytes", "memoryview": "bytes", "ndarray": "array"}
    fallback = "PIL" if hasattr(item, "getpixel") else "input"
    return f"<{kinds.get(type(item).__name__, fallback)} {position}>"


def _folder(path: Path) -> list[Path]:
    try:
        files = image_files(path)
    except OSError as exc:
        raise ConfigError(f"The folder {str(path)!r} could not be searched: {exc}") from exc
    if not files:
        raise ConfigError(f"The folder {str(path)!r} holds no image files to predict.")
    return files


def expand(inputs: object) -> list[tuple[str, object]]:
    """Flatten ``predict``'s input into ``(source name, single image)`` pairs, in order.

    A folder contributes its image files (recursively, sorted, by the checker's rules:
    :func:`flowerkit.images.files.walk`).

    Raises:
        ~flowerkit.ConfigError: no images at all, or a folder with none (or
            one that cannot be searched).
    """
    items: list[tuple[str, object]] = []

    def add(item: object) -> None:
        if isinstance(item, str | os.PathLike):
            path = Path(item)
            if path.is_dir():
                items.extend((str(f), f) for f in _folder(path))
            else:
                items.append((str(path), path))
        elif isinstance(item, np.ndarray) and item.ndim == 4:
            for arr in item:
                items.append((source_name(arr, len(items)), arr))
        elif isinstance(item, list | tuple):
            for sub in item:
                add(sub)
        elif hasattr(item, "numpy") and not isinstance(item, bytes | bytearray):
            add(np.asarray(item))  # a tf.Tensor or similar
        else:
            items.append((source_name(item, len(items)), item))

    add(inputs)
    if not items:
        raise ConfigError("predict() received no images (an empty list).")
    return items


class Failure(NamedTuple):
    """An input that could not be decoded.

    Attributes:
        source: its name (see :func:`source_name`).
        reason: a reason code from :data:`flowerkit.images.REASONS`.
        message: what is wrong with it.
    """

    source: str
    reason: str
    message: str


class Decoded(NamedTuple):
    """The images that decoded, their names, and the failures (from :func:`decode_all`).

    Attributes:
        images: the images that decoded, ``(N, H, W, 3)`` uint8.
        names: their source names, in order.
        failures: the inputs that could not be decoded.
    """

    images: NDArray[np.uint8]
    names: list[str]
    failures: list[Failure]


def _decode(
    item: tuple[str, object], image_size: tuple[int, int]
) -> NDArray[np.uint8] | UnreadableImageError:
    try:
        return load_image(item[1], image_size)  # type: ignore[arg-type]
    except UnreadableImageError as exc:
        return exc


def _collect(
    items: Sequence[tuple[str, object]],
    results: Iterable[NDArray[np.uint8] | UnreadableImageError],
    image_size: tuple[int, int],
    raise_errors: bool,
) -> Decoded:
    images: list[NDArray[np.uint8]] = []
    names: list[str] = []
    failures: list[Failure] = []
    for (name, _), result in zip(items, results, strict=True):
        if isinstance(result, UnreadableImageError):
            if raise_errors:
                raise result
            failures.append(Failure(name, result.reason, str(result)))
        else:
            images.append(result)
            names.append(name)
    stacked = np.stack(images) if images else np.zeros((0, *image_size, 3), dtype=np.uint8)
    return Decoded(stacked, names, failures)


def decode_all(
    items: Sequence[tuple[str, object]], image_size: tuple[int, int], *, raise_errors: bool
) -> Decoded:
    """Decode every item at ``image_size``, one after another.

    Args:
        items: ``(source name, image)`` pairs, as :func:`expand` returns.
        image_size: ``(height, width)`` every image is resized to.
        raise_errors: raise on the first item that is not a usable image, instead of
            listing it in ``failures``.

    Returns:
        The images that decoded, their names and the failures, in input order.

    Raises:
        ~flowerkit.UnreadableImageError: an item is not a usable image and
            ``raise_errors`` is true; otherwise it is listed in ``failures`` and left out.
    """
    return _collect(items, [_decode(item, image_size) for item in items], image_size, raise_errors)


def decode_batches(
    items: Sequence[tuple[str, object]],
    image_size: tuple[int, int],
    *,
    batch_size: int,
    raise_errors: bool,
    workers: int | None = None,
) -> Iterator[Decoded]:
    """Decode ``items`` in consecutive batches of ``batch_size``, on ``workers`` threads.

    Pillow decodes without holding the GIL, so the threads decode in parallel; the next
    batch is decoded while the caller works on the current one. At most two batches of
    images are in memory at a time, whatever the number of items, and every batch keeps
    the input order.

    Args:
        items: ``(source name, image)`` pairs, as :func:`expand` returns.
        image_size: ``(height, width)`` every image is resized to.
        batch_size: items per batch.
        raise_errors: as for :func:`decode_all`; the error raised is the first bad item's
            in input order.
        workers: decoding threads (default: one per available core).

    Yields:
        One :class:`Decoded` per batch of items.
    """
    threads = available_cores() if workers is None else max(1, workers)
    chunks = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    if threads == 1 or len(items) <= 1:
        for chunk in chunks:
            yield decode_all(chunk, image_size, raise_errors=raise_errors)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="flowerkit-decode") as pool:

        def submit(
            chunk: Sequence[tuple[str, object]],
        ) -> list[Future[NDArray[np.uint8] | UnreadableImageError]]:
            return [pool.submit(_decode, item, image_size) for item in chunk]

        pending = submit(chunks[0]) if chunks else []
        for index, chunk in enumerate(chunks):
            current = pending
            if index + 1 < len(chunks):
                pending = submit(chunks[index + 1])
            try:
                yield _collect(chunk, (f.result() for f in current), image_size, raise_errors)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
