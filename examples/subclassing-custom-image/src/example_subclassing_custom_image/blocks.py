"""ResNet building blocks as Layer subclasses (He et al., 2015).

Each block makes its sublayers in `__init__`, builds them explicitly in
`build()` (so a saved model restores every weight), and returns its settings
from `get_config()`. A projection shortcut (a strided 1-wide convolution)
replaces the identity whenever the block changes the resolution or the number
of channels: residual_blocks() decides which, since it knows both shapes.
"""

import keras
from keras import layers, ops

from .layers import PACKAGE, dtype_policy


def batch_norm(name):
    """Batch normalization that settles fast and agrees across replicas.

    Momentum 0.9, as in torchvision: Keras' default (0.99) needs hundreds of
    steps before its moving statistics serve validation; small data sets have
    far fewer per epoch. Synchronized: under tf.distribute every replica
    normalizes with the statistics of the whole global batch, so training on
    several devices matches training on one, and the replicas' copies of the
    moving statistics stay equal (unsynchronized, each writes its own).
    """
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=True, name=name
    )


class ResidualBlock(layers.Layer):
    """A branch of convolution and batch normalization pairs, plus a shortcut.

    Subclasses list their convolutions in `branch()`; every pair but the last
    is followed by a ReLU, and the sum of branch and shortcut by another.

    Args:
        filters: Channels of the inner convolutions.
        strides: Stride of the block (2 halves the resolution).
        projection: Whether the shortcut is a 1-wide convolution instead of the
            identity; needed when the stride or the channels change.
    """

    expansion = 1

    def __init__(self, filters, strides=1, projection=False, **kwargs):
        super().__init__(**kwargs)
        if filters <= 0:
            raise ValueError(f"filters must be positive. Received: filters={filters}")
        if strides not in (1, 2):
            raise ValueError(f"strides must be 1 or 2. Received: strides={strides}")
        self.filters = filters
        self.strides = strides
        self.projection = projection
        self.convs = [
            layers.Conv2D(
                channels,
                kernel_size,
                strides=stride,
                padding="same",
                use_bias=False,
                name=f"conv{index}",
            )
            for index, (kernel_size, channels, stride) in enumerate(self.branch(), 1)
        ]
        self.norms = [batch_norm(f"bn{i}") for i in range(1, len(self.convs) + 1)]
        if projection:
            self.shortcut_conv = layers.Conv2D(
                self.expansion * filters,
                1,
                strides=strides,
                use_bias=False,
                name="shortcut_conv",
            )
            self.shortcut_norm = batch_norm("shortcut_bn")

    def branch(self):
        """(kernel_size, channels, stride) of each convolution of the branch."""
        raise NotImplementedError

    def build(self, input_shape):
        shape = input_shape
        for conv, norm in zip(self.convs, self.norms, strict=True):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)
        if self.projection:
            self.shortcut_conv.build(input_shape)
            self.shortcut_norm.build(shape)

    def call(self, inputs, training=None):
        x = inputs
        for conv, norm in zip(self.convs[:-1], self.norms[:-1], strict=True):
            x = ops.relu(norm(conv(x), training=training))
        x = self.norms[-1](self.convs[-1](x), training=training)
        shortcut = inputs
        if self.projection:
            shortcut = self.shortcut_norm(self.shortcut_conv(inputs), training=training)
        return ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        for conv in self.convs:
            input_shape = conv.compute_output_shape(input_shape)
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "projection": self.projection,
        }

    @classmethod
    def from_config(cls, config):
        # The sublayers compute in the block's saved dtype policy.
        with dtype_policy(keras.dtype_policies.get(config.get("dtype"))):
            return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BasicBlock(ResidualBlock):
    """Two 3-wide convolutions; the block of ResNet-18 and -34."""

    def branch(self):
        return [(3, self.filters, self.strides), (3, self.filters, 1)]


@keras.saving.register_keras_serializable(package=PACKAGE)
class BottleneckBlock(ResidualBlock):
    """1-wide, 3-wide and 1-wide convolutions; ResNet-50's block.

    The output has 4x `filters` channels. The stride sits on the 3-wide
    convolution (the "v1.5" variant that torchvision uses).
    """

    expansion = 4

    def branch(self):
        return [
            (1, self.filters, 1),
            (3, self.filters, self.strides),
            (1, self.expansion * self.filters, 1),
        ]


BLOCKS = {"basic": BasicBlock, "bottleneck": BottleneckBlock}


def stem_layers(kind, filters):
    """The layers before the first stage, in order.

    Args:
        kind: "small" (a 3-wide convolution that keeps the resolution) or
            "imagenet" (a 7-wide stride-2 convolution and a stride-2 pooling).
        filters: Output channels.

    Returns:
        A list of layers.
    """
    kernel_size, stride = (7, 2) if kind == "imagenet" else (3, 1)
    stem = [
        layers.Conv2D(
            filters,
            kernel_size,
            strides=stride,
            padding="same",
            use_bias=False,
            name="stem_conv",
        ),
        batch_norm("stem_bn"),
        layers.Activation("relu", name="stem_relu"),
    ]
    if kind == "imagenet":
        stem.append(layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool"))
    return stem


def residual_blocks(preset):
    """Every block of a ResNet's stages; the first block of stages 2+ halves.

    Args:
        preset: The architecture (a config.ResNetPreset).

    Returns:
        A list of blocks, named `stage{s}_block{b}`.
    """
    block_class = BLOCKS[preset.block]
    blocks = []
    channels = preset.stage_filters[0]
    stages = zip(preset.stage_blocks, preset.stage_filters, strict=True)
    for stage, (count, filters) in enumerate(stages, start=1):
        for index in range(1, count + 1):
            strides = 2 if stage > 1 and index == 1 else 1
            out_channels = block_class.expansion * filters
            block = block_class(
                filters,
                strides=strides,
                projection=strides != 1 or channels != out_channels,
                name=f"stage{stage}_block{index}",
            )
            blocks.append(block)
            channels = out_channels
    return blocks
