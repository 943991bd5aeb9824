"""The model as a keras.Sequential stack of layers.

Sequential models take one input and pass it through each layer in turn. The
residual blocks keep their two paths inside a Layer subclass (blocks.py), which
is how a Sequential stack holds a ResNet.
"""

import keras
from keras import layers

from . import backbones, blocks
from .config import PRESETS, Config
from .layers import Linear


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
    if resnet:
        preset = PRESETS[config.preset]
        features = [
            layers.Rescaling(1.0 / 255, name="rescale"),
            *blocks.stem_layers(preset.stem, preset.stage_filters[0]),
            *blocks.residual_blocks(preset),
            layers.GlobalAveragePooling2D(name="pool"),
        ]
    else:
        # The whole keras.applications model is one layer of the stack.
        features = [backbones.make_backbone(config)]
    return keras.Sequential(
        [
            keras.Input(
                shape=(config.image_size, config.image_size, config.channels),
                name="image",
            ),
            *features,
            layers.Dropout(config.dropout_rate, name="dropout"),
            # float32 under mixed precision too: a stable softmax, float32 outputs.
            Linear(
                num_classes, activation="softmax", dtype="float32", name="classifier"
            ),
        ],
        name=name,
    )
