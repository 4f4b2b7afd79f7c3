"""Data: a folder of class sub-folders indexed, checked (with its cache), split and turned
into ``tf.data`` pipelines; and the data sets flowerkit can fetch or ships.

* :mod:`flowerkit.data.checking`: :func:`check_images` and its :class:`DatasetReport`;
* :mod:`flowerkit.data.loading`: :func:`load_datasets`, :class:`Datasets`,
  :func:`image_dataset`; :mod:`flowerkit.data.splitting`: :func:`split_files`;
* :mod:`flowerkit.data.adapt`: what the ``data`` of training, evaluation and export
  may be, turned into batches (:func:`labelled_batches`);
* :mod:`flowerkit.data.downloads`: :func:`flower_photos` and :func:`demo_sample`.

Nothing here imports TensorFlow until a pipeline is built.
"""

from __future__ import annotations

from flowerkit.data.adapt import labelled_batches
from flowerkit.data.checking import (
    IGNORE_REASONS,
    IMBALANCE_THRESHOLD,
    SCHEMA_VERSION,
    BadFile,
    DatasetReport,
    DuplicateGroup,
    IgnoredFile,
    ImageFile,
    check_images,
    format_report,
    list_class_folders,
)
from flowerkit.data.downloads import (
    FLOWER_PHOTOS_SHA256,
    FLOWER_PHOTOS_SIZE,
    FLOWER_PHOTOS_URL,
    default_cache_dir,
    demo_sample,
    flower_photos,
)
from flowerkit.data.loading import Datasets, LabelledData, image_dataset, load_datasets
from flowerkit.data.splitting import split_files

__all__ = [
    "FLOWER_PHOTOS_SHA256",
    "FLOWER_PHOTOS_SIZE",
    "FLOWER_PHOTOS_URL",
    "IGNORE_REASONS",
    "IMBALANCE_THRESHOLD",
    "SCHEMA_VERSION",
    "BadFile",
    "DatasetReport",
    "Datasets",
    "DuplicateGroup",
    "IgnoredFile",
    "ImageFile",
    "LabelledData",
    "check_images",
    "default_cache_dir",
    "demo_sample",
    "flower_photos",
    "format_report",
    "image_dataset",
    "labelled_batches",
    "list_class_folders",
    "load_datasets",
    "split_files",
]
