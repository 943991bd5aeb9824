"""The training recipe the loops share: optimizers, schedules, loss, precision, XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from example_sequential_fit_image import distribute, optim
from example_sequential_fit_image.config import Config
from example_sequential_fit_image.layers import dtype_policy
from example_sequential_fit_image.model import build_model
from example_sequential_fit_image.saving import load_model, save_model


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


def test_mixed_float16_model_returns_float32_and_reloads_as_trained(tmp_path):
    precision = "mixed_float16"
    config = Config(precision=precision, image_size=16, channels=1)
    with dtype_policy(precision):
        model = build_model(config, 3)
    assert keras.config.dtype_policy().name == "float32"
    inputs = np.random.default_rng(0).uniform(
        0, 255, (2, config.image_size, config.image_size, config.channels)
    )
    expected = model.predict(inputs, verbose=0)
    assert expected.dtype == np.float32
    assert all(weight.dtype == "float32" for weight in model.weights)
    # Loaded under the global float32 policy, it computes as it was saved.
    loaded = load_model(save_model(model, tmp_path / "model.keras"))
    layer = loaded.get_layer("pool")
    assert layer.compute_dtype == precision.removeprefix("mixed_")
    assert loaded.get_layer("classifier").compute_dtype == "float32"
    assert np.array_equal(loaded.predict(inputs, verbose=0), expected)


def test_jit_compile_setting():
    strategy = tf.distribute.get_strategy()
    assert distribute.use_xla("true", strategy, deterministic=False)
    assert not distribute.use_xla("false", strategy, deterministic=False)
    assert not distribute.use_xla("auto", strategy, deterministic=True)
    on_accelerator = any(
        device.device_type != "CPU" for device in tf.config.list_physical_devices()
    )
    assert distribute.use_xla("auto", strategy, deterministic=False) == on_accelerator
