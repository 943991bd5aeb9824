"""The model with the Functional API: layers called on tensors, then keras.Model.

The graph of layers is built from `keras.Input` to the outputs, so Keras knows
every shape up front and the summary shows every layer of every block.
"""

import keras
from keras import layers

from . import blocks
from .config import PRESETS, Config
from .layers import Linear, PositionEmbedding


def build_model(config: Config, num_classes: int, vocabulary: list[str]) -> keras.Model:
    """Build the text classifier; it takes raw strings and returns probabilities.

    Args:
        config: The run's settings (preset, sequence_length, max_tokens, ...).
        num_classes: Number of classes.
        vocabulary: Tokens for the vectorizer, from data.adapt_vocabulary.

    Returns:
        A built, uncompiled model.
    """
    inputs = keras.Input(shape=(), dtype="string", name="text")
    x = layers.TextVectorization(
        max_tokens=config.max_tokens,
        output_sequence_length=config.sequence_length,
        vocabulary=vocabulary,
        name="vectorizer",
    )(inputs)
    x = layers.Embedding(config.max_tokens, config.embedding_dim, name="embedding")(x)
    x = PositionEmbedding(config.sequence_length, name="positions")(x)
    x = blocks.resnet(x, PRESETS[config.preset])
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(config.dropout_rate, name="dropout")(x)
    outputs = Linear(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=config.preset)
