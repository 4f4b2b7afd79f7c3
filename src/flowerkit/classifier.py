"""``Classifier``: a trained Keras model together with what it needs to be used.

A ``Classifier`` wraps (does not subclass) a ``keras.Model`` that maps raw 0..255 RGB
images to one score per class, and keeps the class names, image size, preset, training
history and calibration with it. ``fit`` trains, ``evaluate`` reports, ``predict`` answers
for paths, folders, PIL images, arrays or bytes, and ``save``/``load`` round-trip all of it
through one ``.keras`` file.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from flowerkit import artifact as _artifact
from flowerkit._version import __version__
from flowerkit.core import validation as v
from flowerkit.data._index import file_ignore_reason, folder_ignore_reason
from flowerkit.data.loading import Datasets
from flowerkit.exceptions import (
    ConfigError,
    NotFittedError,
    UnreadableImageError,
    VersionMismatchWarning,
)
from flowerkit.images.decode import ImageInput, load_image
from flowerkit.models import TrainingRecipe, build_model, get_preset
from flowerkit.prediction import FailedInput, Prediction, Predictions, _source_name

if TYPE_CHECKING:
    import keras
    import tensorflow as tf
    from numpy.typing import NDArray

    from flowerkit.evaluation.report import EvaluationReport

__all__ = ["Classifier"]

Outputs = Literal["logits", "probabilities"]


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float64)


def _detect_outputs(model: keras.Model) -> Outputs:
    import keras

    last = model.layers[-1] if model.layers else None
    act = getattr(last, "activation", None)
    if act is keras.activations.softmax or isinstance(last, keras.layers.Softmax):
        return "probabilities"
    return "logits"


def _iter_folder(folder: Path) -> list[Path]:
    """Image files under ``folder``, sorted, skipping what the checker ignores on purpose."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if folder_ignore_reason(d) is None)
        found.extend(Path(root) / f for f in sorted(files) if file_ignore_reason(f) is None)
    return found


def _expand_inputs(inputs: object) -> list[tuple[str, object]]:
    """Flatten predict()'s input into ``(source name, single image)`` pairs."""
    items: list[tuple[str, object]] = []

    def add(item: object) -> None:
        if isinstance(item, str | os.PathLike):
            path = Path(item)
            if path.is_dir():
                files = _iter_folder(path)
                if not files:
                    raise ConfigError(f"The folder {str(path)!r} holds no image files to predict.")
                items.extend((str(f), f) for f in files)
            else:
                items.append((str(path), path))
        elif isinstance(item, np.ndarray) and item.ndim == 4:
            for arr in item:
                items.append((_source_name(arr, len(items)), arr))
        elif isinstance(item, list | tuple):
            for sub in item:
                add(sub)
        elif hasattr(item, "numpy") and not isinstance(item, bytes | bytearray):
            add(np.asarray(item))  # a tf.Tensor or similar
        else:
            items.append((_source_name(item, len(items)), item))

    add(inputs)
    if not items:
        raise ConfigError("predict() received no images (an empty list).")
    return items


class Classifier:
    """A Keras image classifier plus its class names, preprocessing and history.

    Args:
        model: a ``keras.Model`` taking ``(batch, height, width, 3)`` raw 0..255 images and
            returning one logit (or probability) per class. Build one with
            :func:`~flowerkit.models.build_model` or bring your own.
        class_names: one name per model output, in output order.
        preset: the preset the model was built from, if any (used for its training recipe).
        outputs: ``"logits"`` or ``"probabilities"``; detected from the last layer when
            ``None`` (a softmax activation means probabilities).
        trained: ``True`` when ``model`` already has trained weights, so ``predict`` works
            without ``fit``.
        build_config: how the model was built (saved with it, for the record).

    Fitted state: ``history_`` (per-epoch metrics), ``metrics_`` (the last epoch's) and
    ``temperature_`` (calibration, 1.0 when not calibrated).
    """

    def __init__(
        self,
        model: keras.Model,
        class_names: Sequence[str],
        *,
        preset: str | None = None,
        outputs: Outputs | None = None,
        trained: bool = False,
        build_config: Mapping[str, Any] | None = None,
    ) -> None:
        import keras

        if not isinstance(model, keras.Model):
            raise ConfigError(
                f"`model` must be a keras.Model. Received an object of type {type(model).__name__}."
            )
        self.class_names: tuple[str, ...] = v.check_class_names(class_names)
        shape = tuple(model.input_shape)
        if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
            raise ConfigError(
                "`model` must take images of a fixed size, shape (batch, height, width, 3). "
                f"Its input shape is {shape}."
            )
        out_shape = tuple(model.output_shape)
        if out_shape[-1] != len(self.class_names):
            raise ConfigError(
                f"`model` has {out_shape[-1]} outputs but {len(self.class_names)} class names "
                f"were given: {list(self.class_names)}."
            )
        self.model = model
        self.image_size: tuple[int, int] = (int(shape[1]), int(shape[2]))
        self.preset = preset
        self.outputs: Outputs = outputs or _detect_outputs(model)
        v.check_choice(self.outputs, "outputs", ("logits", "probabilities"))
        self.build_config: dict[str, Any] = dict(build_config or {})
        self.history_: dict[str, list[float]] = {}
        self.metrics_: dict[str, float] = {}
        self.temperature_: float = 1.0
        #: ``{"temperature", "ece_before", "ece_after"}`` from :meth:`calibrate`, if run.
        self.calibration_: dict[str, float] = {}
        #: The ``flowerkit.json`` document of a loaded model (empty for a new one).
        self.metadata_: dict[str, Any] = {}
        self._fitted = bool(trained)
        # The base learning rate the recipe's schedule drives, when flowerkit compiled the
        # model with the recipe's optimizer (None: the user's optimizer, left alone).
        self._scheduled_rate: float | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(
        cls,
        preset: str = "tutorial",
        *,
        class_names: Sequence[str],
        image_size: tuple[int, int] | int | None = None,
        augmentation: keras.layers.Layer | bool | None = None,
        dropout: float | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> Classifier:
        """Build a model with :func:`~flowerkit.models.build_model` and wrap it."""
        names = v.check_class_names(class_names)
        model = build_model(
            len(names),
            image_size=image_size,
            preset=preset,
            augmentation=augmentation,
            dropout=dropout,
            seed=seed,
            **options,
        )
        config = {
            "preset": preset,
            "image_size": list(model.input_shape[1:3]),
            "augmentation": augmentation if isinstance(augmentation, bool | None) else "custom",
            "dropout": dropout,
            "seed": seed,
            "options": {
                k: val
                for k, val in options.items()
                if isinstance(val, str | int | float | bool | None)
            },
        }
        return cls(model, names, preset=preset, build_config=config)

    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def _check_is_fitted(self, action: str) -> None:
        if not self._fitted:
            raise NotFittedError(
                f"This Classifier is not trained yet, so it cannot {action}. Call "
                "fit(...) first, load a trained one with Classifier.load(path), or wrap "
                "trained weights with Classifier(model, class_names, trained=True)."
            )

    # ------------------------------------------------------------------ training
    def _recipe(self) -> TrainingRecipe:
        if self.preset is None:
            return TrainingRecipe()
        try:
            return get_preset(self.preset).recipe
        except ConfigError:
            return TrainingRecipe()

    def _compile(
        self,
        optimizer: keras.optimizers.Optimizer | str | None,
        learning_rate: float | None,
    ) -> None:
        import keras

        from flowerkit.training.optimizers import make_loss, make_optimizer

        recipe = self._recipe()
        if optimizer is None:
            rate = recipe.learning_rate if learning_rate is None else float(learning_rate)
            optimizer = make_optimizer(recipe, rate)
            self._scheduled_rate = rate
        elif learning_rate is not None:
            raise ConfigError("Pass either `optimizer` or `learning_rate`, not both.")
        else:
            self._scheduled_rate = None
        self.model.compile(
            optimizer=optimizer,
            loss=make_loss(
                recipe, from_logits=self.outputs == "logits", num_classes=len(self.class_names)
            ),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

    def fit(
        self,
        data: Datasets | tf.data.Dataset,
        validation_data: tf.data.Dataset | None = None,
        *,
        epochs: int = 10,
        callbacks: Iterable[keras.callbacks.Callback] = (),
        class_weight: Mapping[int, float] | Literal["balanced"] | None = None,
        optimizer: keras.optimizers.Optimizer | str | None = None,
        learning_rate: float | None = None,
        early_stopping: int | None = None,
        time_budget: float | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        fine_tune_epochs: int = 0,
        fine_tune_layers: int | None = None,
        fine_tune_learning_rate: float | None = None,
        calibrate: bool = False,
        seed: int | None = None,
        verbose: Literal["auto", 0, 1, 2] = "auto",
    ) -> dict[str, list[float]]:
        """Train the model; return the per-epoch history of this call.

        ``data`` is a :class:`~flowerkit.data.Datasets` (its ``validation`` split is used
        unless ``validation_data`` is given) or a ``tf.data.Dataset`` of ``(images,
        labels)`` batches with raw 0..255 images and integer labels.

        The model is compiled on the first ``fit`` (or whenever ``optimizer`` or
        ``learning_rate`` is passed) with the preset's training recipe: the optimizer, a
        sparse categorical cross-entropy (with label smoothing where the recipe has it) and
        accuracy. The recipe's warm-up and schedule then run over each ``fit`` call's
        epochs (each call starts a new schedule), unless you passed your own
        ``optimizer``. Compile the model yourself beforehand to take full control. Where
        the recipe has ``recalibrate_batchnorm`` (``compact`` does), the batch-norm
        statistics are re-estimated on the un-augmented training images just before the
        last validation pass (after early stopping's restore, when it is on).

        Options:
            class_weight: a ``{class index: weight}`` mapping, or ``"balanced"`` for
                ``n_samples / (n_classes * count)`` per class.
            early_stopping: patience in epochs; stops when the validation loss (training
                loss without validation) stops improving and restores the best weights.
            time_budget: seconds of wall time for the whole call, after which training
                stops (checked after every batch). A recipe's cosine schedule then decays
                the learning rate to zero by the end of the budget when that comes before
                the last epoch, so a run cut short still ends fully annealed.
            checkpoint_dir: a folder that receives a checkpoint after every epoch. If a run
                is interrupted (even killed), calling ``fit`` again with the same folder
                and arguments resumes after the last completed epoch, with weights,
                optimizer state and history restored. Emptied when the run completes.
            fine_tune_epochs: after ``epochs`` with the backbone frozen, unfreeze the top
                ``fine_tune_layers`` layers (default: all) of the sub-model named
                ``"backbone"`` (transfer presets have one; batch-norm layers stay frozen)
                and train this many more epochs at ``fine_tune_learning_rate`` (default:
                a tenth of the recipe's rate).
            calibrate: fit a softmax temperature on the validation data afterwards (see
                :meth:`calibrate`).
            seed: seeds Keras' random state (dropout, augmentation) for a repeatable run;
                the data order is seeded by ``load_datasets(seed=...)``.
        """
        import keras

        from flowerkit.training import callbacks as _callbacks
        from flowerkit.training.batchnorm import RECALIBRATION_EPOCHS
        from flowerkit.training.optimizers import make_schedule

        called = time.monotonic()
        epochs = v.check_positive_int(epochs, "epochs")
        fine_tune_epochs = v.check_positive_int(fine_tune_epochs, "fine_tune_epochs", minimum=0)
        seed = v.check_seed(seed)
        train, val, train_labels = self._resolve_data(data, validation_data)
        weights = self._class_weight(class_weight, train, train_labels)
        if early_stopping is not None:
            early_stopping = v.check_positive_int(early_stopping, "early_stopping")
        if time_budget is not None:
            time_budget = float(v.check_non_negative_float(time_budget, "time_budget"))
        if fine_tune_epochs:
            self._backbone()  # fail before training, not after the first phase
        if calibrate and val is None:
            raise ConfigError("`calibrate=True` needs validation data to fit the temperature on.")
        if seed is not None:
            keras.utils.set_random_seed(seed)

        if (
            optimizer is not None
            or learning_rate is not None
            or not getattr(self.model, "compiled", False)
        ):
            self._compile(optimizer, learning_rate)

        folder: Path | None = None
        previous: dict[str, list[float]] = {}
        if checkpoint_dir is not None:
            folder = Path(checkpoint_dir).expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            _, previous = _callbacks.read_history_log(folder / "history.json")
        log = _callbacks.HistoryLog(None if folder is None else folder / "history.json", previous)
        recipe = self._recipe()
        recalibrate = recipe.recalibrate_batchnorm
        budget = (
            _callbacks.TimeBudget(
                time_budget,
                start=called,
                closing_epochs=RECALIBRATION_EPOCHS if recalibrate else 0.0,
            )
            if time_budget is not None
            else None
        )

        def run_phase(name: str, first_epoch: int, last_epoch: int) -> None:
            # Checkpointing runs first, so an epoch is on disk before any user callback
            # sees its end (and whatever happens there cannot lose it).
            checkpoint = (
                log
                if folder is None
                else _callbacks.EpochCheckpoint(folder / f"backup-{name}", log)
            )
            cbs: list[keras.callbacks.Callback] = [checkpoint]
            cbs.extend(callbacks)
            if early_stopping is not None:
                cbs.append(
                    keras.callbacks.EarlyStopping(
                        monitor="val_loss" if val is not None else "loss",
                        patience=early_stopping,
                        restore_best_weights=True,
                    )
                )
            if budget is not None:
                cbs.append(budget)
            if recalibrate:
                cbs.append(
                    _callbacks.RecalibrateBatchNorm(
                        train,
                        final_phase=name != "frozen",
                        budget=budget,
                        before_validation=early_stopping is None,
                    )
                )
            if self._scheduled_rate is not None:
                schedule = make_schedule(
                    recipe,
                    self._scheduled_rate,
                    first_epoch=first_epoch,
                    last_epoch=last_epoch,
                    budget=budget,
                )
                if schedule is not None:
                    cbs.insert(0, schedule)
            self.model.fit(
                train,
                validation_data=val,
                initial_epoch=first_epoch,
                epochs=last_epoch,
                callbacks=cbs,
                class_weight=weights,
                shuffle=False,  # tf.data pipelines shuffle themselves
                verbose=verbose,
            )

        run_phase("frozen" if fine_tune_epochs else "train", 0, epochs)
        if fine_tune_epochs and not (budget is not None and budget.stopped):
            done = len(next(iter(log.history.values()), []))
            self._unfreeze(fine_tune_layers)
            rate = fine_tune_learning_rate
            if rate is None:
                rate = recipe.learning_rate / 10
            self._compile(None, v.check_non_negative_float(rate, "fine_tune_learning_rate"))
            run_phase("fine_tune", done, done + fine_tune_epochs)
        if folder is not None:
            _callbacks.clear_checkpoints(folder)
        history = log.history
        for key, values in history.items():
            self.history_.setdefault(key, []).extend(values)
        self.metrics_ = {k: vals[-1] for k, vals in self.history_.items() if vals}
        self._fitted = True
        if calibrate:
            assert val is not None
            self.calibrate(val)
        return history

    def _backbone(self) -> keras.Model:
        try:
            return self.model.get_layer("backbone")
        except ValueError:
            raise ConfigError(
                "Fine-tuning needs a sub-model named 'backbone' (the transfer presets such as "
                "'mobilenet_v2' have one); this model has none."
            ) from None

    def _unfreeze(self, top_layers: int | None) -> None:
        import keras

        backbone = self._backbone()
        backbone.trainable = True
        layers = backbone.layers
        if top_layers is not None:
            top_layers = v.check_positive_int(top_layers, "fine_tune_layers")
            for layer in layers[: max(0, len(layers) - top_layers)]:
                layer.trainable = False
        for layer in layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False

    def _resolve_data(
        self, data: Datasets | tf.data.Dataset, validation_data: tf.data.Dataset | None
    ) -> tuple[tf.data.Dataset, tf.data.Dataset | None, Sequence[int] | None]:
        import tensorflow as tf

        if isinstance(data, Datasets):
            if tuple(data.class_names) != self.class_names:
                raise ConfigError(
                    f"The data's classes {list(data.class_names)} differ from this "
                    f"classifier's {list(self.class_names)}."
                )
            if tuple(data.image_size) != self.image_size:
                raise ConfigError(
                    f"The data's image_size {data.image_size} differs from the model's input "
                    f"{self.image_size}; load the data with image_size={self.image_size}."
                )
            val = validation_data if validation_data is not None else data.validation
            return data.train, val, data.train_labels
        if isinstance(data, tf.data.Dataset):
            return data, validation_data, None
        raise ConfigError(
            "`data` must be a flowerkit Datasets (from load_datasets) or a tf.data.Dataset "
            f"of (images, labels) batches. Received an object of type {type(data).__name__}."
        )

    def _class_weight(
        self,
        class_weight: Mapping[int, float] | str | None,
        train: tf.data.Dataset,
        labels: Sequence[int] | None,
    ) -> dict[int, float] | None:
        if class_weight is None:
            return None
        k = len(self.class_names)
        if class_weight == "balanced":
            if labels is None:
                labels = [int(y) for _, ys in train for y in np.asarray(ys).reshape(-1)]
            counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k)
            n = counts.sum()
            return {i: float(n / (k * c)) if c else 0.0 for i, c in enumerate(counts)}
        if isinstance(class_weight, Mapping):
            bad = [key for key in class_weight if not (isinstance(key, int) and 0 <= key < k)]
            if bad:
                raise ConfigError(
                    f"`class_weight` keys must be class indices 0..{k - 1}. "
                    f"Received: class_weight={dict(class_weight)!r}"
                )
            return {int(i): float(w) for i, w in class_weight.items()}
        raise ConfigError(
            "`class_weight` must be None, 'balanced' or a {class index: weight} mapping. "
            f"Received: class_weight={class_weight!r}"
        )

    # ------------------------------------------------------------------ inference
    def _scores(self, batch: NDArray[Any]) -> NDArray[np.float64]:
        """Logits for a batch (log-probabilities for a model that outputs probabilities)."""
        out = np.asarray(self.model(batch, training=False), dtype=np.float64)
        if self.outputs == "probabilities":
            return np.log(np.clip(out, 1e-12, None))
        return out

    def _probabilities(self, batch: NDArray[Any]) -> NDArray[np.float64]:
        return _softmax(self._scores(batch) / self.temperature_)

    def predict_proba(self, images: NDArray[Any], *, batch_size: int = 32) -> NDArray[np.float64]:
        """Class probabilities ``(N, classes)`` for a batch of images already at
        ``image_size`` (uint8 or 0..255 floats, ``(N, H, W, 3)``)."""
        self._check_is_fitted("predict")
        arr = np.asarray(images)
        if arr.ndim != 4 or tuple(arr.shape[1:3]) != self.image_size:
            raise ConfigError(
                f"`images` must have shape (N, {self.image_size[0]}, {self.image_size[1]}, 3). "
                f"Received shape {arr.shape}."
            )
        batch_size = v.check_positive_int(batch_size, "batch_size")
        rows = [
            self._probabilities(arr[i : i + batch_size]) for i in range(0, len(arr), batch_size)
        ]
        return np.concatenate(rows) if rows else np.zeros((0, len(self.class_names)))

    def predict(
        self,
        inputs: ImageInput | Sequence[ImageInput],
        *,
        top_k: int = 3,
        batch_size: int = 32,
        errors: Literal["raise", "skip"] = "raise",
    ) -> Predictions:
        """Classify images; return one :class:`~flowerkit.prediction.Prediction` per image.

        ``inputs`` may be a file path, a folder (every image in it, recursively, sorted), a
        ``PIL.Image.Image``, encoded image bytes, an array ``(H, W, 3)`` or ``(N, H, W, 3)``
        (uint8 or 0..255 floats), or a list of any of these. Every image is decoded and
        resized by :func:`~flowerkit.images.load_image`, exactly as in training.

        A file that is not a usable image raises
        :class:`~flowerkit.exceptions.UnreadableImageError` naming it (``errors="raise"``),
        or is left out and listed in ``Predictions.failures`` (``errors="skip"``).
        """
        self._check_is_fitted("predict")
        top_k = v.check_positive_int(top_k, "top_k")
        batch_size = v.check_positive_int(batch_size, "batch_size")
        v.check_choice(errors, "errors", ("raise", "skip"))
        items = _expand_inputs(inputs)
        images: list[NDArray[np.uint8]] = []
        names: list[str] = []
        failures: list[FailedInput] = []
        for name, item in items:
            try:
                images.append(load_image(item, self.image_size))  # type: ignore[arg-type]
                names.append(name)
            except UnreadableImageError as exc:
                if errors == "raise":
                    raise
                failures.append(FailedInput(name, exc.reason, str(exc)))
        results: list[Prediction] = []
        if images:
            probs = self.predict_proba(np.stack(images), batch_size=batch_size)
            k = min(top_k, len(self.class_names))
            for name, row in zip(names, probs, strict=True):
                order = np.argsort(-row, kind="stable")
                best = int(order[0])
                results.append(
                    Prediction(
                        source=name,
                        label=self.class_names[best],
                        index=best,
                        confidence=float(row[best]),
                        probabilities={
                            c: float(p) for c, p in zip(self.class_names, row, strict=True)
                        },
                        top_k=tuple(
                            (self.class_names[int(i)], float(row[int(i)])) for i in order[:k]
                        ),
                    )
                )
        return Predictions(results, tuple(failures))

    def _collect(
        self, data: Datasets | tf.data.Dataset | str | os.PathLike[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], list[str] | None]:
        """Labels, logits (before temperature) and file paths if known, predicted once,
        in order."""
        import tensorflow as tf

        if isinstance(data, str | os.PathLike):
            from flowerkit.data.loading import load_datasets

            folder = load_datasets(
                data,
                image_size=self.image_size,
                validation_split=0.0,
                class_names=list(self.class_names),
                cache=False,
            )
            dataset, paths = _unshuffled(folder), [str(p) for p in folder.train_files]
        elif isinstance(data, Datasets):
            if data.validation is None:
                raise ConfigError(
                    "These Datasets have no validation split (validation_split=0); pass a "
                    "folder or a tf.data.Dataset to evaluate on."
                )
            dataset, paths = data.validation, [str(p) for p in data.validation_files]
        elif isinstance(data, tf.data.Dataset):
            dataset, paths = data, None
        else:
            raise ConfigError(
                "`data` must be Datasets, a tf.data.Dataset of (images, labels) or a folder. "
                f"Received an object of type {type(data).__name__}."
            )
        labels: list[NDArray[Any]] = []
        scores: list[NDArray[np.float64]] = []
        for images, ys in dataset:
            scores.append(self._scores(np.asarray(images)))
            labels.append(np.asarray(ys).reshape(-1))
        if not scores:
            raise ConfigError("The evaluation data is empty.")
        return np.concatenate(labels).astype(np.int64), np.concatenate(scores), paths

    def evaluate(
        self,
        data: Datasets | tf.data.Dataset | str | os.PathLike[str],
        *,
        top_k: int = 2,
        num_mistakes: int = 16,
    ) -> EvaluationReport:
        """Predict ``data`` once, in order, and return an
        :class:`~flowerkit.evaluation.EvaluationReport`.

        ``data`` is :class:`~flowerkit.data.Datasets` (its validation split, with file
        paths), a ``tf.data.Dataset`` of ``(images, labels)`` batches, or a folder of class
        sub-folders named like this classifier's classes.
        """
        from flowerkit.evaluation.report import EvaluationReport

        self._check_is_fitted("evaluate")
        labels, scores, paths = self._collect(data)
        calibrated = self.temperature_ != 1.0
        return EvaluationReport.from_predictions(
            labels,
            _softmax(scores / self.temperature_),
            self.class_names,
            file_paths=paths,
            top_k=top_k,
            num_mistakes=num_mistakes,
            probabilities_before_calibration=_softmax(scores) if calibrated else None,
        )

    def calibrate(
        self, data: Datasets | tf.data.Dataset | str | os.PathLike[str]
    ) -> dict[str, float]:
        """Fit a softmax temperature on held-out ``data`` so confidences match accuracy.

        Finds the temperature ``T`` that minimises the negative log-likelihood of
        ``softmax(logits / T)`` (temperature scaling; the predicted labels never change),
        stores it in ``temperature_`` (saved with the model) and returns
        ``{"temperature", "ece_before", "ece_after"}``: the expected calibration error
        (15 bins) on ``data`` before and after. Use data the model was not trained on,
        normally the validation split (what ``Datasets`` gives).
        """
        from flowerkit.evaluation.calibration import fit_temperature
        from flowerkit.evaluation.report import expected_calibration_error

        self._check_is_fitted("calibrate")
        labels, scores, _ = self._collect(data)
        temperature = float(fit_temperature(scores, labels))
        result = {
            "temperature": temperature,
            "ece_before": float(expected_calibration_error(labels, _softmax(scores))),
            "ece_after": float(expected_calibration_error(labels, _softmax(scores / temperature))),
        }
        self.temperature_ = temperature
        self.calibration_ = result
        return result

    # ------------------------------------------------------------------ persistence
    def _metadata(self) -> dict[str, Any]:
        import keras
        import tensorflow as tf

        return {
            "class_names": list(self.class_names),
            "image_size": list(self.image_size),
            "preset": self.preset,
            "outputs": self.outputs,
            "temperature": self.temperature_,
            "calibration": self.calibration_,
            "preprocessing": {
                "input": "RGB uint8 pixels 0..255 (the model rescales inside)",
                "decode": "flowerkit.images.load_image",
                "resize": "squash to image_size, Pillow bilinear (anti-aliased)",
                "alpha": "composited on white",
                "exif_orientation": "applied",
            },
            "build_config": self.build_config,
            "history": self.history_,
            "metrics": self.metrics_,
            # The base rate of the recipe's schedule (None: the user's own optimizer), so
            # that fit() on a loaded model runs the schedule again instead of continuing at
            # the decayed rate the saved optimizer ended with.
            "scheduled_learning_rate": self._scheduled_rate,
            "versions": {
                "flowerkit": __version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "python": platform.python_version(),
            },
            "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model and its metadata to one ``.keras`` file; return its path.

        ``.keras`` is appended when ``path`` has another suffix. The write is atomic.
        """
        self._check_is_fitted("save")
        return _artifact.write(self.model, self._metadata(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Classifier:
        """Load a classifier saved by :meth:`save` (Keras safe mode: no code is run)."""
        meta = _artifact.read_metadata(path)
        saved_version = meta.get("versions", {}).get("flowerkit")
        if saved_version != __version__:
            warnings.warn(
                f"{str(path)!r} was saved by flowerkit {saved_version}; this is {__version__}.",
                VersionMismatchWarning,
                stacklevel=2,
            )
        model = _artifact.read_model(path)
        clf = cls(
            model,
            meta["class_names"],
            preset=meta.get("preset"),
            outputs=meta.get("outputs"),
            trained=True,
            build_config=meta.get("build_config") or {},
        )
        clf.history_ = {
            k: [float(x) for x in vals] for k, vals in (meta.get("history") or {}).items()
        }
        clf.metrics_ = {k: float(x) for k, x in (meta.get("metrics") or {}).items()}
        clf.temperature_ = float(meta.get("temperature", 1.0))
        clf.calibration_ = {k: float(x) for k, x in (meta.get("calibration") or {}).items()}
        rate = meta.get("scheduled_learning_rate")
        clf._scheduled_rate = float(rate) if isinstance(rate, int | float) else None
        clf.metadata_ = meta
        return clf

    def __repr__(self) -> str:
        state = "trained" if self._fitted else "untrained"
        return (
            f"Classifier(preset={self.preset!r}, classes={list(self.class_names)}, "
            f"image_size={self.image_size}, {state})"
        )


def _unshuffled(data: Datasets) -> tf.data.Dataset:
    from flowerkit.data.loading import image_dataset

    return image_dataset(
        list(data.train_files),
        list(data.train_labels),
        image_size=data.image_size,
        batch_size=data.batch_size,
        cache=False,
    )
