"""Knowledge distillation: a student trained on a teacher's softened outputs plus the labels.

The loss is Hinton et al.'s (2015)::

    alpha * CE(label, student)
      + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

The teacher's logits are computed **once** per image, on the un-augmented image, before
training starts (one pass of the teacher over the training and validation images). The
student's own augmentation still runs inside the student every epoch, so the student
learns to give an augmented view the teacher's answer for the clean image. Recomputing
the teacher on every augmented batch would cost one teacher forward pass per image per
epoch, several times the student's own training step for a ``mobilenet_v2`` teacher and a
``compact`` student on a CPU.

The targets travel as one float tensor per batch, ``[label, teacher logits...]``, which
:class:`DistillationLoss` and :class:`DistilledAccuracy` unpack, so Keras' ``fit``,
flowerkit's checkpoints, time budget, early stopping and batch-norm re-estimation all
work unchanged. The images are held in memory as uint8 for the run, as the in-memory cache
holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from flowerkit.data import Datasets
from flowerkit.exceptions import ConfigError
from flowerkit.images.decode import resize_image
from flowerkit.options.training import TrainOptions
from flowerkit.training.loop import Phase, plan_phases
from flowerkit.training.part import Inputs, Part

if TYPE_CHECKING:
    from flowerkit.models import TrainingRecipe
    from flowerkit.training.trainer import Trainer

__all__ = [
    "Distillation",
    "DistillationLoss",
    "DistilledAccuracy",
    "check_distillation",
    "distillation_data",
    "check_teacher_classes",
    "loss_and_metric",
    "teacher_at",
]

#: Teacher logits for a batch of uint8 images at the student's size.
TeacherScores = Callable[[NDArray[np.uint8]], NDArray[np.float64]]


def check_distillation(temperature: object, alpha: object) -> tuple[float, float]:
    """``(temperature, alpha)`` checked by their declarations
    (:class:`~flowerkit.options.training.TrainOptions`): a positive temperature, ``alpha``
    in [0, 1]."""
    options = TrainOptions(temperature=temperature, alpha=alpha)  # type: ignore[arg-type]
    return options.temperature, options.alpha


def _arrays(dataset: tf.data.Dataset) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    images: list[NDArray[Any]] = []
    labels: list[NDArray[Any]] = []
    for x, y in dataset:
        images.append(np.asarray(x))
        labels.append(np.asarray(y).reshape(-1))
    if not images:
        raise ConfigError("The distillation data is empty.")
    pixels = np.clip(np.round(np.concatenate(images)), 0, 255).astype(np.uint8)
    return pixels, np.concatenate(labels).astype(np.int64)


def _packed(
    dataset: tf.data.Dataset, teacher: TeacherScores, batch_size: int
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    images, labels = _arrays(dataset)
    logits = np.concatenate(
        [teacher(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    )
    return images, np.concatenate([labels[:, None], logits], axis=1).astype(np.float32)


def distillation_data(
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    teacher: TeacherScores,
    *,
    batch_size: int,
    seed: int | None,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """The training and validation pipelines with ``[label, teacher logits]`` targets.

    Each pipeline is iterated once (the training one in the order of its first epoch),
    the teacher scores every image once, and the training pipeline is rebuilt from the
    arrays with a shuffle seeded by ``seed`` (a new order every epoch, the same sequence
    of orders for the same seed).
    """
    images, targets = _packed(train, teacher, batch_size)
    order_seed = 0 if seed is None else seed
    train_ds = (
        tf.data.Dataset.from_tensor_slices((images, targets))
        .shuffle(len(images), seed=order_seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(2)
    )
    if validation is None:
        return train_ds, None
    val_images, val_targets = _packed(validation, teacher, batch_size)
    val_ds = tf.data.Dataset.from_tensor_slices((val_images, val_targets)).batch(batch_size)
    return train_ds, val_ds.prefetch(2)


@keras.saving.register_keras_serializable(package="flowerkit")
class DistillationLoss(keras.losses.Loss):  # type: ignore[misc]
    """Hinton's distillation loss on ``[label, teacher logits]`` targets and student
    logits (see the module documentation).

    Args:
        temperature: the softening temperature ``T``.
        alpha: the weight of the hard-label cross-entropy (``1 - alpha`` for the
            teacher's soft targets).
        label_smoothing: label smoothing of the hard-label term (the recipe's).
    """

    def __init__(
        self,
        temperature: float = 2.0,
        alpha: float = 0.5,
        label_smoothing: float = 0.0,
        name: str = "distillation",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        logits = tf.cast(y_pred, tf.float32)
        labels = tf.cast(y_true[:, 0], tf.int32)
        teacher = tf.cast(y_true[:, 1:], tf.float32)
        classes = tf.shape(logits)[-1]
        onehot = tf.one_hot(labels, classes)
        if self.label_smoothing:
            share = self.label_smoothing / tf.cast(classes, tf.float32)
            onehot = onehot * (1.0 - self.label_smoothing) + share
        hard = tf.nn.softmax_cross_entropy_with_logits(onehot, logits)
        t = self.temperature
        soft_teacher = tf.nn.softmax(teacher / t)
        log_ratio = tf.math.log(tf.maximum(soft_teacher, 1e-12)) - tf.nn.log_softmax(logits / t)
        kl = tf.reduce_sum(soft_teacher * log_ratio, axis=-1)
        return self.alpha * hard + (1.0 - self.alpha) * t * t * kl

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "label_smoothing": self.label_smoothing,
        }


@keras.saving.register_keras_serializable(package="flowerkit")
class DistilledAccuracy(keras.metrics.SparseCategoricalAccuracy):  # type: ignore[misc]
    """Accuracy against the label column of ``[label, teacher logits]`` targets."""

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        labels = tf.cast(y_true[:, :1], tf.int32)
        return super().update_state(labels, y_pred, sample_weight=sample_weight)


def loss_and_metric(
    temperature: float, alpha: float, label_smoothing: float
) -> tuple[DistillationLoss, DistilledAccuracy]:
    """A :class:`DistillationLoss` and a :class:`DistilledAccuracy` named ``accuracy``."""
    loss = DistillationLoss(temperature=temperature, alpha=alpha, label_smoothing=label_smoothing)
    return loss, DistilledAccuracy(name="accuracy")


class Distillation(Part):
    """``distill``: the teacher's logits join the labels, and the loss is Hinton's.

    Args:
        teacher: the teacher's logits for a batch of the student's images.
        temperature: the softening temperature (checked).
        alpha: the weight of the labels (checked).
    """

    def __init__(self, teacher: TeacherScores, temperature: float, alpha: float) -> None:
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha

    def phases(
        self, recipe: TrainingRecipe, options: TrainOptions, planned: list[Phase]
    ) -> list[Phase]:
        return plan_phases(recipe, epochs=options.epochs, fine_tune_epochs=0)

    def adapt(self, inputs: Inputs, trainer: Trainer, options: TrainOptions) -> Inputs:
        if options.class_weight is not None:
            raise ConfigError("`class_weight` cannot be combined with distillation.")
        data = inputs.data
        train, validation = distillation_data(
            inputs.train,
            inputs.validation,
            self.teacher,
            batch_size=data.batch_size if isinstance(data, Datasets) else 32,
            seed=options.seed,
        )
        return replace(inputs, train=train, validation=validation)

    def losses(self, trainer: Trainer) -> dict[str, Any]:
        loss, metric = loss_and_metric(self.temperature, self.alpha, trainer.recipe.label_smoothing)
        return {"loss": loss, "metric": metric}

    def finish(self, trainer: Trainer) -> None:
        trainer.compile()  # the recipe's loss again, so a later fit trains on plain labels


def teacher_at(
    scores: TeacherScores, teacher_size: tuple[int, int], image_size: tuple[int, int]
) -> TeacherScores:
    """A teacher's ``scores`` for a student's batches at ``image_size``: each image resized
    to the teacher's ``teacher_size`` first (by the decode rules), when they differ."""
    if image_size == teacher_size:
        return scores

    def resized(images: NDArray[np.uint8]) -> NDArray[np.float64]:
        return scores(np.stack([resize_image(im, teacher_size) for im in images]))

    return resized


def check_teacher_classes(teacher: tuple[str, ...], student: tuple[str, ...]) -> None:
    """A teacher must have the student's classes, in order.

    Raises:
        ~flowerkit.ConfigError: they differ.
    """
    if teacher != student:
        raise ConfigError(
            f"The teacher's classes {list(teacher)} differ from this classifier's "
            f"{list(student)}; they must be the same, in order."
        )
