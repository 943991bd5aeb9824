"""The model as a keras.Model subclass: layers made in __init__, used in call.

Subclassing gives the most control over the forward pass. The price: the model
must return its constructor arguments from `get_config()` to be saved and loaded.
"""

import keras
from keras import layers

from . import backbones, blocks
from .config import PRESETS, Config
from .layers import PACKAGE, Linear, dtype_policy


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResNetClassifier(keras.Model):
    """An image classifier: this project's ResNet, or a keras.applications backbone.

    Args:
        num_classes: Number of classes.
        preset: Name of the architecture in config.PRESETS.
        dropout_rate: Dropout before the classifier.
        backbone: None for the ResNet of `preset`; else a model from raw
            pixels to one feature vector per image (backbones.make_backbone),
            which replaces it.
    """

    def __init__(
        self,
        num_classes,
        preset="small",
        dropout_rate=0.0,
        backbone=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.preset = preset
        self.dropout_rate = dropout_rate
        architecture = PRESETS[preset]
        self.backbone = backbone
        if backbone is None:
            self.rescale = layers.Rescaling(1.0 / 255, name="rescale")
            self.stem = blocks.stem_layers(
                architecture.stem, architecture.stage_filters[0]
            )
            self.residual_blocks = blocks.residual_blocks(architecture)
            self.pool = layers.GlobalAveragePooling2D(name="pool")
        self.dropout = layers.Dropout(dropout_rate, name="dropout")
        # float32 under mixed precision too: a stable softmax, float32 outputs.
        self.classifier = Linear(
            num_classes, activation="softmax", dtype="float32", name="classifier"
        )

    def build(self, input_shape):
        # Build every sublayer with its input shape, so that all weights exist
        # before training and before loading a saved model into them.
        if self.backbone is not None:
            # Built already: keras.applications models know their input shape.
            self.classifier.build(self.backbone.output_shape)
            return
        shape = input_shape
        for layer in [*self.stem, *self.residual_blocks]:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.classifier.build(self.pool.compute_output_shape(shape))

    def call(self, inputs, training=None):
        if self.backbone is not None:
            x = self.backbone(inputs, training=training)
        else:
            x = self.rescale(inputs)
            for layer in self.stem:
                x = layer(x, training=training)
            for block in self.residual_blocks:
                x = block(x, training=training)
            x = self.pool(x)
        return self.classifier(self.dropout(x, training=training))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "preset": self.preset,
            "dropout_rate": self.dropout_rate,
            # The backbone's architecture; its weights are saved with the model's.
            "backbone": keras.saving.serialize_keras_object(self.backbone),
        }

    @classmethod
    def from_config(cls, config):
        # The sublayers compute in the model's saved dtype policy.
        with dtype_policy(keras.dtype_policies.get(config.get("dtype"))):
            backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
            return cls(backbone=backbone, **config)


def build_model(config: Config, num_classes: int) -> keras.Model:
    """Build the image classifier; it takes raw pixels (0-255), returns probabilities.

    The features come from this project's ResNet (backbone "resnet", shaped by
    preset) or from a keras.applications model (backbones.make_backbone).

    Args:
        config: The run's settings (backbone, preset, image_size, channels, ...).
        num_classes: Number of classes.

    Returns:
        A built, uncompiled model.
    """
    resnet = config.backbone == "resnet"
    name = config.preset if resnet else config.backbone
    model = ResNetClassifier(
        num_classes,
        preset=config.preset,
        dropout_rate=config.dropout_rate,
        backbone=None if resnet else backbones.make_backbone(config),
        name=name,
    )
    model.build((None, config.image_size, config.image_size, config.channels))
    return model
