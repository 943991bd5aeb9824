"""A scikit-learn baseline on the model's data and split: the score to beat.

Logistic regression on the pixels, downscaled and standardized: a linear
model that knows nothing about shapes. A convolutional network that scores
below it on your data is under-trained or over-fitting; look at its settings
first.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .config import AUTO, Config
from .data import load_image, load_split, size_image_settings

# The side, in pixels, of the images the baseline classifies.
BASELINE_SIZE = 16


@dataclasses.dataclass
class BaselineResult:
    """What the baseline scored.

    Attributes:
        accuracy: Its accuracy on the validation split.
        method: A short name of the method.
        validation_size: Number of validation images.
    """

    accuracy: float
    method: str
    validation_size: int

    def __str__(self) -> str:
        return (
            f"baseline accuracy={self.accuracy:.4f} ({self.method}, "
            f"{self.validation_size} validation images)"
        )


def run_baseline(config: Config) -> BaselineResult:
    """Fit the baseline on the training split and score it on the validation split.

    Args:
        config: Reads data_dir, validation_split and seed (the split is the
            one training and evaluation use), channels ("auto": chosen from
            the training images, as for training) and alpha_background.

    Returns:
        The validation accuracy.

    Raises:
        DataError: The data cannot be used (as for training).
    """
    (train_inputs, train_labels), (inputs, labels), _, _ = load_split(config)
    if config.data_dir and config.channels == AUTO:
        sized = dataclasses.replace(config, image_size=BASELINE_SIZE)
        channels = size_image_settings(sized, train_inputs).channels
        config = dataclasses.replace(config, channels=channels)
    # Standardized pixels: lbfgs converges in about 100 iterations, against
    # hundreds to a thousand on raw ones (seconds, not minutes).
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    classifier.fit(*_pixels(train_inputs, train_labels, config))
    pixels, labels = _pixels(inputs, labels, config)
    accuracy = classifier.score(pixels, labels)
    return BaselineResult(float(accuracy), "pixels+logreg", len(labels))


def _pixels(inputs, labels, config: Config):
    """(pixels, labels): one row of pixels in [0, 1] per image.

    The embedded digits are already small (8x8); the images of a data
    directory are downscaled to BASELINE_SIZE x BASELINE_SIZE, and a file that
    does not decode is left out, as training leaves it out.
    """
    if config.data_dir:
        images = (
            tf.data.Dataset.from_tensor_slices((inputs, labels))
            .map(
                lambda path, label: (
                    load_image(
                        path,
                        BASELINE_SIZE,
                        config.channels,
                        config.alpha_background,
                    ),
                    label,
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .ignore_errors()
            .batch(256)
        )
        batches = list(images.as_numpy_iterator())
        inputs = np.concatenate([images for images, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
    return inputs.reshape(len(inputs), -1) / 255.0, labels
