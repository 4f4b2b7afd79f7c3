"""``TrainingRecipe``: how a preset's model is trained when the user does not say otherwise.

A preset declares its recipe; :mod:`flowerkit.training` reads it. The recipe lives with the
models so that a preset module never imports the training layer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TrainingRecipe"]


@dataclass(frozen=True)
class TrainingRecipe:
    """How ``Classifier.fit`` trains a preset's model when the user does not say otherwise.

    Attributes:
        optimizer: ``"adam"`` (AdamW when ``weight_decay`` > 0) or ``"sgd"`` (Nesterov
            momentum 0.9); used unless the user passes an optimizer.
        learning_rate: the base learning rate.
        weight_decay: decoupled weight decay (AdamW, or SGD's own).
        label_smoothing: label smoothing of the cross-entropy loss.
        schedule: ``"cosine"`` decays the learning rate to zero over each phase's epochs,
            or by the end of a ``time_budget`` when that comes first (after
            ``warmup_epochs`` of linear warm-up); ``"linear"`` decays it likewise along a
            straight line (better for short runs, Li et al., *Budgeted Training*, 2020);
            ``"constant"`` keeps it.
        warmup_epochs: epochs of linear warm-up at the start of each phase.
        recalibrate_batchnorm: re-estimate the batch-norm statistics on the un-augmented
            training images when training ends (one forward pass over them, kept inside
            any ``time_budget``), whichever optimizer is used.
        epochs: how many epochs ``fit`` trains when the user gives no ``epochs`` (with the
            backbone frozen, for a transfer preset).
        fine_tune_epochs: epochs of the fine-tuning phase that ``fit`` runs after
            ``epochs`` when the user gives no ``epochs`` (0: none). The phase unfreezes
            the top ``fine_tune_layers`` layers of the sub-model named ``"backbone"``.
        fine_tune_layers: how many of the backbone's top layers fine-tuning unfreezes
            (``None``: all; batch-norm layers always stay frozen).
        fine_tune_learning_rate: the base rate of fine-tuning (``None``: a tenth of
            ``learning_rate``).
        frozen_features: run the frozen part of the model once per image and train the
            rest on its output (:mod:`flowerkit.training.features`) rather than run it
            every epoch: the whole backbone while it is frozen, the layers below the
            fine-tuned top while fine-tuning (when one tensor joins them). Applies to a
            model whose ``"backbone"`` is followed by one chain of layers, trained
            without a ``tf.distribute`` strategy, Keras callbacks of the user's or
            batch-norm re-estimation; the model's augmentation is then not applied.
        progressive_from: progressive resizing: the first epochs of each phase train on
            random crops this many pixels across, growing in steps of 16 pixels to the
            network's own size (``None``: always at that size). Applies to a model whose
            augmentation crops to a fixed size (:class:`~flowerkit.models.layers.RandomResizedCrop`
            with ``size``, as ``compact``'s); inference is always at the full size.
        progressive_until: the share of each phase's epochs after which progressive
            resizing trains at the full size.

    Making a recipe checks nothing: an unknown ``optimizer`` or ``schedule`` raises
    :class:`~flowerkit.ConfigError` when ``Classifier.fit`` builds the optimizer.

    Example:
        >>> import flowerkit as fk
        >>> recipe = fk.TrainingRecipe(learning_rate=2e-3, schedule="cosine", warmup_epochs=1)
        >>> recipe.optimizer, recipe.epochs, recipe.fine_tune_rate
        ('adam', 10, 0.0002)
        >>> fk.get_preset("compact").recipe.schedule
        'linear'
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    recalibrate_batchnorm: bool = False
    epochs: int = 10
    fine_tune_epochs: int = 0
    fine_tune_layers: int | None = None
    fine_tune_learning_rate: float | None = None
    frozen_features: bool = True
    progressive_from: int | None = None
    progressive_until: float = 0.6

    @property
    def fine_tune_rate(self) -> float:
        """The base learning rate of fine-tuning."""
        if self.fine_tune_learning_rate is not None:
            return self.fine_tune_learning_rate
        return self.learning_rate / 10


TrainingRecipe.__module__ = "flowerkit"
