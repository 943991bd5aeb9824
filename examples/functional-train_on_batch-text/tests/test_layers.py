"""Custom layers and ResNet blocks: config round trips and output shapes."""

import keras
import numpy as np
import pytest

from example_functional_train_on_batch_text import blocks
from example_functional_train_on_batch_text.layers import Linear, PositionEmbedding

# Each custom layer with every constructor argument away from its default, and
# the shape of an input it takes.
ARGUMENTS = {
    "linear": (Linear, {"units": 5, "activation": "softmax"}, (2, 12)),
    "positions": (PositionEmbedding, {"sequence_length": 16}, (2, 16, 8)),
}
CUSTOM_LAYERS = [
    layer_class(**arguments, name=name)
    for name, (layer_class, arguments, _) in ARGUMENTS.items()
]


@pytest.mark.parametrize("name", ARGUMENTS)
def test_config_round_trip_keeps_every_argument_and_output(name):
    layer_class, arguments, shape = ARGUMENTS[name]
    layer = layer_class(**arguments, name=name)
    inputs = np.random.default_rng(0).random(shape, dtype="float32")
    expected = layer(inputs)
    rebuilt = layer_class.from_config(layer.get_config())
    assert rebuilt.name == name
    for argument, value in arguments.items():
        if argument == "activation":
            value = keras.activations.get(value)
        assert getattr(rebuilt, argument) == value, argument
    rebuilt.build(shape)
    rebuilt.set_weights(layer.get_weights())
    np.testing.assert_array_equal(rebuilt(inputs), expected)


@pytest.mark.parametrize("layer", CUSTOM_LAYERS, ids=lambda layer: layer.name)
def test_registered_for_saving(layer):
    name = keras.saving.get_registered_name(type(layer))
    assert name == f"example_functional_train_on_batch_text>{type(layer).__name__}"
    assert keras.saving.get_registered_object(name) is type(layer)


@pytest.mark.parametrize("layer", CUSTOM_LAYERS, ids=lambda layer: layer.name)
def test_weights_made_in_build_and_shape_declared(layer):
    shape = ARGUMENTS[layer.name][2]
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
