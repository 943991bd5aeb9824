"""build_model: output shapes, the published ResNet architectures, any backend."""

import ast
import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from example_functional_train_on_batch_text.config import Config
from example_functional_train_on_batch_text.data import adapt_vectorizer
from example_functional_train_on_batch_text.model import build_model, with_vectorizer

SRC = Path(__file__).parents[1] / "src"
# The model's modules: plain Keras 3, so that they run on every Keras backend.
MODEL_MODULES = ("config", "layers", "blocks", "model")
# Builds and trains the model with Keras on JAX, in a process that must never
# import TensorFlow.
ON_JAX = """
import sys

import keras
import numpy as np

from example_functional_train_on_batch_text.config import Config
from example_functional_train_on_batch_text.model import build_model

assert keras.backend.backend() == "jax"
config = Config(sequence_length=32, max_tokens=50)
model = build_model(config, 3)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
inputs = rng.integers(0, config.max_tokens, (8, config.sequence_length))
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
    path = SRC / "example_functional_train_on_batch_text" / f"{module}.py"
    packages = {name.split(".")[0] for name in imported_modules(path)}
    assert "tensorflow" not in packages


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason='needs pip install -e ".[jax]"'
)
def test_model_builds_and_trains_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", ON_JAX], check=True, env=env)


SAMPLES = ["goal piano", "oven atom atom", "an unknown word"]
# Numbers for the settings that training derives from the data ("auto").
SIZED = Config(sequence_length=32, max_tokens=2000)


def token_ids(config: Config, count: int = 3) -> np.ndarray:
    shape = (count, config.sequence_length)
    return np.random.default_rng(0).integers(0, config.max_tokens, shape)


def test_output_is_a_distribution_per_text():
    config = SIZED
    model = with_vectorizer(build_model(config, 4), adapt_vectorizer(SAMPLES, config))
    probabilities = model.predict(tf.constant(SAMPLES), verbose=0)
    assert probabilities.shape == (3, 4)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_model_on_text_is_the_classifier_on_token_ids():
    config = SIZED
    classifier = build_model(config, 4)
    vectorizer = adapt_vectorizer(SAMPLES, config)
    texts = tf.constant(SAMPLES)
    assert np.array_equal(
        with_vectorizer(classifier, vectorizer).predict(texts, verbose=0),
        classifier.predict(vectorizer(texts), verbose=0),
    )


def test_the_bag_of_words_averages_the_tokens_without_the_padding():
    model = build_model(SIZED, 4)
    tokens = np.zeros((1, SIZED.sequence_length), dtype="int64")
    tokens[0, :3] = [5, 7, 9]
    embedding = model.get_layer("embedding")
    bag = keras.Model(model.input, model.get_layer("bag").output)(tokens)
    expected = embedding.embeddings.numpy()[[5, 7, 9]].mean(axis=0)
    np.testing.assert_allclose(np.asarray(bag)[0], expected, rtol=1e-6)


def test_every_weight_exists_once_built():
    config = SIZED
    model = build_model(config, 4)
    weights = [id(weight) for weight in model.weights]
    model.predict(token_ids(config), verbose=0)
    assert weights and [id(weight) for weight in model.weights] == weights


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["resnet18", "resnet34", "resnet50"])
def test_presets_build_and_predict(preset):
    config = dataclasses.replace(SIZED, preset=preset, sequence_length=64)
    model = build_model(config, 4)
    assert model.predict(token_ids(config), verbose=0).shape == (3, 4)
