"""The model with the Functional API: layers called on tensors, then keras.Model.

The graph of layers is built from `keras.Input` to the outputs, so Keras knows
every shape up front and the summary shows every layer of every block.
"""

import keras
from keras import layers

from . import blocks
from .config import PRESETS, Config
from .layers import Linear, PositionEmbedding


def build_model(
    config: Config, num_classes: int, *, synchronized_batch_norm: bool = False
) -> keras.Model:
    """Build the text classifier; it takes token ids and returns probabilities.

    Two paths over the token embeddings meet before the classifier: their
    average over the text (a bag of words) and the ResNet's features (see
    Config.resnet_dropout_rate). Token ids are what data.load_datasets gives;
    with_vectorizer puts the vectorizer in front, for a model that takes raw
    strings.

    Args:
        config: The run's settings (preset, sequence_length, max_tokens, ...).
        num_classes: Number of classes.
        synchronized_batch_norm: Normalize with the statistics of the global
            batch across tf.distribute replicas; TensorFlow backend only.

    Returns:
        A built, uncompiled model.
    """
    inputs = keras.Input(shape=(config.sequence_length,), dtype="int64", name="tokens")
    # mask_zero: the padding (token id 0) is left out of the bag's average.
    embedded = layers.Embedding(
        config.max_tokens, config.embedding_dim, mask_zero=True, name="embedding"
    )(inputs)
    bag = layers.GlobalAveragePooling1D(name="bag")(embedded)
    x = PositionEmbedding(config.sequence_length, name="positions")(embedded)
    x = blocks.resnet(x, PRESETS[config.preset], synchronized_batch_norm)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(
        config.resnet_dropout_rate, noise_shape=(None, 1), name="resnet_dropout"
    )(x)
    x = layers.Concatenate(name="features")([x, bag])
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
