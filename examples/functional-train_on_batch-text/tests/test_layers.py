"""Custom layers and ResNet blocks: config round trips and output shapes."""

import keras
import numpy as np
import pytest

from example_functional_train_on_batch_text import blocks
from example_functional_train_on_batch_text.layers import Linear, PositionEmbedding

CUSTOM_LAYERS = [
    Linear(5, activation="softmax", name="linear"),
    PositionEmbedding(16, name="positions"),
]
INPUT_SHAPES = {
    "linear": (2, 12),
    "positions": (2, 16, 8),
}


@pytest.mark.parametrize("layer", CUSTOM_LAYERS, ids=lambda layer: layer.name)
def test_config_round_trip(layer):
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config


@pytest.mark.parametrize("layer", CUSTOM_LAYERS, ids=lambda layer: layer.name)
def test_registered_for_saving(layer):
    name = keras.saving.get_registered_name(type(layer))
    assert name == f"example_functional_train_on_batch_text>{type(layer).__name__}"
    assert keras.saving.get_registered_object(name) is type(layer)


@pytest.mark.parametrize("layer", CUSTOM_LAYERS, ids=lambda layer: layer.name)
def test_weights_made_in_build_and_shape_declared(layer):
    shape = INPUT_SHAPES[layer.name]
    assert not layer.built and not layer.weights
    outputs = layer(np.random.default_rng(0).random(shape, dtype="float32"))
    assert layer.built and layer.weights
    assert tuple(outputs.shape) == tuple(layer.compute_output_shape(shape))


def test_linear_output_is_a_distribution():
    outputs = Linear(3, activation="softmax")(np.ones((4, 6), dtype="float32"))
    np.testing.assert_allclose(np.sum(outputs, axis=-1), 1.0, rtol=1e-6)


def test_linear_rejects_bad_units():
    with pytest.raises(ValueError, match="Received: units=0"):
        Linear(0)


@pytest.mark.parametrize(
    ("block", "filters", "stride", "channels"),
    [
        (blocks.basic_block, 8, 1, 8),
        (blocks.basic_block, 8, 2, 8),
        (blocks.bottleneck_block, 4, 2, 16),
    ],
)
def test_block_shapes(block, filters, stride, channels):
    inputs = keras.Input(shape=(8, 8))
    outputs = block(inputs, filters, stride=stride, name="test")
    size = 8 // stride
    assert tuple(outputs.shape) == (None, size, channels)


def test_projection_only_where_shapes_change():
    inputs = keras.Input(shape=(8, 8))
    identity = keras.Model(inputs, blocks.basic_block(inputs, 8, name="same"))
    projected = keras.Model(inputs, blocks.basic_block(inputs, 16, name="wider"))
    assert "same_0_conv" not in [layer.name for layer in identity.layers]
    assert "wider_0_conv" in [layer.name for layer in projected.layers]
