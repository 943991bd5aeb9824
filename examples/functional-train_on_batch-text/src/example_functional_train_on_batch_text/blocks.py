"""ResNet building blocks as functions from tensor to tensor (He et al., 2015).

Each block takes a tensor and returns one, naming its layers after the block
(`stage2_block1_1_conv`) so the model summary reads like the architecture.
A projection shortcut (a strided 1-wide convolution) replaces the identity
whenever the block changes the resolution or the number of channels.
"""

from keras import layers

from .config import ResNetPreset


def batch_norm(name, synchronized=False):
    """Batch normalization that settles fast, synchronized where replicas need it.

    Momentum 0.9, as in torchvision: Keras' default (0.99) needs hundreds of
    steps before its moving statistics serve validation; small data sets have
    far fewer per epoch.

    Args:
        name: The layer's name.
        synchronized: Normalize with the statistics of the whole global batch
            across tf.distribute replicas, so that training on several devices
            matches training on one and the replicas' moving statistics stay
            equal. Only the TensorFlow backend has it (Keras raises elsewhere);
            training.py sets it for multi-replica strategies.
    """
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name
    )


def basic_block(x, filters, stride=1, synchronized=False, name="block"):
    """Two 3-wide convolutions with a shortcut; the block of ResNet-18 and -34.

    Args:
        x: Input tensor.
        filters: Output channels of both convolutions.
        stride: Stride of the first convolution (2 halves the resolution).
        synchronized: Synchronize batch normalization across replicas.
        name: Prefix of the layer names.

    Returns:
        The output tensor, with `filters` channels.
    """
    shortcut = _shortcut(x, filters, stride, synchronized, name)
    x = layers.Conv1D(
        filters,
        3,
        strides=stride,
        padding="same",
        use_bias=False,
        name=f"{name}_1_conv",
    )(x)
    x = batch_norm(f"{name}_1_bn", synchronized)(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv1D(
        filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv"
    )(x)
    x = batch_norm(f"{name}_2_bn", synchronized)(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def bottleneck_block(x, filters, stride=1, synchronized=False, name="block"):
    """1-wide, 3-wide and 1-wide convolutions with a shortcut; ResNet-50's block.

    The stride sits on the 3-wide convolution (the "v1.5" variant that
    torchvision and most reference implementations use).

    Args:
        x: Input tensor.
        filters: Channels of the inner convolutions; the output has 4x as many.
        stride: Stride of the 3-wide convolution.
        synchronized: Synchronize batch normalization across replicas.
        name: Prefix of the layer names.

    Returns:
        The output tensor, with `4 * filters` channels.
    """
    shortcut = _shortcut(x, 4 * filters, stride, synchronized, name)
    x = layers.Conv1D(filters, 1, use_bias=False, name=f"{name}_1_conv")(x)
    x = batch_norm(f"{name}_1_bn", synchronized)(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv1D(
        filters,
        3,
        strides=stride,
        padding="same",
        use_bias=False,
        name=f"{name}_2_conv",
    )(x)
    x = batch_norm(f"{name}_2_bn", synchronized)(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv1D(4 * filters, 1, use_bias=False, name=f"{name}_3_conv")(x)
    x = batch_norm(f"{name}_3_bn", synchronized)(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def _shortcut(x, filters, stride, synchronized, name):
    """The identity, or a projection where the shapes of the two paths differ."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    x = layers.Conv1D(
        filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv"
    )(x)
    return batch_norm(f"{name}_0_bn", synchronized)(x)


def stem(x, kind, filters, synchronized=False, name="stem"):
    """The layers before the first stage.

    Args:
        x: Input tensor.
        kind: "small" (a 3-wide convolution that keeps the resolution) or
            "imagenet" (a 7-wide stride-2 convolution and a stride-2 pooling).
        filters: Output channels.
        synchronized: Synchronize batch normalization across replicas.
        name: Prefix of the layer names.

    Returns:
        The output tensor.
    """
    kernel_size, stride = (7, 2) if kind == "imagenet" else (3, 1)
    x = layers.Conv1D(
        filters,
        kernel_size,
        strides=stride,
        padding="same",
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = batch_norm(f"{name}_bn", synchronized)(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    if kind == "imagenet":
        x = layers.MaxPooling1D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return x


def resnet(x, preset: ResNetPreset, synchronized=False):
    """The stem and every stage of a ResNet; the first block of stages 2+ halves.

    Args:
        x: Input tensor.
        preset: The architecture (see config.PRESETS).
        synchronized: Synchronize batch normalization across replicas.

    Returns:
        The feature map of the last stage.
    """
    block = BLOCKS[preset.block]
    x = stem(x, preset.stem, preset.stage_filters[0], synchronized)
    stages = zip(preset.stage_blocks, preset.stage_filters, strict=True)
    for stage, (blocks, filters) in enumerate(stages, start=1):
        for index in range(1, blocks + 1):
            stride = 2 if stage > 1 and index == 1 else 1
            x = block(
                x,
                filters,
                stride=stride,
                synchronized=synchronized,
                name=f"stage{stage}_block{index}",
            )
    return x
