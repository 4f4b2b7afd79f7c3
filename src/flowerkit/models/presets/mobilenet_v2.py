"""The ``mobilenet_v2`` preset: transfer learning on an ImageNet-trained MobileNetV2."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowerkit.exceptions import ConfigError
from flowerkit.models.augment import augmentation_block
from flowerkit.models.recipe import TrainingRecipe
from flowerkit.models.registry import register_preset

if TYPE_CHECKING:
    import keras

__all__: list[str] = []


#: Local files with this preset's ImageNet weights (see flowerkit.models.local_weights):
#: Keras' own downloads at any size, and the Keras 3 file of the same values.
_PRETRAINED = (
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_*_no_top.h5",
    "mobilenet_v2_1.0_*_no_top.weights.h5",
)


def _check_weights(weights: object) -> str | None:
    """``None``, or the local weights file to load (as a string): ``weights`` itself, or
    for ``"imagenet"`` a copy on this machine, else one downloaded once by
    :func:`flowerkit.models.download.fetch_weights` (which honours ``$FLOWERKIT_OFFLINE``
    and ``$FLOWERKIT_WEIGHTS_MIRROR``). Keras is never asked to download: when the
    weights cannot be had, the :class:`~flowerkit.DownloadError` says why and what to do
    (asking for ImageNet weights never trains from scratch instead)."""
    if weights is None:
        return None
    if weights == "imagenet":
        from flowerkit.models.download import fetch_weights

        return str(fetch_weights("mobilenet_v2"))
    if isinstance(weights, str | os.PathLike):
        path = Path(os.fspath(weights)).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"`weights` file {str(path)!r} does not exist. Pass weights='imagenet' "
                "(a local copy, else downloaded once into flowerkit's cache), a local "
                ".weights.h5/.h5 file, or None for random initialisation."
            )
        return str(path)
    raise ConfigError(
        "`weights` must be 'imagenet', a path to a weights file, or None. "
        f"Received: weights={weights!r}"
    )


def _with_inference_batch_norm(model: keras.Model) -> keras.Model:
    """A copy of ``model`` whose batch norms always run in inference mode.

    The copy of the functional ``model`` has the same name, layer names and weights, and
    every ``BatchNormalization`` in it is an
    :class:`~flowerkit.models.layers.InferenceBatchNormalization`.
    """
    import keras

    from flowerkit.models.layers import InferenceBatchNormalization

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.BatchNormalization):
            return InferenceBatchNormalization.from_batch_normalization(layer)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _transfer_augmentation(seed: int | None, image_size: tuple[int, int]) -> keras.layers.Layer:
    """Light augmentation for a pretrained backbone: flips, small rotations and zoom."""
    return augmentation_block(flip="horizontal", rotation=0.05, zoom=0.15, seed=seed)


@register_preset(
    "mobilenet_v2",
    description=(
        "Transfer learning on keras.applications.MobileNetV2 (alpha 1.0, ImageNet weights "
        "by default): in-model preprocessing to [-1, 1], the backbone as a frozen sub-model "
        "named 'backbone' whose pretrained batch norms always run in inference mode, then global "
        "average pooling, dropout and a Dense layer. 160x160 input. Option `weights`: "
        "'imagenet' (a local copy when one is found, else downloaded once into flowerkit's "
        "cache and verified), a local weights file, or None. Its recipe trains "
        "5 epochs with the backbone frozen, then fine-tunes the backbone's top 56 layers "
        "for 5 epochs at 1e-4 (the head trains at 3e-3). The frozen layers run once per "
        "image in each phase, not once per epoch."
    ),
    image_size=(160, 160),
    augment_by_default=True,
    augmentation=_transfer_augmentation,
    dropout=0.2,
    recipe=TrainingRecipe(
        optimizer="adam",
        # The frozen phase trains only the head: 3e-3 lets it learn on small folders
        # (4 batches an epoch) without hurting large ones; fine-tuning stays at 1e-4.
        learning_rate=3e-3,
        fine_tune_learning_rate=1e-4,
        label_smoothing=0.1,
        schedule="cosine",
        warmup_epochs=0,
        epochs=5,
        fine_tune_epochs=5,
        # From block_11 on: the frozen layers below end in one tensor, so fine-tuning
        # runs them once per image and trains the top on their output (54 layers would
        # cut block_11 open, across its residual connection, and run every epoch).
        fine_tune_layers=56,
    ),
    options=("weights",),
    pretrained_weights=_PRETRAINED,
)
def _mobilenet_v2(
    num_classes: int,
    *,
    image_size: tuple[int, int],
    augmentation: keras.layers.Layer | None,
    dropout: float,
    weights: str | os.PathLike[str] | None = "imagenet",
    **options: Any,
) -> keras.Model:
    import keras
    from keras import layers

    if min(image_size) < 32:
        raise ConfigError(
            "The 'mobilenet_v2' preset needs images of at least 32x32. "
            f"Received: image_size={image_size}"
        )
    # Checked first, so a bad size fails before any download. The backbone has no top,
    # so its weights load at any input size.
    source = _check_weights(weights)
    pretrained = keras.applications.MobileNetV2(
        input_shape=(*image_size, 3),
        alpha=1.0,
        include_top=False,
        weights=source,
        name="backbone",
    )
    # Pretrained statistics must survive fine-tuning; random ones (weights=None) must not
    # be frozen, or the backbone could never be trained from scratch.
    backbone = pretrained if source is None else _with_inference_batch_norm(pretrained)
    backbone.trainable = False
    inputs = keras.Input(shape=(*image_size, 3), name="image")
    x = inputs if augmentation is None else augmentation(inputs)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(x)
    x = backbone(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2_classifier")
