"""build_model: output shapes, and the published ResNet architectures."""

import dataclasses

import numpy as np
import pytest

from example_subclassing_custom_image.config import Config
from example_subclassing_custom_image.model import build_model

# Trainable parameters of the published ResNets on 224x224x3 with 1000 classes
# (He et al., 2015; torchvision's counts: no convolution biases).
PUBLISHED_PARAMETERS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
}


def test_output_is_a_distribution_per_image():
    config = Config()
    model = build_model(config, 10)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 1))
    probabilities = model.predict(images.astype("float32"), verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_every_weight_exists_once_built():
    model = build_model(Config(), 10)
    weights = [id(weight) for weight in model.weights]
    model.predict(np.zeros((1, 16, 16, 1), dtype="float32"), verbose=0)
    assert weights and [id(weight) for weight in model.weights] == weights


def test_rgb_inputs():
    model = build_model(dataclasses.replace(Config(), channels=3, image_size=24), 2)
    images = np.zeros((1, 24, 24, 3), dtype="float32")
    assert model.predict(images, verbose=0).shape == (1, 2)


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PUBLISHED_PARAMETERS))
def test_presets_follow_the_published_architecture(preset):
    config = dataclasses.replace(Config(), preset=preset, image_size=224, channels=3)
    model = build_model(config, 1000)
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    assert trainable == PUBLISHED_PARAMETERS[preset]
