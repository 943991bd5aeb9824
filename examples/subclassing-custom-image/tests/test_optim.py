"""The training recipe the loops share: optimizers, schedules, loss, precision, XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from example_subclassing_custom_image import distribute, optim
from example_subclassing_custom_image.config import Config


def test_step_schedule_decays_every_lr_decay_epochs():
    config = Config(
        learning_rate=0.1, schedule="step", lr_decay_epochs=2, lr_decay_factor=0.5
    )
    rates = [optim.learning_rate(epoch, config) for epoch in range(5)]
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_cosine_schedule_warms_up_then_decays_towards_zero():
    config = Config(learning_rate=0.1, schedule="cosine", warmup_epochs=2, epochs=6)
    rates = [optim.learning_rate(epoch, config) for epoch in range(6)]
    assert rates[:3] == pytest.approx([0.1 / 3, 0.2 / 3, 0.1])
    assert rates[2:] == sorted(rates[2:], reverse=True)
    assert rates[-1] == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 3 / 4)))


def test_fine_tuning_lowers_the_scheduled_rate_after_the_frozen_epochs():
    config = Config(
        learning_rate=0.1,
        schedule="step",
        lr_decay_epochs=2,
        lr_decay_factor=0.5,
        backbone="MobileNetV3Small",
        freeze_backbone_epochs=3,
        fine_tune_lr_factor=0.1,
    )
    rates = [optim.learning_rate(epoch, config) for epoch in range(5)]
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.005, 0.0025])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("adam", keras.optimizers.Adam),
        ("adamw", keras.optimizers.AdamW),
        ("sgd", keras.optimizers.SGD),
    ],
)
def test_optimizers(name, kind):
    config = Config(optimizer=name, weight_decay=0.1, momentum=0.5)
    optimizer = optim.make_optimizer(config)
    assert type(optimizer) is kind
    if name == "sgd":
        assert optimizer.momentum == 0.5


def test_weight_decay_spares_biases_and_normalization():
    config = Config(optimizer="sgd", weight_decay=0.5, momentum=0.0)
    optimizer = optim.make_optimizer(config)
    kernel = keras.Variable(np.ones((2, 2)), name="kernel")
    bias = keras.Variable(np.ones(2), name="bias")
    optimizer.apply_gradients([(np.zeros((2, 2)), kernel), (np.zeros(2), bias)])
    rate = config.learning_rate
    assert np.allclose(kernel.numpy(), 1 - rate * config.weight_decay)
    assert np.array_equal(bias.numpy(), np.ones(2))


def test_float16_scales_the_loss():
    optimizer = optim.make_optimizer(Config(precision="mixed_float16"))
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert type(optimizer.inner_optimizer) is keras.optimizers.Adam


def test_label_smoothing_matches_categorical_crossentropy():
    labels = np.array([0, 2])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype="float32")
    loss = optim.make_loss(Config(label_smoothing=0.2))
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(
        np.eye(3)[labels], probabilities
    )
    assert float(loss(labels, probabilities)) == pytest.approx(float(expected))
    restored = type(loss).from_config(loss.get_config())
    assert restored.label_smoothing == 0.2
    plain = optim.make_loss(Config())
    assert type(plain) is keras.losses.SparseCategoricalCrossentropy


def test_jit_compile_setting():
    strategy = tf.distribute.get_strategy()
    assert distribute.use_xla("true", strategy, deterministic=False)
    assert not distribute.use_xla("false", strategy, deterministic=False)
    assert not distribute.use_xla("auto", strategy, deterministic=True)
    on_accelerator = any(
        device.device_type != "CPU" for device in tf.config.list_physical_devices()
    )
    assert distribute.use_xla("auto", strategy, deterministic=False) == on_accelerator
