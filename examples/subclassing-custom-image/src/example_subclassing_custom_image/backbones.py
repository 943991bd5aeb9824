"""Backbones from keras.applications, with their own preprocessing inside.

A backbone takes raw pixels (0-255) and returns one feature vector per image
(global average pooling of its last stage); the model adds dropout and the
classifier. Each application expects its pixels scaled its own way: the
scaling is a layer of the backbone, so a saved or exported model still takes
raw images, and no Lambda layer is needed to load it.
"""

from pathlib import Path

import keras
from keras import layers

from .config import Config, ProjectError

# The name of the backbone layer in every model; training freezes it by name.
NAME = "backbone"


def make_backbone(config: Config) -> keras.Model:
    """The configured keras.applications model, from raw pixels to features.

    Args:
        config: Reads backbone (a keras.applications class name),
            backbone_weights ("" for random weights, "imagenet", or a weights
            file), image_size and channels.

    Returns:
        A built model named NAME.

    Raises:
        ProjectError: The ImageNet weights cannot be downloaded, or the weights
            file does not fit the backbone.
    """
    shape = (config.image_size, config.image_size, config.channels)
    inputs = keras.Input(shape=shape, name="image")
    application = getattr(keras.applications, config.backbone)
    if config.backbone == "ResNet50V2":
        # resnet_v2.preprocess_input scales pixels to [-1, 1]; the other
        # applications scale or normalize raw pixels themselves
        # (include_preprocessing, on by default).
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(inputs)
    else:
        x = inputs
    weights = "imagenet" if config.backbone_weights == "imagenet" else None
    try:
        network = application(
            include_top=False,
            weights=weights,
            input_shape=shape,
            pooling="avg",
        )
    except Exception as error:  # keras.utils.get_file raises a bare Exception
        if weights is None:
            raise
        raise ProjectError(
            f"cannot download the ImageNet weights of {config.backbone} "
            f"(no internet connection?): {str(error).splitlines()[0]}"
        ) from error
    if not config.backbone_weights:
        train_statistics_from_scratch(network)
    elif config.backbone_weights != "imagenet":
        load_weights(network, Path(config.backbone_weights))
    return keras.Model(inputs, network(x), name=NAME)


def train_statistics_from_scratch(application: keras.Model) -> None:
    """Let batch normalization's moving statistics catch up within a short run.

    An application with random weights learns them from scratch, and they
    start at mean 0 and variance 1, far above the variance of most layers'
    outputs. At the momentum the applications keep them with, made for
    fine-tuning (0.999 in MobileNetV3, 0.99 in ResNet50V2), a short run leaves
    them near that start: every layer then shrinks its input in inference,
    and a model that fits its training data predicts one constant on any
    other. 0.9, as this project's ResNet blocks use, forgets the start within
    a few dozen steps.
    """
    for layer in application.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = min(layer.momentum, 0.9)


def load_weights(application: keras.Model, path: Path) -> None:
    """Load a weights file into a keras.applications model made without its top.

    Args:
        application: The model, as keras.applications made it with
            include_top=False and pooling="avg".
        path: What `save_weights` wrote for such a model (".weights.h5"), or
            a Keras "notop" ImageNet file (".h5").
    """
    try:
        application.load_weights(path)
    except (ValueError, KeyError, OSError) as error:
        raise ProjectError(
            f"cannot load backbone weights from {path} into {application.name}: "
            f"{str(error).splitlines()[0]}"
        ) from error


def set_trainable(model: keras.Model, config: Config, epoch: int) -> bool:
    """Freeze or unfreeze a model's backbone for an epoch (counted from 0).

    Fine-tuning in two phases: for the first freeze_backbone_epochs the
    backbone is frozen and only the classifier learns; then the whole network
    learns, at the learning rate times fine_tune_lr_factor (optim.learning_rate).
    A frozen backbone (trainable False) also runs its batch normalization in
    inference mode, with the statistics it was pretrained with.

    The optimizer is built while the backbone is trainable, so it holds the
    state of every variable in both phases and a checkpoint restores either.

    Args:
        model: A model from build_model.
        config: Reads backbone and freeze_backbone_epochs.
        epoch: The epoch about to start.

    Returns:
        Whether the trainable variables changed: the training step must then
        be compiled (traced) again.
    """
    if config.backbone == "resnet":
        return False
    backbone = model.get_layer(NAME)
    trainable = epoch >= config.freeze_backbone_epochs
    if backbone.trainable == trainable:
        return False
    backbone.trainable = trainable
    if trainable:
        print(f"Epoch {epoch + 1}: the backbone is unfrozen, the whole model learns")
    else:
        print(f"The backbone is frozen for epochs 1-{config.freeze_backbone_epochs}")
    return True


def unfreeze(model: keras.Model, config: Config) -> None:
    """Make the backbone trainable again, as it was when the optimizer was built.

    A model is saved so: loaded with its optimizer, it trains every variable.
    """
    if config.backbone != "resnet":
        model.get_layer(NAME).trainable = True


def phases(config: Config, first: int, last: int) -> list[tuple[int, int]]:
    """Split epochs first+1 .. last at the end of freeze_backbone_epochs.

    Returns:
        (initial_epoch, epochs) pairs, as model.fit takes them: one for each
        phase of fine-tuning that the epochs reach.
    """
    boundary = min(max(config.freeze_backbone_epochs, first), last)
    return [
        (start, end)
        for start, end in ((first, boundary), (boundary, last))
        if start < end
    ]
