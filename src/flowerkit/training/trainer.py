"""``Trainer``: the training state of one model and the one path every training run takes.

A :class:`Trainer` owns what training needs across calls: the model's
:class:`~flowerkit.TrainingRecipe` (saved with the model), the optimizer flowerkit compiled
and the base rate the recipe's schedule drives. Like keras-hub's ``compile(optimizer=
"auto")``, flowerkit compiles with the recipe's optimizer unless the user compiled the
model themselves; their optimizer is then left alone, rate included.

Every run takes one fixed path (:meth:`Trainer.train`): the data given is turned into
pipelines, each :class:`Part` of the run adapts them in turn (its own module: plain
training, fine-tuning, distillation, several workers; fastai's callbacks are the model),
the model is compiled as the parts ask, :func:`flowerkit.training.loop.run` trains the
phases, and each part finishes. There is no branch on a mode: a part that does not apply
does nothing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from flowerkit.core.options import RECIPE
from flowerkit.core.runtime import tune_for_training
from flowerkit.exceptions import ConfigError, RecipeWarning
from flowerkit.training import distribute, loop, recipes
from flowerkit.training.finetune import backbone
from flowerkit.training.optimizers import compile_model
from flowerkit.training.part import Inputs, Part
from flowerkit.training.plain import Pipelines
from flowerkit.training.replicas import ReplicaBatches

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from flowerkit.data import Datasets
    from flowerkit.models import TrainingRecipe
    from flowerkit.options.training import TrainOptions

__all__ = ["Trainer"]

#: Options that change how the model is compiled: given, it is compiled again.
_RECOMPILE = frozenset({"optimizer", "learning_rate", "label_smoothing"})


class Trainer:
    """The recipe, optimizer and schedule state of one model, and its training path.

    Args:
        model: the Keras model.
        recipe: the recipe it trains by.
        class_names: its classes, which the data must have, in order.
        image_size: its input size, which the data must have.
        from_logits: whether it outputs logits (else probabilities).
        strategy: the ``tf.distribute`` strategy it was built under, if any.
        guess: why ``recipe`` is a guess (:mod:`flowerkit.training.recipes`), or ``""``.

    Attributes:
        recipe: the recipe; ``fit``'s recipe options (``label_smoothing``) update it.
        scheduled_rate: the base rate the recipe's schedule drives (``None``: the user's
            optimizer, left alone).
    """

    def __init__(
        self,
        model: keras.Model,
        recipe: TrainingRecipe,
        *,
        class_names: tuple[str, ...],
        image_size: tuple[int, int],
        from_logits: bool,
        strategy: tf.distribute.Strategy | None = None,
        guess: str = "",
    ) -> None:
        self.model = model
        self.recipe = recipe
        self.class_names = class_names
        self.image_size = image_size
        self.from_logits = from_logits
        self.strategy = strategy
        self.scheduled_rate: float | None = None
        self._guess = guess
        # The optimizer flowerkit compiled with: one the user compiled in its place is
        # theirs, and the recipe's schedule leaves its rate alone.
        self._own_optimizer: object | None = None

    def restore(self, scheduled_rate: float | None, guess: str) -> None:
        """Take a loaded model's optimizer as flowerkit's, and the base rate of the
        recipe's schedule it was saved with (so ``fit`` runs the schedule again rather
        than going on at the decayed rate); ``guess``: why its recipe is a guess."""
        self.scheduled_rate = scheduled_rate
        self._own_optimizer = getattr(self.model, "optimizer", None)
        self._guess = guess

    def checked_recipe(self, stacklevel: int = 2) -> TrainingRecipe:
        """The recipe; a guessed one says so with a :class:`~flowerkit.RecipeWarning`,
        once (``stacklevel`` as for :func:`warnings.warn`, counted from the caller)."""
        if self._guess:
            warnings.warn(self._guess, RecipeWarning, stacklevel=stacklevel + 1)
            self._guess = ""
        return self.recipe

    def saved_state(self) -> dict[str, Any]:
        """What a model file keeps of the training state: the scheduled rate, and the
        recipe (none while it is a guess not yet trained by, so it stays a guess)."""
        recipe = None if self._guess else recipes.to_saved(self.recipe)
        return {"scheduled_learning_rate": self.scheduled_rate, "recipe": recipe}

    def compile(self, optimizer: Any = RECIPE, learning_rate: Any = RECIPE, **losses: Any) -> None:
        """Compile with the recipe's loss and optimizer (or ``optimizer``), at
        ``learning_rate``; in the strategy's scope."""
        with distribute.scope(self.strategy):  # the optimizer's variables are replicated
            self.scheduled_rate = compile_model(
                self.model,
                self.recipe,
                optimizer=None if optimizer is RECIPE else optimizer,
                learning_rate=None if learning_rate is RECIPE else learning_rate,
                from_logits=self.from_logits,
                num_classes=len(self.class_names),
                **losses,
            )
        self._own_optimizer = self.model.optimizer

    def ensure_compiled(self) -> None:
        """Compile by the recipe if the model is not compiled yet."""
        if not self.model.compiled:
            self.compile()

    def _prepare(self, options: TrainOptions, losses: dict[str, Any]) -> None:
        model = self.model
        if model.compiled and getattr(model, "optimizer", None) is not self._own_optimizer:
            self.scheduled_rate = None  # compiled by the user since: their optimizer, their rate
        if losses or not model.compiled or options.given().keys() & _RECOMPILE:
            self.compile(options.optimizer, options.learning_rate, **losses)

    def train(
        self,
        parts: Sequence[Part],
        data: Datasets | tf.data.Dataset,
        validation_data: tf.data.Dataset | None,
        options: TrainOptions,
    ) -> tuple[keras.callbacks.History, Inputs]:
        """Run ``parts`` on ``data``: plan, adapt, compile, train, finish.

        Every run starts with :class:`~flowerkit.training.plain.Pipelines`,
        then ``parts``, and ends with :class:`~flowerkit.training.replicas.ReplicaBatches`.

        Returns:
            The run's ``History`` and the inputs it trained on.

        Raises:
            ~flowerkit.ConfigError: a bad argument (see ``Classifier.fit``).
        """
        import keras

        started = time.monotonic()
        tune_for_training()
        # A guessed recipe warns before it trains, at the user's fit/fine_tune/distill call.
        self.recipe = options.recipe(self.checked_recipe(stacklevel=4))
        parts = [Pipelines(self.class_names, self.image_size), *parts, ReplicaBatches()]
        phases: list[loop.Phase] = []
        for part in parts:
            phases = part.phases(self.recipe, options, phases)
        inputs = Inputs(data, validation_data)
        for part in parts:
            inputs = part.adapt(inputs, self, options)
        if any(p.fine_tune for p in phases):
            backbone(self.model)  # fail before training, not after the first phase
        if options.calibrate is True and inputs.calibration is None:
            raise ConfigError(
                "`calibrate=True` needs validation data to fit the temperature on; pass "
                "validation data, or calibrate='auto' to calibrate only when there is some."
            )
        if options.seed is not None:
            keras.utils.set_random_seed(options.seed)
        losses: dict[str, Any] = {}
        for part in parts:
            losses = part.losses(self) or losses
        self._prepare(options, losses)
        context = loop.RunContext(
            options=options,
            class_weight=inputs.class_weight,
            started=started,
            strategy=self.strategy,
            recalibration_data=inputs.recalibration,
            compile_head=self._head_compiler(options, losses),
        )
        history = loop.run(
            self.model,
            phases,
            recipe=self.recipe,
            train=inputs.train,
            validation=inputs.validation,
            context=context,
            scheduled_rate=self.scheduled_rate,
            recompile=lambda rate: self._recompile(rate, losses),
        )
        for part in parts:
            part.finish(self)
        return history, inputs

    def _head_compiler(
        self, options: TrainOptions, losses: dict[str, Any]
    ) -> Callable[[keras.Model], None] | None:
        """How a frozen phase's head is compiled when this run may train one on features:
        the recipe allows it, there is no strategy to distribute the features over, no
        callback of the user's that would see the head for the model, and no batch-norm
        re-estimation (which reads the whole model)."""
        recipe = self.recipe
        if not recipe.frozen_features or self.strategy is not None or options.callbacks:
            return None
        if recipe.recalibrate_batchnorm:
            return None

        def compile_head(head: keras.Model) -> None:
            compile_model(
                head,
                recipe,
                optimizer=self.model.optimizer,  # one optimizer: its state is the model's
                learning_rate=None,
                from_logits=self.from_logits,
                num_classes=len(self.class_names),
                **losses,
            )

        return compile_head

    def _recompile(self, rate: float, losses: dict[str, Any]) -> float | None:
        self.compile(RECIPE, rate, **losses)
        return self.scheduled_rate
