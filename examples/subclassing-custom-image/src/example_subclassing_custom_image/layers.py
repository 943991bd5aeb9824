"""Custom layers: the pattern to copy when Keras has no layer for the job.

Each layer takes its settings in `__init__` and passes `**kwargs` on, makes its
weights in `build()` once the input shape is known, computes in `call()`, and
returns its settings from `get_config()` so that a saved model can be rebuilt.
Registering the class under PACKAGE names it "PACKAGE>ClassName" in saved files,
which is how `keras.saving.load_model` finds it again.
"""

import keras
from keras import ops

# The prefix of this project's registered names; renaming it breaks saved models.
PACKAGE = "example_subclassing_custom_image"


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
