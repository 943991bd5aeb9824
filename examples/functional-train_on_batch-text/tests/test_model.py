"""build_model: output shapes, and the published ResNet architectures."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from example_functional_train_on_batch_text.config import Config
from example_functional_train_on_batch_text.model import build_model

VOCABULARY = ["", "[UNK]", "goal", "piano", "oven", "atom"]
SAMPLES = ["goal piano", "oven atom atom", "an unknown word"]


def test_output_is_a_distribution_per_text():
    model = build_model(Config(), 4, VOCABULARY)
    probabilities = model.predict(tf.constant(SAMPLES), verbose=0)
    assert probabilities.shape == (3, 4)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_every_weight_exists_once_built():
    model = build_model(Config(), 4, VOCABULARY)
    weights = [id(weight) for weight in model.weights]
    model.predict(tf.constant(SAMPLES), verbose=0)
    assert weights and [id(weight) for weight in model.weights] == weights


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["resnet18", "resnet34", "resnet50"])
def test_presets_build_and_predict(preset):
    config = dataclasses.replace(Config(), preset=preset, sequence_length=64)
    model = build_model(config, 4, VOCABULARY)
    assert model.predict(tf.constant(SAMPLES), verbose=0).shape == (3, 4)
