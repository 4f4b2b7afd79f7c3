"""``Classifier``: a trained Keras model together with what it needs to be used.

A ``Classifier`` wraps (does not subclass) a ``keras.Model`` that maps raw 0..255 RGB
images to one score per class, and keeps the class names, image size, preset, training
history and calibration with it. ``fit`` trains by the preset's recipe, ``fine_tune``
trains a pretrained backbone further, ``evaluate`` reports, ``predict`` answers for paths,
folders, PIL images, arrays or bytes, and ``save``/``load`` round-trip all of it through
one ``.keras`` file. The work itself is done by the packages below it: training by
:mod:`flowerkit.training`, decoding by :mod:`flowerkit.images`, reports by
:mod:`flowerkit.evaluation` and the file format by :mod:`flowerkit.artifact`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from flowerkit import artifact
from flowerkit.artifact import current_preprocessing
from flowerkit.core import validation as v
from flowerkit.core.numeric import softmax
from flowerkit.core.options import RECIPE, UseRecipe
from flowerkit.core.runtime import tune_for_training
from flowerkit.data import Datasets, LabelledData
from flowerkit.evaluation import EvaluationReport
from flowerkit.evaluation.calibration import calibrate_logits
from flowerkit.evaluation.scoring import evaluate_scores, labelled_scores
from flowerkit.exceptions import (
    ConfigError,
    ModelFileError,
    NotFittedError,
    UnreadableImageError,
)
from flowerkit.export import ExportFormat, ExportResult, ExportSource, export_model
from flowerkit.images import load_image
from flowerkit.lite import Quantization
from flowerkit.models import PresetSpec, TrainingRecipe, build_model, get_preset
from flowerkit.models.build import Precision, build_config
from flowerkit.models.explain import grad_cam
from flowerkit.options.export import ExportOptions
from flowerkit.options.inference import EvaluateOptions, PredictOptions
from flowerkit.options.models import BuildOptions
from flowerkit.options.training import ClassWeight, FinderOptions, TrainOptions, Verbose
from flowerkit.prediction import Predictions, Scorer, predict_arrays, predict_inputs
from flowerkit.training import distribute, recipes
from flowerkit.training.distill import Distillation, check_teacher_classes, teacher_at
from flowerkit.training.fine_tuning import FineTuning
from flowerkit.training.inputs import resolve_data
from flowerkit.training.lr_finder import LearningRateFinding, find_learning_rate
from flowerkit.training.part import Part
from flowerkit.training.plain import PlainTraining
from flowerkit.training.trainer import Trainer

if TYPE_CHECKING:
    import keras
    import tensorflow as tf
    from numpy.typing import NDArray

    from flowerkit.images import ImageInput

__all__ = ["Classifier"]

Outputs = Literal["logits", "probabilities"]


def _detect_outputs(model: keras.Model) -> Outputs:
    import keras

    last = model.layers[-1] if model.layers else None
    act = getattr(last, "activation", None)
    if act is keras.activations.softmax or isinstance(last, keras.layers.Softmax):
        return "probabilities"
    return "logits"


def _check_model(model: object, class_names: Sequence[str]) -> tuple[int, int]:
    """The ``(height, width)`` that ``model`` takes, after checking it fits flowerkit."""
    import keras

    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"`model` must be a keras.Model. Received an object of type {type(model).__name__}."
        )
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] != 3:
        raise ConfigError(
            "`model` must take images of a fixed size, shape (batch, height, width, 3). "
            f"Its input shape is {shape}."
        )
    outputs = tuple(model.output_shape)[-1]
    if outputs != len(class_names):
        raise ConfigError(
            f"`model` has {outputs} outputs but {len(class_names)} class names were given: "
            f"{list(class_names)}."
        )
    return int(shape[1]), int(shape[2])


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
        strategy: the ``tf.distribute`` strategy to train under (see
            :func:`~flowerkit.training.distribute.make_strategy`); ``model`` must have been
            built in its scope. A model built in a strategy's scope brings that strategy
            along without this argument.
        recipe: the :class:`~flowerkit.TrainingRecipe` to train by (default: the
            preset's; the default recipe without a preset). Saved with the model.

    Attributes:
        history_: per-epoch metrics of every ``fit`` and ``fine_tune`` call, appended.
        metrics_: the last epoch's metrics.
        temperature_: the calibration temperature (1.0 when not calibrated).
        calibration_: ``{"temperature", "ece_before", "ece_after"}`` from :meth:`calibrate`.
        metadata_: the saved metadata of a loaded model (``None`` for a new one).

    Raises:
        ~flowerkit.ConfigError: ``model`` is not a ``keras.Model``, does not take images
            of a fixed size ``(batch, height, width, 3)``, or has not one output per
            class name; or ``class_names`` is not a list of at least two distinct,
            non-empty strings.

    Example:
        Wrap a model of your own (:meth:`from_preset` builds one from a preset):

        >>> import keras
        >>> import flowerkit as fk
        >>> inputs = keras.Input((32, 32, 3))
        >>> x = keras.layers.Rescaling(1 / 255)(inputs)
        >>> x = keras.layers.GlobalAveragePooling2D()(x)
        >>> model = keras.Model(inputs, keras.layers.Dense(3)(x))
        >>> clf = fk.Classifier(model, ["daisy", "roses", "tulips"])
        >>> clf
        Classifier(preset=None, classes=['daisy', 'roses', 'tulips'],
                   image_size=(32, 32), untrained)
        >>> clf.outputs, clf.is_fitted
        ('logits', False)
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
        strategy: tf.distribute.Strategy | None = None,
        recipe: TrainingRecipe | None = None,
    ) -> None:
        self.class_names: tuple[str, ...] = v.check_class_names(class_names)
        self.strategy = distribute.model_strategy(model, strategy)
        self.image_size: tuple[int, int] = _check_model(model, self.class_names)
        self.model = model
        self.preset = preset
        self.outputs: Outputs = outputs or _detect_outputs(model)
        v.check_choice(self.outputs, "outputs", ("logits", "probabilities"))
        self.build_config: dict[str, Any] = dict(build_config or {})
        self.history_: dict[str, list[float]] = {}
        self.metrics_: dict[str, float] = {}
        self.temperature_: float = 1.0
        self.calibration_: dict[str, float] = {}
        self.metadata_: artifact.ModelMetadata | None = None
        self._fitted = bool(trained)
        recipe, guess = recipes.for_preset(preset) if recipe is None else (recipe, "")
        self._trainer = Trainer(
            model,
            recipe,
            class_names=self.class_names,
            image_size=self.image_size,
            from_logits=self.outputs == "logits",
            strategy=self.strategy,
            guess=guess,
        )
        self._scorer: Scorer | None = None

    @classmethod
    def from_preset(
        cls,
        preset: str | PresetSpec = "tutorial",
        *,
        class_names: Sequence[str],
        image_size: tuple[int, int] | int | None = None,
        augmentation: keras.layers.Layer | bool | None = None,
        dropout: float | None = None,
        seed: int | None = None,
        precision: Precision = "float32",
        strategy: tf.distribute.Strategy | None = None,
        **options: Any,
    ) -> Classifier:
        """Build a preset's model with :func:`~flowerkit.models.build_model` and wrap it.

        The classifier keeps the preset's name, so :meth:`fit` trains by the preset's
        :class:`~flowerkit.TrainingRecipe` (:attr:`recipe`), and the build arguments are
        saved with the model (``build_config``). :doc:`presets` describes each preset.

        Args:
            preset: the name of a registered preset (:func:`~flowerkit.models.list_presets`):
                ``"tutorial"``, ``"compact"``, ``"mobilenet_v2"`` or one of your own; or
                its :class:`~flowerkit.PresetSpec`.
            class_names: the class names, in label order (``Datasets.class_names``); the
                model gets one output per name.
            image_size: ``(height, width)`` the model takes, or one integer for both
                (default: the preset's). Load the data at the same size.
            augmentation: a Keras layer (e.g. :func:`~flowerkit.models.augmentation_block`) to
                use instead of the preset's block, ``True`` for the preset's block,
                ``False`` for none, ``None`` for the preset's default (see
                :doc:`augmentation`).
            dropout: the dropout rate of the head (default: the preset's).
            seed: seeds Keras' random state before building, so the initial weights and
                the augmentation's draws repeat.
            precision: ``"float32"``, or ``"bfloat16"`` for Keras' ``mixed_bfloat16``
                policy where the hardware runs it (see :func:`~flowerkit.models.build_model`).
            strategy: a ``tf.distribute.Strategy`` (e.g. from
                :func:`~flowerkit.training.distribute.make_strategy`): the model is built,
                and later compiled, in its scope, and ``fit`` trains it on every replica;
                the data's ``batch_size`` is then the global batch, split over the
                replicas.
            **options: the preset's own options (``width`` for ``compact``, ``weights``
                for ``mobilenet_v2``; :attr:`PresetSpec.options
                <flowerkit.models.PresetSpec.options>`).

        Returns:
            An untrained classifier of the preset's model.

        Raises:
            ~flowerkit.UnknownPresetError: no preset is registered as ``preset``.
            ~flowerkit.ConfigError: a bad argument, an option the preset does not take,
                or ``precision="bfloat16"`` where it would be emulated.

        Example:
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.from_preset(
            ...     "tutorial", class_names=["daisy", "roses", "tulips"], image_size=64, seed=1
            ... )
            >>> clf
            Classifier(preset='tutorial', classes=['daisy', 'roses', 'tulips'],
                       image_size=(64, 64), untrained)
            >>> clf.model.count_params(), clf.recipe.epochs
            (548387, 10)
        """
        names = v.check_class_names(class_names)
        spec = preset if isinstance(preset, PresetSpec) else get_preset(preset)
        build = BuildOptions.from_call(locals())
        with distribute.scope(strategy):
            model = build_model(len(names), preset=spec, seed=seed, **build.kwargs(), **options)
        config = build_config(
            model, spec.name, seed=seed, options=options, **build.kwargs("record")
        )
        return cls(
            model,
            names,
            preset=spec.name,
            build_config=config,
            strategy=strategy,
            recipe=spec.recipe,
        )

    @property
    def is_fitted(self) -> bool:
        """Whether the classifier has trained weights (after ``fit``, ``load`` or
        ``trained=True``)."""
        return self._fitted

    def _check_is_fitted(self, action: str) -> None:
        if not self._fitted:
            raise NotFittedError.cannot(action)

    @property
    def recipe(self) -> TrainingRecipe:
        """The :class:`~flowerkit.TrainingRecipe` this classifier trains by: the one it
        was built or saved with (:mod:`flowerkit.training.recipes` has the rule for
        models saved without one; a guess warns with :class:`~flowerkit.RecipeWarning`,
        once). ``fit``'s recipe options (``label_smoothing``) update it."""
        return self._trainer.checked_recipe(stacklevel=2)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: Datasets | tf.data.Dataset,
        validation_data: tf.data.Dataset | None = None,
        *,
        epochs: int | UseRecipe = RECIPE,
        fine_tune_epochs: int | UseRecipe = RECIPE,
        fine_tune_layers: int | Literal["all"] | UseRecipe = RECIPE,
        fine_tune_learning_rate: float | UseRecipe = RECIPE,
        optimizer: keras.optimizers.Optimizer | str | UseRecipe = RECIPE,
        learning_rate: float | UseRecipe = RECIPE,
        label_smoothing: float | UseRecipe = RECIPE,
        class_weight: ClassWeight = None,
        callbacks: Iterable[keras.callbacks.Callback] = (),
        early_stopping: int | None = None,
        time_budget: float | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        calibrate: bool | Literal["auto"] = "auto",
        seed: int | None = None,
        verbose: Verbose = "auto",
    ) -> keras.callbacks.History:
        """Train the model by its preset's recipe; return this call's Keras ``History``.

        The model is compiled on the first ``fit`` (or whenever ``optimizer`` or
        ``learning_rate`` is passed) with the recipe's optimizer, a sparse categorical
        cross-entropy (with label smoothing where the recipe has it) and accuracy. The
        recipe's warm-up and schedule then run over each phase's epochs (each call starts
        a new schedule), unless you passed your own ``optimizer``; compile the model
        yourself beforehand to take full control. Where the recipe has
        ``recalibrate_batchnorm`` (``compact`` does), the batch-norm statistics are
        re-estimated on the un-augmented training images just before the last validation
        pass (after early stopping's restore, when it is on).

        Args:
            data: :class:`~flowerkit.data.Datasets` (its ``validation`` split is used unless
                ``validation_data`` is given) or a ``tf.data.Dataset`` of ``(images,
                labels)`` batches with raw 0..255 images and integer labels.
            validation_data: a ``tf.data.Dataset`` to validate on instead.
            epochs: left out (:data:`~flowerkit.RECIPE`), the recipe runs in full:
                :attr:`TrainingRecipe.epochs <flowerkit.TrainingRecipe.epochs>`, then
                for a transfer preset its fine-tuning phase (``mobilenet_v2``: 5 epochs
                frozen, then 5 fine-tuning the backbone's top 56 layers). An integer
                trains exactly that many epochs (of the first phase only, unless a
                fine-tuning argument is given). Every option left out is the recipe's or
                the default shown; the options are declared once, in
                :class:`flowerkit.options.training.TrainOptions`.
            fine_tune_epochs: a fine-tuning phase of this many epochs after the first
                phase (default: the recipe's when ``epochs`` is ``None``, else none;
                0: none). Needs a transfer preset's ``"backbone"``.
            fine_tune_layers: how many of the backbone's top layers fine-tuning
                unfreezes, or ``"all"`` (default: the recipe's; ``mobilenet_v2``: 54).
            fine_tune_learning_rate: the base rate of fine-tuning (default: the
                recipe's ``fine_tune_learning_rate``, or a tenth of its rate when it has
                none; ``mobilenet_v2``: 1e-4).
            callbacks: Keras callbacks, run after flowerkit's checkpointing.
            class_weight: ``{class index: weight}``, or ``"balanced"`` for
                ``n_samples / (n_classes * count)`` per class
                (:meth:`Datasets.class_weights <flowerkit.data.Datasets.class_weights>`).
            optimizer: a Keras optimizer (or its name) instead of the recipe's.
            learning_rate: the recipe's optimizer at this base rate.
            label_smoothing: label smoothing of the cross-entropy, in [0, 1) (default:
                the recipe's; ``compact``: 0.1). It becomes part of this classifier's
                :attr:`recipe`, saved with the model, so ``fine_tune`` and later fits
                keep it.
            early_stopping: patience in epochs; stops when the validation loss (training
                loss without validation) stops improving and restores the best weights.
            time_budget: seconds of wall time for the whole call, after which training
                stops (checked after every batch). A recipe's cosine schedule then decays
                the learning rate to zero by the end of the budget when that comes before
                the last epoch, so a run cut short still ends fully annealed.
            checkpoint_dir: a folder that receives a checkpoint after every epoch. If a run
                is interrupted (even killed), calling ``fit`` again with the same folder
                and arguments resumes after the last completed epoch, with weights,
                optimizer state and history restored. Removed when the run completes (its
                other contents are left alone).
            calibrate: fit a softmax temperature on the validation data afterwards (see
                :meth:`calibrate`), so that scores and ``min_confidence`` mean what they
                say. ``"auto"`` (the default) calibrates when there is validation data,
                ``True`` requires it, ``False`` never calibrates.
            seed: seeds Keras' random state (dropout, augmentation) for a repeatable run;
                the data order is seeded by ``load_datasets(seed=...)``.
            verbose: Keras' progress output.

        Returns:
            The ``keras.callbacks.History`` of this call: ``history.history`` maps each
            metric to one value per epoch (resumed epochs included). ``history_``
            accumulates every call.

        Raises:
            ~flowerkit.ConfigError: the data's classes or image size differ from the
                model's; a bad argument (both ``optimizer`` and ``learning_rate``,
                ``calibrate=True`` without validation data, a fine-tuning argument for a
                model without a ``"backbone"`` or a recipe without fine-tuning epochs).

        Example:
            >>> import flowerkit as fk
            >>> data = fk.load_datasets("photos", image_size=32, batch_size=8, seed=1)
            >>> clf = fk.Classifier.from_preset(
            ...     "tutorial", class_names=data.class_names, image_size=32, seed=1
            ... )
            >>> history = clf.fit(data, epochs=1, verbose=0)
            >>> sorted(history.history)
            ['accuracy', 'loss', 'val_accuracy', 'val_loss']
            >>> clf.is_fitted, len(clf.history_["loss"])
            (True, 1)

            :doc:`training` shows the other options at work.
        """
        options = TrainOptions.from_call(locals(), "fit")
        return self._train([PlainTraining()], data, validation_data, options)

    def find_learning_rate(
        self,
        data: Datasets | tf.data.Dataset,
        *,
        start: float = 1e-7,
        end: float = 1.0,
        steps: int = 100,
        divergence: float = 4.0,
        smoothing: float = 0.98,
        seed: int | None = None,
    ) -> LearningRateFinding:
        """Run a learning-rate range test, as fastai's ``lr_find``; the model is left as
        it was.

        Trains one batch at each of ``steps`` rates rising exponentially from ``start``
        to ``end``, records the (smoothed) loss, stops when it diverges, and suggests a
        rate (fastai's "valley" rule). Draw it with
        :func:`flowerkit.evaluation.plots.plot_lr_find`; pass the suggestion to
        ``fit(learning_rate=...)``.

        Args:
            data: as for :meth:`fit` (its training split is used).
            start: the first learning rate.
            end: the last learning rate.
            steps: how many rates (and batches) to try, at least 2.
            divergence: stop once the smoothed loss exceeds this many times its minimum.
            smoothing: the loss's smoothing factor in ``[0, 1)``.
            seed: seeds Keras' random state first, as ``fit(seed=...)`` does. All
                as for :func:`flowerkit.training.lr_finder.find_learning_rate`.

        Returns:
            The :class:`~flowerkit.training.lr_finder.LearningRateFinding`: the rates and
            losses of every step, and the ``suggestion`` (``None`` when the curve is too
            short or too flat to read one off; its ``reason`` says why).

        Raises:
            ~flowerkit.ConfigError: the data's classes or image size differ from the
                model's, or an option is out of range.
            ~flowerkit.DatasetError: the training data is empty.

        Example:
            >>> import numpy as np
            >>> import flowerkit as fk
            >>> data = fk.load_datasets("photos", image_size=32, batch_size=8, seed=1)
            >>> clf = fk.Classifier.from_preset(
            ...     "tutorial", class_names=data.class_names, image_size=32, seed=1
            ... )
            >>> before = clf.model.get_weights()
            >>> finding = clf.find_learning_rate(data, start=1e-5, end=1e-1, steps=12, seed=1)
            >>> len(finding.rates) <= 12, finding.rates[0]
            (True, 1e-05)
            >>> finding.suggestion is None or 1e-5 <= finding.suggestion <= 1e-1
            True
            >>> all(np.array_equal(a, b) for a, b in zip(before, clf.model.get_weights()))
            True
        """
        tune_for_training()
        train, _ = resolve_data(
            data, None, class_names=self.class_names, image_size=self.image_size
        )
        self._trainer.ensure_compiled()
        options = FinderOptions.from_call(locals())
        return find_learning_rate(self.model, train, **options.kwargs())

    def distill(
        self,
        teacher: Classifier,
        data: Datasets | tf.data.Dataset,
        validation_data: tf.data.Dataset | None = None,
        *,
        epochs: int | UseRecipe = RECIPE,
        temperature: float = 2.0,
        alpha: float = 0.5,
        optimizer: keras.optimizers.Optimizer | str | UseRecipe = RECIPE,
        learning_rate: float | UseRecipe = RECIPE,
        class_weight: ClassWeight = None,
        callbacks: Iterable[keras.callbacks.Callback] = (),
        early_stopping: int | None = None,
        time_budget: float | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        calibrate: bool | Literal["auto"] = "auto",
        seed: int | None = None,
        verbose: Verbose = "auto",
    ) -> keras.callbacks.History:
        """Train this (small) model on a trained ``teacher``'s softened outputs plus the
        labels (knowledge distillation, Hinton et al. 2015).

        The loss is ``alpha`` x the recipe's cross-entropy with the labels plus
        ``(1 - alpha) x temperature^2`` x the KL divergence from the teacher's
        ``softmax(logits / temperature)`` to the student's. The teacher scores every
        training and validation image once, un-augmented, before training (see
        :mod:`flowerkit.training.distill`); this model's own augmentation and recipe run
        as in :meth:`fit`. Afterwards the model is recompiled with its recipe's loss, so
        ``fit`` and ``evaluate`` work on it as on any model.

        Args:
            teacher: a trained :class:`Classifier` with the same classes (any preset or
                image size: images are resized for it).
            data: as for :meth:`fit`.
            validation_data: as for :meth:`fit`.
            epochs: as for :meth:`fit` (default: the recipe's first phase).
            temperature: the softening temperature (2 to 4 is usual).
            alpha: the weight of the labels (0: the teacher only; 1: plain training).
            optimizer: as for :meth:`fit`.
            learning_rate: as for :meth:`fit`.
            class_weight: not supported with distillation: anything but ``None`` raises
                :class:`~flowerkit.ConfigError`.
            callbacks: as for :meth:`fit`.
            early_stopping: as for :meth:`fit`.
            time_budget: as for :meth:`fit`.
            checkpoint_dir: as for :meth:`fit`.
            calibrate: as for :meth:`fit`.
            seed: as for :meth:`fit`.
            verbose: as for :meth:`fit`.

        Returns:
            The ``keras.callbacks.History`` of this call (its ``loss`` is the
            distillation loss; ``accuracy`` against the labels).

        Raises:
            ~flowerkit.ConfigError: the teacher's classes differ, or a bad argument
                (``temperature`` not positive, ``alpha`` outside [0, 1], a
                ``class_weight``, the data's classes or image size differ from this
                model's).
            ~flowerkit.NotFittedError: the teacher is not trained.
            TypeError: an option that ``distill`` does not take.

        Example:
            >>> import flowerkit as fk
            >>> teacher = fk.Classifier.load("flowers.keras")  # image_size 64
            >>> data = fk.load_datasets("photos", image_size=32, batch_size=8, seed=1)
            >>> student = fk.Classifier.from_preset(
            ...     "tutorial", class_names=teacher.class_names, image_size=32, seed=1
            ... )
            >>> history = student.distill(teacher, data, epochs=1, temperature=2.0, verbose=0)
            >>> sorted(history.history), student.is_fitted
            (['accuracy', 'loss', 'val_accuracy', 'val_loss'], True)
        """
        check_teacher_classes(teacher.class_names, self.class_names)
        teacher._check_is_fitted("teach")
        options = TrainOptions.from_call(locals(), "distill")
        scores = teacher_at(teacher._scores, teacher.image_size, self.image_size)
        part = Distillation(scores, options.temperature, options.alpha)
        return self._train([part], data, validation_data, options)

    def fine_tune(
        self,
        data: Datasets | tf.data.Dataset,
        validation_data: tf.data.Dataset | None = None,
        *,
        epochs: int | UseRecipe = RECIPE,
        layers: int | Literal["all"] | UseRecipe = RECIPE,
        learning_rate: float | UseRecipe = RECIPE,
        class_weight: ClassWeight = None,
        callbacks: Iterable[keras.callbacks.Callback] = (),
        early_stopping: int | None = None,
        time_budget: float | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        calibrate: bool | Literal["auto"] = "auto",
        seed: int | None = None,
        verbose: Verbose = "auto",
    ) -> keras.callbacks.History:
        """Unfreeze the top of the pretrained backbone and train further.

        Unfreezes the top ``layers`` layers of the sub-model named ``"backbone"``
        (transfer presets have one; batch-norm layers stay frozen), recompiles with the
        recipe's optimizer at ``learning_rate`` and trains ``epochs`` more epochs, with
        the recipe's schedule over them. Meant for a model that ``fit`` has trained (or a
        loaded one); ``fit`` with ``epochs=None`` already runs the recipe's fine-tuning.

        Args:
            data: as for :meth:`fit`.
            validation_data: as for :meth:`fit`.
            epochs: how many epochs to train (default: the recipe's
                ``fine_tune_epochs``).
            layers: how many top layers to unfreeze; ``"all"`` for the whole backbone;
                default: the recipe's ``fine_tune_layers``.
            learning_rate: the base rate (default: the recipe's fine-tuning rate, as for
                ``fit(fine_tune_learning_rate=...)``).
            class_weight: as for :meth:`fit`.
            callbacks: as for :meth:`fit`.
            early_stopping: as for :meth:`fit`.
            time_budget: as for :meth:`fit`.
            checkpoint_dir: as for :meth:`fit`.
            calibrate: as for :meth:`fit`.
            seed: as for :meth:`fit`.
            verbose: as for :meth:`fit`.

        Returns:
            The ``keras.callbacks.History`` of this call.

        Raises:
            ~flowerkit.ConfigError: the model has no sub-model named ``"backbone"``, the
                recipe declares no fine-tuning epochs and ``epochs`` is not given, or a
                bad argument.
            TypeError: an option that ``fine_tune`` does not take.

        Example:
            Any model with a sub-model named ``"backbone"`` can be fine-tuned; here a
            small one stands in for ``mobilenet_v2``'s:

            >>> import keras
            >>> import flowerkit as fk
            >>> backbone = keras.Sequential(
            ...     [
            ...         keras.Input((32, 32, 3)),
            ...         keras.layers.Rescaling(1 / 255),
            ...         keras.layers.Conv2D(8, 3, activation="relu"),
            ...         keras.layers.GlobalAveragePooling2D(),
            ...     ],
            ...     name="backbone",
            ... )
            >>> backbone.trainable = False
            >>> inputs = keras.Input((32, 32, 3))
            >>> model = keras.Model(inputs, keras.layers.Dense(3)(backbone(inputs)))
            >>> clf = fk.Classifier(model, ["daisy", "roses", "tulips"])
            >>> data = fk.load_datasets("photos", image_size=32, batch_size=8, seed=1)
            >>> history = clf.fine_tune(data, epochs=1, layers=2, verbose=0)
            >>> [layer.trainable for layer in backbone.layers]  # the top 2 unfrozen
            [False, True, True]
            >>> len(history.history["loss"])
            1
        """
        options = TrainOptions.for_fine_tune(locals())
        return self._train([FineTuning(self.model, self.preset)], data, validation_data, options)

    def _train(
        self,
        parts: list[Part],
        data: Datasets | tf.data.Dataset,
        validation_data: tf.data.Dataset | None,
        options: TrainOptions,
    ) -> keras.callbacks.History:
        history, inputs = self._trainer.train(parts, data, validation_data, options)
        for key, values in history.history.items():
            self.history_.setdefault(key, []).extend(values)
        self.metrics_ = {k: vals[-1] for k, vals in self.history_.items() if vals}
        self._fitted = True
        if options.calibrate and inputs.calibration is not None:  # True checked it is there
            self.calibrate(inputs.calibration)
        return history

    # ------------------------------------------------------------------ inference
    @property
    def _scores(self) -> Scorer:
        """Logits of a batch (log-probabilities for a model that outputs probabilities),
        ``tta`` or not, through one compiled function kept for the life of the classifier."""
        if self._scorer is None:
            self._scorer = Scorer(self.model, self.image_size, self.outputs)
        return self._scorer

    def _probabilities(self, tta: bool) -> Callable[[NDArray[Any]], NDArray[np.float64]]:
        """Calibrated probabilities of a batch."""
        return lambda batch: softmax(self._scores(batch, tta) / self.temperature_)

    def predict_proba(
        self, images: NDArray[Any], *, batch_size: int = 32, tta: bool = False
    ) -> NDArray[np.float64]:
        """Class probabilities for a batch of images already at ``image_size``.

        The array counterpart of :meth:`predict`: no decoding or resizing, the
        calibration temperature applied, columns in ``class_names`` order.

        Args:
            images: an array ``(N, height, width, 3)`` at this classifier's
                ``image_size``, uint8 or 0..255 floats (e.g. stacked
                :func:`~flowerkit.images.load_image` results).
            batch_size: images per model call.
            tta: test-time augmentation, as in :meth:`predict`.

        Returns:
            An ``(N, classes)`` float64 array whose rows sum to 1.

        Raises:
            ~flowerkit.NotFittedError: the classifier is not trained.
            ~flowerkit.ConfigError: ``images`` is not ``(N, height, width, 3)`` at
                ``image_size``, or a bad ``batch_size``.

        Example:
            >>> import numpy as np
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.load("flowers.keras")
            >>> files = ["my_rose.jpg", "new_photos/new_daisy.jpg"]
            >>> images = np.stack([fk.load_image(f, clf.image_size) for f in files])
            >>> probabilities = clf.predict_proba(images)
            >>> probabilities.shape, probabilities.sum(axis=1).round(6).tolist()
            ((2, 3), [1.0, 1.0])
            >>> [clf.class_names[i] for i in probabilities.argmax(axis=1)]
            ['roses', 'daisy']
        """
        self._check_is_fitted("predict")
        return predict_arrays(
            images,
            self._probabilities(tta),
            image_size=self.image_size,
            num_classes=len(self.class_names),
            batch_size=batch_size,
        )

    def predict(
        self,
        inputs: ImageInput | Sequence[ImageInput],
        *,
        top_k: int = 3,
        batch_size: int = 32,
        errors: Literal["raise", "skip"] = "raise",
        progress: Callable[[int, int], None] | None = None,
        tta: bool = False,
        min_confidence: float | None = None,
        explain: bool = False,
    ) -> Predictions:
        """Classify images; return one :class:`~flowerkit.prediction.Prediction` per image.

        Every image is decoded and resized by :func:`~flowerkit.images.load_image`,
        exactly as in training, on one thread per core, and streamed through the model in
        batches of ``batch_size``: a folder of any size needs the memory of two batches of
        images (plus one small result per image). The model runs as one compiled function,
        traced on the first call and reused afterwards.

        Args:
            inputs: a file path, a folder (every image in it, recursively, sorted, by the
                checker's rules), a ``PIL.Image.Image``, encoded image bytes, an array
                ``(H, W, 3)`` or ``(N, H, W, 3)`` (uint8 or 0..255 floats), or a list of
                any of these.
            top_k: how many of the most likely classes each prediction lists.
            batch_size: images per model call.
            errors: ``"raise"``: a file that is not a usable image raises
                :class:`~flowerkit.UnreadableImageError` naming it; ``"skip"``: it is left
                out and listed in ``Predictions.failures``.
            progress: called as ``progress(done, total)`` after every batch (as in
                :func:`~flowerkit.data.check_images`).
            tta: test-time augmentation: average the logits of the image, its mirror, a
                centre crop (87.5%) and the crop's mirror; four times the model's work.
                Figures per preset in ``docs/benchmarks.md``.
            min_confidence: a confidence (0..1) below which a prediction is marked
                :attr:`~flowerkit.prediction.Prediction.uncertain` rather than answered
                (its ``label`` stays the best guess). Calibrate first (:meth:`calibrate`)
                so that confidence means accuracy; :meth:`evaluate` with the same
                threshold reports the coverage and accuracy it gives.
            explain: also compute each image's Grad-CAM map for its predicted class
                (:func:`~flowerkit.models.explain.grad_cam`, on the image itself with
                ``tta`` too) into :attr:`Prediction.explanation
                <flowerkit.prediction.Prediction.explanation>`: where in the image the
                model found its evidence. About one more forward and one backward pass
                of the model per image.

        Returns:
            :class:`~flowerkit.prediction.Predictions`: a list with one
            :class:`~flowerkit.prediction.Prediction` per image, in input order (a
            folder's files sorted), and ``failures`` for the inputs ``errors="skip"``
            left out.

        Raises:
            ~flowerkit.NotFittedError: the classifier is not trained.
            ~flowerkit.UnreadableImageError: with ``errors="raise"``, an input that is
                not a usable image (naming it).
            ~flowerkit.ConfigError: a bad argument, or no inputs; with ``explain``, a
                model without a convolutional feature map.

        Example:
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.load("flowers.keras")
            >>> print(clf.predict("my_rose.jpg")[0])
            my_rose.jpg: roses (...%)
            >>> predictions = clf.predict("new_photos", top_k=2)
            >>> predictions.labels
            ['daisy', 'roses', 'tulips']
            >>> [label for label, _ in predictions[0].top_k]
            ['daisy', ...]
            >>> [rose] = clf.predict("my_rose.jpg", explain=True)
            >>> rose.explanation.shape  # the tutorial network's 8 x 8 feature map at 64 x 64
            (8, 8)
        """
        self._check_is_fitted("predict")
        return _predict(self, inputs, PredictOptions.from_call(locals(), "predict"))

    def evaluate(
        self,
        data: LabelledData,
        *,
        subset: Literal["validation", "test"] = "validation",
        top_k: int = 3,
        num_mistakes: int = 16,
        tta: bool = False,
        min_confidence: float | None = None,
    ) -> EvaluationReport:
        """Predict ``data`` once, in order, and return an
        :class:`~flowerkit.evaluation.EvaluationReport`.

        Args:
            data: :class:`~flowerkit.data.Datasets` (its validation split, with file
                paths), a ``tf.data.Dataset`` of ``(images, labels)`` batches, or a folder
                of class sub-folders named like this classifier's classes.
            subset: for :class:`~flowerkit.data.Datasets`, ``"test"`` evaluates its test
                split (``load_datasets(test_split=...)``) instead; the report's
                ``split`` says which.
            top_k: the ``k`` of the report's top-k accuracy.
            num_mistakes: how many of the worst mistakes the report keeps.
            tta: test-time augmentation, as in :meth:`predict`.
            min_confidence: also report the coverage and accuracy when only predictions
                at least this confident are answered (as :meth:`predict` does with it).

        Returns:
            The :class:`~flowerkit.evaluation.EvaluationReport`: accuracy, top-k accuracy,
            loss, per-class precision/recall/F1, the confusion matrix, the calibration
            error and the worst mistakes (with their files, when known). Each mistake
            whose file can be read carries the Grad-CAM map of its predicted class
            (:attr:`Mistake.explanation <flowerkit.evaluation.Mistake.explanation>`),
            which the HTML report draws beside its thumbnail.

        Raises:
            ~flowerkit.NotFittedError: the classifier is not trained.
            ~flowerkit.ConfigError: the data is empty, its classes or image size differ
                from this classifier's, or a bad argument.

        Example:
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.load("flowers.keras")
            >>> data = fk.load_datasets("photos", image_size=64, batch_size=8, seed=1)
            >>> report = clf.evaluate(data)
            >>> report.split, report.num_samples, len(data.validation_files)
            ('validation', 13, 13)
            >>> [c.name for c in report.per_class], 0.0 <= report.accuracy <= 1.0
            (['daisy', 'roses', 'tulips'], True)
        """
        self._check_is_fitted("evaluate")
        options = EvaluateOptions.from_call(locals())
        report = evaluate_scores(
            self._scores,
            data,
            options,
            class_names=self.class_names,
            image_size=self.image_size,
            temperature=self.temperature_,
        )
        return _explain_mistakes(self.model, self.image_size, report)

    def calibrate(self, data: LabelledData) -> dict[str, float]:
        """Fit a softmax temperature on held-out ``data`` so confidences match accuracy.

        Finds the temperature ``T`` that minimises the negative log-likelihood of
        ``softmax(logits / T)`` (temperature scaling; the predicted labels never change),
        stores it in ``temperature_`` (saved with the model). Use data the model was not
        trained on, normally the validation split (what ``Datasets`` gives).

        Args:
            data: held-out labelled data, as for :meth:`evaluate`:
                :class:`~flowerkit.data.Datasets` (its validation split), a
                ``tf.data.Dataset`` of ``(images, labels)`` batches, or a folder of class
                sub-folders.

        Returns:
            ``{"temperature", "ece_before", "ece_after"}``: the expected calibration error
            (15 bins) on ``data`` before and after. Temperature scaling minimises the
            log-loss, not the calibration error, so on a small ``data`` the error can
            come out a little higher after.

        Raises:
            ~flowerkit.NotFittedError: the classifier is not trained.
            ~flowerkit.ConfigError: the data is empty, or its classes or image size
                differ from this classifier's.

        Example:
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.load("flowers.keras")
            >>> data = fk.load_datasets("photos", image_size=64, batch_size=8, seed=1)
            >>> result = clf.calibrate(data)
            >>> sorted(result)
            ['ece_after', 'ece_before', 'temperature']
            >>> clf.temperature_ == result["temperature"] > 0
            True
        """
        self._check_is_fitted("calibrate")
        labels, scores, _ = labelled_scores(
            self._scores, data, class_names=self.class_names, image_size=self.image_size
        )
        self.calibration_ = calibrate_logits(scores, labels)
        self.temperature_ = self.calibration_["temperature"]
        return dict(self.calibration_)

    # ------------------------------------------------------------------ shipping
    def export(
        self,
        path: str | os.PathLike[str],
        format: ExportFormat = "saved_model",
        *,
        quantization: Quantization = "float32",
        representative_data: object = None,
        validation_data: LabelledData | None = None,
        max_accuracy_drop: float = 0.02,
        licence: str = "",
        verify: bool = True,
    ) -> ExportResult:
        """Export the model for serving, reload what was written and verify it.

        ``"saved_model"`` writes a TensorFlow SavedModel folder with two signatures
        (``serving_default``: uint8 pixels; ``encoded``: JPEG/PNG bytes decoded in the
        graph); ``"tflite"`` writes one LiteRT file with the class names and metadata
        inside, for :class:`flowerkit.lite.LiteClassifier`, MediaPipe-style apps or the
        bare LiteRT interpreter; ``"onnx"`` (with the ``onnx`` extra) writes an ONNX
        model with the class names in its metadata. All apply the calibration
        temperature. The export is written beside ``path``, reloaded (plain TensorFlow
        for a SavedModel, the LiteRT interpreter for ``.tflite``, ONNX Runtime for
        ``.onnx``) and compared with this model, then renamed into place. See
        ``docs/export.rst`` for the tolerances and the worked examples.

        Args:
            path: the folder (SavedModel) or file (``.tflite``) to write; a previous
                export there is replaced.
            format: ``"saved_model"``, ``"tflite"`` or ``"onnx"``.
            quantization: for ``"tflite"``: ``"float32"``, ``"float16"`` (half the size),
                ``"dynamic"`` (int8 weights) or ``"int8"`` (int8 weights and activations,
                uint8 input; needs ``representative_data``).
            representative_data: training images for int8 calibration and the
                verification sample: a :class:`~flowerkit.data.Datasets` (its training
                files; its validation split is then the default ``validation_data``), a
                folder or an array ``(N, H, W, 3)``. Up to 200 images are used.
            validation_data: labelled data (as for :meth:`evaluate`) on which a
                quantized export's accuracy is compared with this model's.
            max_accuracy_drop: the largest validation accuracy loss a quantized export
                may show (0.02: two points).
            licence: the model's licence (e.g. ``"CC-BY-4.0"``), written into the
                export's metadata (a ``.tflite`` file's TFLite metadata too); ``""``
                states none.
            verify: reload and check the export (``False`` skips it; LiteRT is then not
                needed for a ``.tflite`` export).

        A ``precision="bfloat16"`` model exports to ``.tflite`` and ONNX as its float32
        twin (the same float32 weights, computed in float32), against which the export
        is verified; its SavedModel computes in bfloat16, as the model does.

        Returns:
            An :class:`~flowerkit.export.ExportResult`: the path, size and the checks.

        Raises:
            ~flowerkit.NotFittedError: the classifier is not trained.
            ~flowerkit.ExportError: conversion failed (naming the layer LiteRT cannot run,
                when the converter points at one), or a check did not pass (naming the
                figure); nothing is written.
            ~flowerkit.ConfigError: a bad argument.
            ImportError: the format's extra (``lite`` or ``onnx``) is not installed.

        Example:
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.load("flowers.keras")
            >>> result = clf.export("flowers-f16.tflite", "tflite", quantization="float16")
            >>> print(result)
            flowers-f16.tflite (tflite float16, ... MB): float16 max_abs_diff ...
            (limit 0.02); float16 top1_agreement 1; metadata mismatched 0 (limit 0)
            >>> result.path.is_file(), result.quantization
            (True, 'float16')
        """
        self._check_is_fitted("export")
        source = ExportSource(
            self.model,
            self.class_names,
            self.image_size,
            self._scores,
            outputs=self.outputs,
            temperature=self.temperature_,
            preset=self.preset,
            preprocessing=dict(
                self.metadata_.preprocessing if self.metadata_ else current_preprocessing()
            ),
        )
        options = ExportOptions.from_call(locals())
        return export_model(source, path, format, **options.kwargs())

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model and its metadata to one ``.keras`` file; return its path.

        The file holds the model (layers and weights, not the optimizer's state) and
        the metadata :meth:`load` needs: the class names, image size, preset, output
        kind, calibration temperature, history, build configuration, preprocessing and
        library versions. The write is atomic: a file already at ``path`` is replaced
        only once the new one is complete.

        Args:
            path: the file to write. ``.keras`` is appended when it has another suffix
                or none; :meth:`load` accepts the same ``path``.

        Returns:
            The path of the file written.

        Raises:
            ~flowerkit.NotFittedError: the classifier is not trained.

        Example:
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.load("flowers.keras")
            >>> clf.save("roses-and-co")
            PosixPath('roses-and-co.keras')
            >>> fk.Classifier.load("roses-and-co").class_names
            ('daisy', 'roses', 'tulips')
        """
        self._check_is_fitted("save")
        metadata = artifact.ModelMetadata.now(
            class_names=self.class_names,
            image_size=self.image_size,
            preset=self.preset,
            outputs=self.outputs,
            temperature=self.temperature_,
            calibration=dict(self.calibration_),
            history={k: list(vals) for k, vals in self.history_.items()},
            metrics=dict(self.metrics_),
            build_config=self.build_config,
            **self._trainer.saved_state(),
        )
        return artifact.write(self.model, metadata, path)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, strategy: tf.distribute.Strategy | None = None
    ) -> Classifier:
        """Load a classifier saved by :meth:`save` (Keras safe mode: no code is run).

        The history, metrics, calibration temperature and metadata (``metadata_``) come
        back with the model; the classifier predicts, evaluates, exports or trains
        further (its optimizer starts afresh) at once.

        Args:
            path: what was given to :meth:`save`, or the file it returned.
            strategy: a ``tf.distribute.Strategy`` to load the model in the scope of, to
                train it further under that strategy.

        Returns:
            The trained classifier.

        Raises:
            ModelFileError: no such model (the message names the paths tried), a file that
                is not a flowerkit model, or one that is truncated, corrupted, of a newer
                format, with damaged metadata, or that would need code to run (a
                ``Lambda`` layer, an unregistered class); the message names the file and
                the cause.

        Example:
            >>> import flowerkit as fk
            >>> clf = fk.Classifier.load("flowers.keras")
            >>> clf
            Classifier(preset='tutorial', classes=['daisy', 'roses', 'tulips'],
                       image_size=(64, 64), trained)
            >>> len(clf.history_["loss"]), clf.metadata_.preset
            (3, 'tutorial')
            >>> fk.Classifier.load("missing.keras")
            Traceback (most recent call last):
            ...
            flowerkit.ModelFileError: No saved model at 'missing.keras'.
        """
        with distribute.scope(strategy):
            model, meta = artifact.read(path)
        try:
            recipe, guess = recipes.from_saved(meta.recipe, meta.preset)
            clf = cls(
                model,
                meta.class_names,
                preset=meta.preset,
                outputs="probabilities" if meta.outputs == "probabilities" else "logits",
                trained=True,
                build_config=meta.build_config,
                strategy=strategy,
                recipe=recipe,
            )
        except ValueError as exc:  # a ConfigError too: the metadata does not fit the model
            raise ModelFileError(f"{str(path)!r} does not hold together: {exc}") from exc
        clf.history_ = {k: list(vals) for k, vals in meta.history.items()}
        clf.metrics_ = dict(meta.metrics)
        clf.temperature_ = meta.temperature
        clf.calibration_ = dict(meta.calibration)
        clf._trainer.restore(meta.scheduled_learning_rate, guess)
        clf.metadata_ = meta
        return clf

    def __repr__(self) -> str:
        state = "trained" if self._fitted else "untrained"
        return (
            f"Classifier(preset={self.preset!r}, classes={list(self.class_names)}, "
            f"image_size={self.image_size}, {state})"
        )


# ---------------------------------------------------------------------- explanations
def _predict(clf: Classifier, inputs: object, options: PredictOptions) -> Predictions:
    """What :meth:`Classifier.predict` does: stream ``inputs`` through the model, and
    with ``options.explain`` attach each image's Grad-CAM map of its predicted class."""
    probabilities = clf._probabilities(options.tta)
    maps: list[NDArray[np.float32]] = []
    if options.explain:
        probabilities = _explaining(clf.model, probabilities, maps)
    predictions = predict_inputs(
        inputs,
        probabilities,
        image_size=clf.image_size,
        class_names=clf.class_names,
        **options.kwargs("predict_inputs"),
    )
    if not options.explain:
        return predictions
    explained = [
        dataclasses.replace(p, explanation=heat) for p, heat in zip(predictions, maps, strict=True)
    ]
    return Predictions(explained, predictions.failures)


def _explaining(
    model: keras.Model,
    probabilities: Callable[[NDArray[Any]], NDArray[np.float64]],
    maps: list[NDArray[np.float32]],
) -> Callable[[NDArray[Any]], NDArray[np.float64]]:
    """``probabilities`` that also append each batch's Grad-CAM maps (of the predicted
    classes) to ``maps``, in the order of the rows."""

    def run(images: NDArray[Any]) -> NDArray[np.float64]:
        rows = probabilities(images)
        maps.extend(grad_cam(model, images, rows.argmax(axis=1)))
        return rows

    return run


def _explain_mistakes(
    model: keras.Model, image_size: tuple[int, int], report: EvaluationReport
) -> EvaluationReport:
    """``report`` with the Grad-CAM map of the predicted class on every mistake whose file
    can be read (decoded as for training); unchanged for a model without a convolutional
    feature map, as for mistakes without a file."""
    found: dict[int, NDArray[np.uint8]] = {}
    for i, mistake in enumerate(report.mistakes):
        if mistake.file_path is not None:
            try:
                found[i] = load_image(mistake.file_path, image_size)
            except UnreadableImageError:  # moved or broken since: no overlay, no failure
                continue
    if not found:
        return report
    classes = [report.class_names.index(report.mistakes[i].predicted_label) for i in found]
    try:
        maps = grad_cam(model, np.stack(list(found.values())), classes)
    except ConfigError:  # no convolutional feature map: the report has no overlays
        return report
    mistakes = list(report.mistakes)
    for i, heat in zip(found, maps, strict=True):
        mistakes[i] = dataclasses.replace(mistakes[i], explanation=heat)
    return dataclasses.replace(report, mistakes=tuple(mistakes))
