"""The model with the Functional API: layers called on tensors, then keras.Model.

The graph of layers is built from `keras.Input` to the outputs, so Keras knows
every shape up front and the summary shows every layer of every block.
"""

import keras
from keras import layers

from . import blocks
from .config import PRESETS, Config
from .layers import Linear, PositionEmbedding


def build_model(config: Config, num_classes: int) -> keras.Model:
    """Build the text classifier; it takes token ids and returns probabilities.

    Token ids are what data.load_datasets gives; with_vectorizer puts the
    vectorizer in front, for a model that takes raw strings.

    Args:
        config: The run's settings (preset, sequence_length, max_tokens, ...).
        num_classes: Number of classes.

    Returns:
        A built, uncompiled model.
    """
    inputs = keras.Input(shape=(config.sequence_length,), dtype="int64", name="tokens")
    x = layers.Embedding(config.max_tokens, config.embedding_dim, name="embedding")(
        inputs
    )
    x = PositionEmbedding(config.sequence_length, name="positions")(x)
    x = blocks.resnet(x, PRESETS[config.preset])
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(config.dropout_rate, name="dropout")(x)
    # float32 under mixed precision too: a stable softmax, float32 outputs.
    outputs = Linear(
        num_classes, activation="softmax", dtype="float32", name="classifier"
    )(x)
    return keras.Model(inputs, outputs, name=config.preset)


def with_vectorizer(
    classifier: keras.Model, vectorizer: layers.TextVectorization
) -> keras.Model:
    """The classifier with the vectorizer in front: a model on raw strings.

    Training feeds the classifier token ids from the input pipeline: string
    operations stay on the CPU, outside each replica's step, and every
    strategy can run the classifier (under MirroredStrategy, Keras 3.15's fit
    and train_on_batch cannot run a model that takes strings). The model that
    is saved, evaluated and exported takes the texts themselves.

    Args:
        classifier: The model from build_model.
        vectorizer: The layer that made its training data's token ids.

    Returns:
        A model from a batch of strings to class probabilities; it shares its
        layers, and so its weights, with the classifier.
    """
    inputs = keras.Input(shape=(), dtype="string", name="text")
    outputs = classifier(vectorizer(inputs))
    return keras.Model(inputs, outputs, name=f"{classifier.name}_on_text")
