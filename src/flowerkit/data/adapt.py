"""One adapter for the ``data`` a method accepts: which kinds each purpose takes, and the
batches (or images) made from them.

Three purposes take data, each through one function here:

``"train"``: :func:`training_batches` (``fit``, ``fine_tune``, ``distill``,
    ``find_learning_rate``)
    a :class:`~flowerkit.data.Datasets` (its training pipeline, and its validation one
    unless another is given), whose classes and image size must be the model's; or a
    ``tf.data.Dataset`` of ``(images, labels)`` batches, used as it is.
``"evaluate"``: :func:`evaluation_batches` (``evaluate``, ``calibrate``, an export's
    ``validation_data``; :func:`labelled_batches` is its public name)
    the same two, in a fixed order (a ``Datasets``' validation or test split, with its file
    paths), or a folder of class sub-folders (every image in it, checked).
``"representative"``: :func:`representative_sample` (an export's
    ``representative_data``)
    up to ``limit`` images from the same three, a folder being any folder of images; or an
    array ``(N, height, width, 3)`` of 0..255 pixels.

:data:`ACCEPTED` is the one place that says which kinds each purpose accepts, and
:func:`data_kind` the one gate: any other object is refused with one
:class:`~flowerkit.ConfigError` naming the argument, the kinds accepted and the type
received.

What ``predict`` takes is a different job, left to
:func:`flowerkit.images.inputs.expand`: single unlabelled images of many kinds (paths,
PIL images, bytes, arrays, tensors, lists of them), named one by one and streamed, where a
bad item is reported, not refused. It sits in the images layer, below this one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import numpy as np

from flowerkit.core import validation as v
from flowerkit.data.loading import Datasets, LabelledData, image_dataset, load_datasets
from flowerkit.exceptions import ConfigError
from flowerkit.images.decode import load_image
from flowerkit.images.files import image_files

if TYPE_CHECKING:
    import tensorflow as tf
    from numpy.typing import NDArray

__all__ = [
    "ACCEPTED",
    "DataKind",
    "Purpose",
    "data_kind",
    "evaluation_batches",
    "labelled_batches",
    "representative_sample",
    "training_batches",
]

#: What a method wants its data for.
Purpose = Literal["train", "evaluate", "representative"]

#: The kinds of data there are: a :class:`~flowerkit.data.Datasets`, a
#: ``tf.data.Dataset``, a folder (a path) and a numpy array.
DataKind = Literal["datasets", "pipeline", "folder", "array"]

_DATASETS = "a flowerkit Datasets (from load_datasets)"
_LABELLED_PIPELINE = "a tf.data.Dataset of (images, labels) batches"

#: The kinds of data each purpose accepts, and how its errors describe them, in the order
#: they are named. The one place that decides what ``data`` may be.
ACCEPTED: Final[Mapping[Purpose, Mapping[DataKind, str]]] = MappingProxyType(
    {
        "train": MappingProxyType({"datasets": _DATASETS, "pipeline": _LABELLED_PIPELINE}),
        "evaluate": MappingProxyType(
            {
                "datasets": _DATASETS,
                "pipeline": _LABELLED_PIPELINE,
                "folder": "a folder of class sub-folders",
            }
        ),
        "representative": MappingProxyType(
            {
                "datasets": _DATASETS,
                "folder": "a folder of images",
                "pipeline": "a tf.data.Dataset of image batches (labels, if any, ignored)",
                "array": "an array (N, height, width, 3) of 0..255 pixels",
            }
        ),
    }
)


def _kind_of(data: object) -> DataKind | None:
    """Which kind ``data`` is, if any. TensorFlow is imported only to recognise a pipeline
    after every other kind is ruled out."""
    if isinstance(data, Datasets):
        return "datasets"
    if isinstance(data, str | os.PathLike):
        return "folder"
    if isinstance(data, np.ndarray):
        return "array"
    import tensorflow as tf

    return "pipeline" if isinstance(data, tf.data.Dataset) else None


def _one_of(descriptions: Sequence[str]) -> str:
    """``"a, b or c"``."""
    if len(descriptions) == 1:
        return descriptions[0]
    return f"{', '.join(descriptions[:-1])} or {descriptions[-1]}"


def data_kind(data: object, purpose: Purpose, *, argument: str = "data") -> DataKind:
    """The kind of ``data``, when :data:`ACCEPTED` lets ``purpose`` take it.

    Args:
        data: what the caller was given.
        purpose: ``"train"``, ``"evaluate"`` or ``"representative"``.
        argument: the name of the caller's argument, for the error.

    Returns:
        ``"datasets"``, ``"pipeline"``, ``"folder"`` or ``"array"``.

    Raises:
        ~flowerkit.ConfigError: ``data`` is of a kind ``purpose`` does not accept (the
            error names ``argument``, the kinds accepted and the type received), or
            ``purpose`` is not one of the three.

    Example:
        >>> import numpy as np
        >>> from flowerkit.data.adapt import data_kind
        >>> data_kind("photos", "evaluate"), data_kind(np.zeros((2, 8, 8, 3)), "representative")
        ('folder', 'array')
        >>> data_kind("photos", "train")
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `data` must be a flowerkit Datasets (from load_datasets) or a
        tf.data.Dataset of (images, labels) batches. Received an object of type str.
    """
    v.check_choice(purpose, "purpose", tuple(ACCEPTED))
    accepted = ACCEPTED[purpose]
    kind = _kind_of(data)
    if kind is None or kind not in accepted:
        raise ConfigError(
            f"`{argument}` must be {_one_of(list(accepted.values()))}. "
            f"Received an object of type {type(data).__name__}."
        )
    return kind


# --------------------------------------------------------------------------- train


def _check_matches(data: Datasets, class_names: Sequence[str], image_size: tuple[int, int]) -> None:
    """``data`` has the model's classes, in order, and its image size."""
    if tuple(data.class_names) != tuple(class_names):
        raise ConfigError(
            f"The data's classes {list(data.class_names)} differ from this "
            f"classifier's {list(class_names)}."
        )
    if tuple(data.image_size) != tuple(image_size):
        raise ConfigError(
            f"The data's image_size {data.image_size} differs from the model's input "
            f"{image_size}; load the data with image_size={image_size}."
        )


def training_batches(
    data: Datasets | tf.data.Dataset,
    validation_data: tf.data.Dataset | None,
    *,
    class_names: Sequence[str],
    image_size: tuple[int, int],
    argument: str = "data",
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """``(train, validation)`` pipelines from the data a training method was given.

    Args:
        data: :class:`~flowerkit.data.Datasets` (its training pipeline, and its validation
            one unless ``validation_data`` is given) or a ``tf.data.Dataset`` of
            ``(images, labels)`` batches.
        validation_data: a validation pipeline, or ``None``.
        class_names: the model's classes, which ``Datasets`` must have, in order.
        image_size: the model's input size, which ``Datasets`` must have.
        argument: the name of the caller's argument, for the error.

    Returns:
        The training pipeline and the validation one (``None`` when there is none).

    Raises:
        ~flowerkit.ConfigError: the data's classes or image size differ from the model's,
            or ``data`` is of another kind.

    Example:
        >>> from flowerkit.data import load_datasets
        >>> from flowerkit.data.adapt import training_batches
        >>> data = load_datasets("photos", image_size=32, batch_size=8, seed=42)
        >>> train, validation = training_batches(
        ...     data, None, class_names=data.class_names, image_size=(32, 32)
        ... )
        >>> train is data.train, validation is data.validation
        (True, True)
        >>> training_batches(data, None, class_names=data.class_names, image_size=(64, 64))
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: The data's image_size (32, 32) differs from the model's
        input (64, 64); load the data with image_size=(64, 64).
    """
    if data_kind(data, "train", argument=argument) == "pipeline":
        return data, validation_data
    datasets = cast(Datasets, data)
    _check_matches(datasets, class_names, image_size)
    return datasets.train, validation_data if validation_data is not None else datasets.validation


# --------------------------------------------------------------------------- evaluate


def _split_batches(
    data: Datasets, subset: Literal["validation", "test"]
) -> tuple[tf.data.Dataset, list[str]]:
    """The ``subset`` pipeline of ``data`` and its file paths."""
    if subset == "test":
        if data.test is None:
            raise ConfigError(
                "These Datasets have no test split (test_split=0); load them with "
                "load_datasets(..., test_split=0.1) or similar, or pass a folder or a "
                "tf.data.Dataset to evaluate on. Received: subset='test'"
            )
        return data.test, [str(p) for p in data.test_files]
    if data.validation is None:
        raise ConfigError(
            "These Datasets have no validation split (validation_split=0); pass a "
            "folder or a tf.data.Dataset to evaluate on."
        )
    return data.validation, [str(p) for p in data.validation_files]


def _folder_batches(
    folder: str | os.PathLike[str], class_names: Sequence[str], image_size: tuple[int, int]
) -> tuple[tf.data.Dataset, list[str]]:
    """Every image of a folder of class sub-folders, checked, in a fixed order."""
    checked = load_datasets(
        folder,
        image_size=image_size,
        validation_split=0.0,
        class_names=list(class_names),
        cache=False,
    )
    ordered = image_dataset(
        list(checked.train_files),
        list(checked.train_labels),
        image_size=checked.image_size,
        batch_size=checked.batch_size,
        cache=False,
    )
    return ordered, [str(p) for p in checked.train_files]


def evaluation_batches(
    data: LabelledData,
    *,
    class_names: Sequence[str],
    image_size: tuple[int, int],
    subset: Literal["validation", "test"] = "validation",
    argument: str = "data",
) -> tuple[tf.data.Dataset, list[str] | None]:
    """``(images, labels)`` batches in a fixed order, and their file paths when known.

    What :func:`labelled_batches` does, with the caller's argument named in the errors.

    Args:
        data: :class:`~flowerkit.data.Datasets` (its ``subset`` split), a
            ``tf.data.Dataset`` of ``(images, labels)`` batches, or a folder of class
            sub-folders named like ``class_names`` (every image in it, checked, at
            ``image_size``).
        class_names: the classes, in label order; a folder's class sub-folders are read
            in this order.
        image_size: ``(height, width)`` a folder's images are loaded at.
        subset: which split of a ``Datasets`` to use, ``"validation"`` or ``"test"``.
            Ignored for a folder (all of its images are used) and for a
            ``tf.data.Dataset`` (used as it is).
        argument: the name of the caller's argument, for the error.

    Returns:
        The batches, and one path per image in batch order (``None`` for a
        ``tf.data.Dataset``).

    Raises:
        ~flowerkit.ConfigError: ``subset`` is neither split; ``Datasets`` without that
            split; or ``data`` is of another kind.
        ~flowerkit.DatasetError: a folder that :func:`~flowerkit.data.load_datasets`
            cannot use.

    Example:
        >>> from flowerkit.data.adapt import evaluation_batches
        >>> batches, paths = evaluation_batches(
        ...     "photos", class_names=["daisy", "roses", "tulips"], image_size=(32, 32)
        ... )
        >>> len(paths), sum(int(labels.shape[0]) for _, labels in batches)
        (36, 36)
        >>> evaluation_batches(
        ...     [], class_names=["a", "b"], image_size=(32, 32), argument="validation_data"
        ... )
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `validation_data` must be a flowerkit Datasets (from
        load_datasets), a tf.data.Dataset of (images, labels) batches or a folder of class
        sub-folders. Received an object of type list.
    """
    v.check_choice(subset, "subset", ("validation", "test"))
    kind = data_kind(data, "evaluate", argument=argument)
    if kind == "folder":
        return _folder_batches(cast("str | os.PathLike[str]", data), class_names, image_size)
    if kind == "datasets":
        return _split_batches(cast(Datasets, data), subset)
    return data, None


def labelled_batches(
    data: LabelledData,
    *,
    class_names: Sequence[str],
    image_size: tuple[int, int],
    subset: Literal["validation", "test"] = "validation",
) -> tuple[tf.data.Dataset, list[str] | None]:
    """``(images, labels)`` batches in a fixed order, and their file paths when known.

    Args:
        data: :class:`Datasets` (its ``subset`` split), a ``tf.data.Dataset`` of
            ``(images, labels)`` batches, or a folder of class sub-folders named like
            ``class_names`` (every image in it, checked, at ``image_size``).
        class_names: the classes, in label order; a folder's class sub-folders are read
            in this order.
        image_size: ``(height, width)`` a folder's images are loaded at.
        subset: which split of a :class:`Datasets` to use, ``"validation"`` or
            ``"test"``. Ignored for a folder (all of its images are used) and for a
            ``tf.data.Dataset`` (used as it is).

    Returns:
        The batches, and one path per image in batch order (``None`` for a
        ``tf.data.Dataset``).

    Raises:
        ~flowerkit.ConfigError: ``subset`` is neither split; ``Datasets`` without that
            split; or another kind of object.
        ~flowerkit.DatasetError: a folder that :func:`load_datasets` cannot use.

    Example:
        >>> from flowerkit.data import labelled_batches, load_datasets
        >>> data = load_datasets("photos", image_size=32, batch_size=8, seed=42)
        >>> batches, paths = labelled_batches(
        ...     data, class_names=data.class_names, image_size=data.image_size
        ... )
        >>> len(paths), sum(int(labels.shape[0]) for _, labels in batches)
        (6, 6)
        >>> batches, paths = labelled_batches(
        ...     "photos", class_names=["daisy", "roses", "tulips"], image_size=(32, 32)
        ... )
        >>> len(paths)
        36
        >>> labelled_batches(data, class_names=data.class_names, image_size=(32, 32),
        ...                  subset="test")
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: These Datasets have no test split (test_split=0); ...
    """
    return evaluation_batches(
        data, class_names=class_names, image_size=image_size, subset=subset, argument="data"
    )


# --------------------------------------------------------------------------- representative


def _spread(items: Sequence[Any] | NDArray[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``items``, spread evenly over them (first and last included)."""
    if len(items) <= limit:
        return list(items)
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[int(i)] for i in picks]


def _images_of_files(
    files: Sequence[Path], image_size: tuple[int, int], limit: int
) -> NDArray[np.uint8]:
    return np.stack([load_image(f, image_size) for f in _spread(files, limit)])


def _folder_images(data: str | os.PathLike[str], argument: str) -> list[Path]:
    """The image files under a folder (recursively)."""
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"`{argument}` {str(folder)!r} is not a folder.")
    files = image_files(folder)
    if not files:
        raise ConfigError(f"`{argument}` {str(folder)!r} holds no image files.")
    return files


def _checked_pixels(
    images: NDArray[Any], image_size: tuple[int, int], argument: str
) -> NDArray[np.uint8]:
    """``images`` as uint8, once they are known to be 0..255 pixels at ``image_size``."""
    if images.ndim != 4 or tuple(images.shape[1:]) != (*image_size, 3):
        raise ConfigError(
            f"`{argument}` images must have shape (N, {image_size[0]}, "
            f"{image_size[1]}, 3), the model's size. Received shape {images.shape}."
        )
    if len(images) == 0:
        raise ConfigError(f"`{argument}` holds no images.")
    if images.min() < 0 or images.max() > 255:
        raise ConfigError(f"`{argument}` must be 0..255 pixels, as predict takes.")
    return (
        np.round(images).astype(np.uint8) if images.dtype.kind == "f" else images.astype(np.uint8)
    )


def _images_of_pipeline(
    dataset: tf.data.Dataset, image_size: tuple[int, int], limit: int, argument: str
) -> NDArray[np.uint8]:
    """The first ``limit`` images of a pipeline of image or ``(images, labels)`` batches
    (single images count as batches of one)."""
    batches: list[NDArray[Any]] = []
    count = 0
    for element in dataset:
        images = element[0] if isinstance(element, tuple | list) else element
        arr = np.asarray(images)
        batches.append(arr if arr.ndim == 4 else arr[np.newaxis])
        count += len(batches[-1])
        if count >= limit:
            break
    if not batches:
        raise ConfigError(f"`{argument}` is an empty tf.data.Dataset.")
    return _checked_pixels(np.concatenate(batches)[:limit], image_size, argument)


def representative_sample(
    data: object,
    image_size: tuple[int, int],
    *,
    limit: int,
    argument: str = "representative_data",
) -> NDArray[np.uint8]:
    """Up to ``limit`` images at ``image_size`` from ``data``, spread over all of it.

    Args:
        data: :class:`~flowerkit.data.Datasets` (its training files), a folder (its image
            files, recursively), a ``tf.data.Dataset`` of images or ``(images, labels)``
            batches (its first ``limit`` images), or an array ``(N, height, width, 3)`` of
            0..255 pixels.
        image_size: ``(height, width)`` of the model: files are loaded at it, pipelines
            and arrays must have it.
        limit: at most this many images, spread evenly over the files or the array.
        argument: the name of the caller's argument, for the errors.

    Returns:
        The images, ``(n, height, width, 3)`` uint8.

    Raises:
        ~flowerkit.ConfigError: ``data`` of another kind, of another size, outside
            0..255, or with no images (an empty folder or pipeline included).

    Example:
        >>> import numpy as np
        >>> from flowerkit.data.adapt import representative_sample
        >>> sample = representative_sample("photos", (32, 32), limit=10)
        >>> sample.shape, sample.dtype.name
        ((10, 32, 32, 3), 'uint8')
        >>> representative_sample(np.zeros((4, 16, 16, 3)), (32, 32), limit=10)
        Traceback (most recent call last):
            ...
        flowerkit.ConfigError: `representative_data` images must have shape (N, 32, 32,
        3), the model's size. Received shape (4, 16, 16, 3).
    """
    kind = data_kind(data, "representative", argument=argument)
    if kind == "datasets":
        return _images_of_files(cast(Datasets, data).train_files, image_size, limit)
    if kind == "folder":
        folder = _folder_images(cast("str | os.PathLike[str]", data), argument)
        return _images_of_files(folder, image_size, limit)
    if kind == "array":
        picked = np.asarray(_spread(cast("NDArray[Any]", data), limit))
        return _checked_pixels(picked, image_size, argument)
    return _images_of_pipeline(data, image_size, limit, argument)
