"""Custom layers: the pattern to copy when Keras has no layer for the job.

Each layer takes its settings in `__init__` and passes `**kwargs` on, makes its
weights in `build()` once the input shape is known, computes in `call()`, and
returns its settings from `get_config()` so that a saved model can be rebuilt.
Registering the class under PACKAGE names it "PACKAGE>ClassName" in saved files,
which is how `keras.saving.load_model` finds it again.
"""

import contextlib

import keras
from keras import ops

# The prefix of this project's registered names; renaming it breaks saved models.
PACKAGE = "example_functional_train_on_batch_text"


@contextlib.contextmanager
def dtype_policy(policy):
    """Make layers under a Keras dtype policy, then restore the global one.

    A layer takes the policy in force when it is made and saves it in its
    config: build the model inside this block. Under "mixed_float16" or
    "mixed_bfloat16" layers keep float32 weights and compute in 16 bits. A
    layer that makes its sublayers in `__init__` makes them under the global
    policy, so its `from_config` makes them inside this block too, under its
    own saved policy: a loaded model computes as the trained one did.

    Args:
        policy: A policy name ("float32", "mixed_bfloat16", ...) or a
            keras.DTypePolicy.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Linear(keras.layers.Layer):
    """A fully connected layer: `activation(inputs @ kernel + bias)`.

    The model uses it as its classifier, so every saved model holds a custom
    object. Extend it (weight constraints, a temperature, ...) in place.

    Args:
        units: Size of the output.
        activation: An activation name such as "softmax", or None.
    """

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive. Received: units={units}")
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer="zeros"
        )

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector for each position to a sequence of embeddings.

    It takes the embeddings' padding mask and passes none on: the convolutions
    after it see every position, padding included, as a fixed-length input.

    Args:
        sequence_length: The longest sequence the layer accepts.
    """

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        if sequence_length <= 0:
            raise ValueError(
                f"sequence_length must be positive. "
                f"Received: sequence_length={sequence_length}"
            )
        self.sequence_length = sequence_length
        self.supports_masking = True

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.sequence_length, input_shape[-1]),
            initializer="zeros",
        )

    def call(self, inputs):
        length = ops.shape(inputs)[-2]
        return inputs + self.position_embeddings[:length]

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}
