"""build_model: output shapes, the published ResNet architectures, any backend."""

import ast
import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from example_subclassing_custom_image.config import Config
from example_subclassing_custom_image.model import build_model

SRC = Path(__file__).parents[1] / "src"
# The model's modules: plain Keras 3, so that they run on every Keras backend.
MODEL_MODULES = ("config", "layers", "blocks", "model")
# Builds and trains the model with Keras on JAX, in a process that must never
# import TensorFlow.
ON_JAX = """
import sys

import keras
import numpy as np

from example_subclassing_custom_image.config import Config
from example_subclassing_custom_image.model import build_model

assert keras.backend.backend() == "jax"
config = Config(image_size=16, channels=1)
model = build_model(config, 3)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
inputs = rng.uniform(0, 255, (8, config.image_size, config.image_size, 1))
history = model.fit(inputs, rng.integers(0, 3, 8), epochs=1, batch_size=4, verbose=0)
assert np.isfinite(history.history["loss"]).all(), history.history
assert "tensorflow" not in sys.modules, "the model code imported TensorFlow"
"""


def imported_modules(path: Path):
    """Every module a Python file imports, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_model_code_imports_no_tensorflow(module):
    path = SRC / "example_subclassing_custom_image" / f"{module}.py"
    packages = {name.split(".")[0] for name in imported_modules(path)}
    assert "tensorflow" not in packages


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason='needs pip install -e ".[jax]"'
)
def test_model_builds_and_trains_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", ON_JAX], check=True, env=env)


# Trainable parameters of the published ResNets on 224x224x3 with 1000 classes
# (He et al., 2015; torchvision's counts: no convolution biases).
PUBLISHED_PARAMETERS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
}


def test_output_is_a_distribution_per_image():
    config = Config(image_size=16, channels=1)
    model = build_model(config, 10)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 1))
    probabilities = model.predict(images.astype("float32"), verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_every_weight_exists_once_built():
    model = build_model(Config(image_size=16, channels=1), 10)
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
