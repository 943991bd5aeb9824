"""The training recipe every loop shares: optimizer, learning rates and loss.

Each loop (loop.py) takes these from here, so `optimizer`, `schedule`,
`label_smoothing` and `precision` mean the same in all of them (the dtype
policy itself is set with layers.dtype_policy). Add a new
optimizer, schedule or loss here, not in a loop.
"""

import math

import keras
from keras import ops

from .config import Config
from .layers import PACKAGE

# Weights that weight decay leaves alone: biases and normalization scales and
# offsets, whose decay only hurts (Loshchilov and Hutter, 2019).
NOT_DECAYED = ["bias", "gamma", "beta"]


def make_optimizer(config: Config) -> keras.optimizers.Optimizer:
    """The configured optimizer, at the learning rate of the first epoch.

    Under `mixed_float16` it is wrapped in a LossScaleOptimizer: float16
    gradients of small losses underflow to zero unless the loss is scaled up
    first. The wrapper is made here, explicitly, so that every loop trains and
    checkpoints the same optimizer (compile would wrap it for fit and
    train_on_batch only).

    Args:
        config: Reads optimizer, learning_rate, weight_decay, momentum and
            precision.

    Returns:
        An optimizer, not yet built.
    """
    rate = learning_rate(0, config)
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(rate)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.SGD(
            rate, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer != "adam":
        optimizer.exclude_from_weight_decay(var_names=NOT_DECAYED)
    if config.precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def learning_rate(epoch: int, config: Config) -> float:
    """The learning rate of an epoch (counted from 0), set before it starts.

    "step": learning_rate, multiplied by lr_decay_factor every lr_decay_epochs.
    "cosine": a linear warm-up over warmup_epochs, then a half cosine from
    learning_rate towards 0 at the end of the last epoch.
    Fine-tuning after freeze_backbone_epochs multiplies either by
    fine_tune_lr_factor.
    """
    if config.freeze_backbone_epochs and epoch >= config.freeze_backbone_epochs:
        return config.fine_tune_lr_factor * _scheduled(epoch, config)
    return _scheduled(epoch, config)


def _scheduled(epoch: int, config: Config) -> float:
    """The learning rate of the schedule alone."""
    if config.schedule == "step":
        return config.learning_rate * config.lr_decay_factor ** (
            epoch // config.lr_decay_epochs
        )
    if epoch < config.warmup_epochs:
        return config.learning_rate * (epoch + 1) / (config.warmup_epochs + 1)
    progress = (epoch - config.warmup_epochs) / (config.epochs - config.warmup_epochs)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def make_loss(config: Config, **kwargs) -> keras.losses.Loss:
    """Cross-entropy of integer labels against predicted probabilities.

    Args:
        config: Reads label_smoothing.
        **kwargs: Passed to the loss, such as `reduction=None`.
    """
    if config.label_smoothing:
        return LabelSmoothingLoss(config.label_smoothing, **kwargs)
    return keras.losses.SparseCategoricalCrossentropy(**kwargs)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LabelSmoothingLoss(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing.

    Keras's SparseCategoricalCrossentropy has no label_smoothing: this loss
    one-hot encodes the labels and smooths them as CategoricalCrossentropy
    does, towards `1 - label_smoothing + label_smoothing / classes` for the
    true class.

    Args:
        label_smoothing: In [0, 1); 0 is the plain cross-entropy.
    """

    def __init__(self, label_smoothing, name="label_smoothing_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(
                f"label_smoothing must be in [0, 1). "
                f"Received: label_smoothing={label_smoothing}"
            )
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        one_hot = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
