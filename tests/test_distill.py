"""Knowledge distillation: the loss, the packed targets, and Classifier.distill."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import flowerkit as fk
from flowerkit.training import distill


def test_loss_is_hinton_s() -> None:
    import tensorflow as tf

    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]], np.float32)
    teacher = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 0.0]], np.float32)
    labels = np.array([0, 2], np.float32)
    y_true = np.concatenate([labels[:, None], teacher], axis=1)
    t, alpha = 2.0, 0.3
    loss = distill.DistillationLoss(temperature=t, alpha=alpha)
    got = float(loss(tf.constant(y_true), tf.constant(logits)))

    def log_softmax(x: np.ndarray) -> np.ndarray:
        z = x - x.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    hard = -log_softmax(logits)[np.arange(2), labels.astype(int)]
    p = np.exp(log_softmax(teacher / t))
    kl = (p * (np.log(p) - log_softmax(logits / t))).sum(axis=1)
    expected = np.mean(alpha * hard + (1 - alpha) * t * t * kl)
    assert got == pytest.approx(expected, rel=1e-5)
    assert distill.DistillationLoss.from_config(loss.get_config()).alpha == alpha


def test_accuracy_reads_the_label_column() -> None:
    metric = distill.DistilledAccuracy()
    y_true = np.array([[1, 9.0, 0.0], [0, 0.0, 9.0]], np.float32)  # teacher disagrees
    metric.update_state(y_true, np.array([[0.0, 1.0], [1.0, 0.0]], np.float32))
    assert float(metric.result()) == 1.0


def test_bad_arguments() -> None:
    with pytest.raises(fk.ConfigError, match="temperature"):
        distill.check_distillation(0, 0.5)
    with pytest.raises(fk.ConfigError, match="alpha"):
        distill.check_distillation(2, 1.5)


def test_student_learns_from_teacher(trained: Any, tiny_compact: str) -> None:
    """A student with the ``compact`` recipe (AdamW, label smoothing, schedule) and
    augmentation, on the tiny preset that has them (tests/tiny_presets.py)."""
    teacher, data = trained
    student = fk.Classifier.from_preset(
        tiny_compact, class_names=data.class_names, image_size=32, seed=2
    )
    with pytest.raises(fk.ConfigError, match="class_weight"):
        student.distill(teacher, data, epochs=1, class_weight="balanced", verbose=0)
    history = student.distill(teacher, data, epochs=3, temperature=3, seed=2, verbose=0)
    assert len(history.history["loss"]) == 3
    assert {"accuracy", "val_accuracy", "val_loss"} <= set(history.history)
    report = student.evaluate(data)  # plain labels again afterwards
    assert report.num_samples == len(data.validation_files)
    student.fit(data, epochs=1, verbose=0)  # and plain training works after it
    other = fk.Classifier.from_preset("tutorial", class_names=["a", "b"], image_size=32)
    with pytest.raises(fk.ConfigError, match="classes"):
        student.distill(other, data, epochs=1)
    with pytest.raises(fk.NotFittedError):
        student.distill(
            fk.Classifier.from_preset("tutorial", class_names=data.class_names, image_size=32),
            data,
            epochs=1,
        )


def test_teacher_of_another_size_is_fed_resized_images(trained: Any) -> None:
    teacher, data = trained
    student_data = fk.load_datasets(
        data.train_files[0].parents[1], image_size=40, batch_size=16, seed=1
    )
    student = fk.Classifier.from_preset(
        "tutorial", class_names=data.class_names, image_size=40, seed=3
    )
    history = student.distill(teacher, student_data, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1
