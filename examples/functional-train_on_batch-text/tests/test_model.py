"""build_model: output shapes, and the published ResNet architectures."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from example_functional_train_on_batch_text.config import Config
from example_functional_train_on_batch_text.data import adapt_vectorizer
from example_functional_train_on_batch_text.model import build_model, with_vectorizer

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
