"""Custom layers and ResNet blocks: config round trips and output shapes."""

import keras
import numpy as np
import pytest

from example_subclassing_custom_image import blocks
from example_subclassing_custom_image.layers import Linear

CUSTOM_LAYERS = [
    Linear(5, activation="softmax", name="linear"),
    blocks.BasicBlock(8, strides=2, projection=True, name="basic"),
    blocks.BottleneckBlock(4, projection=True, name="bottleneck"),
]
INPUT_SHAPES = {
    "linear": (2, 12),
    "basic": (2, 8, 8, 3),
    "bottleneck": (2, 8, 8, 3),
}


@pytest.mark.parametrize("layer", CUSTOM_LAYERS, ids=lambda layer: layer.name)
def test_config_round_trip(layer):
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config


@pytest.mark.parametrize("layer", CUSTOM_LAYERS, ids=lambda layer: layer.name)
def test_registered_for_saving(layer):
    name = keras.saving.get_registered_name(type(layer))
    assert name == f"example_subclassing_custom_image>{type(layer).__name__}"
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


def test_identity_block_keeps_shape():
    block = blocks.BasicBlock(3)
    outputs = block(np.ones((2, 8, 8, 3), dtype="float32"))
    assert tuple(outputs.shape) == (2, 8, 8, 3)


def test_projection_block_halves_and_widens():
    outputs = blocks.BottleneckBlock(4, strides=2, projection=True)(
        np.ones((2, 8, 8, 3), dtype="float32")
    )
    assert tuple(outputs.shape) == (2, 4, 4, 16)


def test_block_rejects_bad_strides():
    with pytest.raises(ValueError, match="Received: strides=3"):
        blocks.BasicBlock(8, strides=3)
