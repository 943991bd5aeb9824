"""Input pipelines: the embedded default data, or a directory of your own.
The default is scikit-learn's bundled handwritten digits (1,797 real 8x8
images, no download), resized to `image_size`. Your own data is a directory
with one sub-folder per class of PNG, JPEG, GIF, BMP or WebP files of any
size, also resized. Pixels stay in 0-255: the model rescales them itself, so a
saved or exported model takes raw images.
"""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

from .config import Config, ProjectError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")


class DataError(ProjectError, ValueError):
    """The data directory cannot be used for training."""


@dataclasses.dataclass
class Datasets:
    """Batched training and validation pipelines and what the model needs to know.

    Attributes:
        train: Shuffled (input, label) batches.
        validation: (input, label) batches in a fixed order.
        class_names: The name of each label, by index.
        skipped: Files of the data directory left out: unreadable, or not
            images.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    class_names: list[str]
    skipped: list[Path] = dataclasses.field(default_factory=list)


def load_datasets(config: Config) -> Datasets:
    """Load the configured data and split it into training and validation.

    Args:
        config: Reads data_dir, validation_split, batch_size, seed, image_size
            and channels.

    Returns:
        The pipelines, batched with config.batch_size and prefetched.

    Raises:
        DataError: The data directory is empty, has one class only, or holds
            no readable file.
    """
    skipped = []
    if config.data_dir:
        inputs, labels, class_names, skipped = read_directory(Path(config.data_dir))
    else:
        inputs, labels, class_names = embedded_digits()
    train, validation = _split(inputs, labels, config.validation_split, config.seed)
    return Datasets(
        train=_pipeline(*train, config, shuffle=True),
        validation=_pipeline(*validation, config, shuffle=False),
        class_names=class_names,
        skipped=skipped,
    )


def embedded_digits():
    """scikit-learn's handwritten digits as 8x8x1 images with pixels in 0-255.

    Returns:
        (images, labels, class_names): a float32 array, an int array, a list.
    """
    digits = load_digits()
    images = digits.images[..., np.newaxis] * (255.0 / 16.0)
    class_names = [str(name) for name in digits.target_names]
    return images.astype("float32"), digits.target.astype("int32"), class_names


def read_directory(directory: Path):
    """Find the images in one sub-folder per class.

    Every image is decoded once, up front: files that do not decode (broken,
    truncated, or not images at all) are skipped and listed here, so a bad
    file cannot stop an epoch halfway.

    Args:
        directory: The data directory.

    Returns:
        (paths, labels, class_names, skipped).

    Raises:
        DataError: Fewer than two classes, or no readable image.
    """
    class_names, files, skipped = _class_files(directory, IMAGE_SUFFIXES)
    decodes = _decodes([str(path) for _, path in files])
    paths, labels = [], []
    for (label, path), readable in zip(files, decodes, strict=True):
        if readable:
            paths.append(str(path))
            labels.append(label)
        else:
            skipped.append(path)
    _check_readable(directory, labels, class_names)
    return np.array(paths), np.array(labels, dtype="int32"), class_names, skipped


def load_image(path, image_size: int, channels: int):
    """Read, decode and resize one image file; pixels stay in 0-255.

    Args:
        path: The file's name: a string or a string tensor.
        image_size: The side of the square it is resized to.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        A float32 tensor of shape (image_size, image_size, channels).
    """
    # Decoded as RGB first: GIF, BMP and WebP cannot be decoded to one channel.
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=3, expand_animations=False
    )
    image = tf.image.resize(image, (image_size, image_size))
    return tf.image.rgb_to_grayscale(image) if channels == 1 else image


def read_image(path: Path, image_size: int, channels: int):
    """load_image for a file named on the command line, with a clear error.

    Raises:
        DataError: The file is missing or is not an image.
    """
    if not Path(path).is_file():
        raise DataError(f"no image file at {path}")
    try:
        return load_image(str(path), image_size, channels)
    except tf.errors.InvalidArgumentError as error:
        raise DataError(f"cannot read {path} as an image") from error


def _decodes(paths: list[str]) -> list[bool]:
    """Whether each file decodes as load_image decodes it (in parallel)."""

    def decode(index, path):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=3, expand_animations=False
        )
        return index, tf.shape(image)

    readable = (
        tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .ignore_errors()
    )
    found = {int(index) for index, _ in readable.as_numpy_iterator()}
    return [index in found for index in range(len(paths))]


def _class_files(directory: Path, suffixes):
    """The class folders of a data directory and the files in them.

    Hidden files and folders (".DS_Store", ".ipynb_checkpoints") are ignored.

    Returns:
        (class_names, [(label, path), ...], skipped): the files with one of
        the suffixes, and the other files, which are skipped.
    """
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist")
    class_names = sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if len(class_names) < 2:
        raise DataError(
            f"data directory {directory} needs one sub-folder per class and at "
            f"least two classes; found {len(class_names)}: {class_names}"
        )
    files, skipped = [], []
    for label, name in enumerate(class_names):
        for path in sorted((directory / name).rglob("*")):
            parts = path.relative_to(directory).parts
            if not path.is_file() or any(part.startswith(".") for part in parts):
                continue
            if path.suffix.lower() in suffixes:
                files.append((label, path))
            else:
                skipped.append(path)
    if not files:
        raise DataError(
            f"data directory {directory} has no {'/'.join(suffixes)} files "
            f"in its class folders {class_names}"
        )
    return class_names, files, skipped


def _check_readable(directory: Path, labels, class_names) -> None:
    found = set(labels)
    if len(found) < 2:
        raise DataError(
            f"data directory {directory} has readable files in {len(found)} of its "
            f"classes {class_names}; at least two are needed"
        )


def _split(inputs, labels, validation_split: float, seed: int):
    """Shuffle once with the seed, then cut off the validation fraction."""
    order = np.random.default_rng(seed).permutation(len(labels))
    count = max(1, int(round(len(labels) * validation_split)))
    if count >= len(labels):
        raise DataError(
            f"{len(labels)} readable files are too few to hold out "
            f"validation_split={validation_split} and still train"
        )
    validation, train = order[:count], order[count:]
    return (inputs[train], labels[train]), (inputs[validation], labels[validation])


def _pipeline(inputs, labels, config: Config, *, shuffle: bool) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle:
        dataset = dataset.shuffle(
            len(labels), seed=config.seed, reshuffle_each_iteration=True
        )
    if config.data_dir:
        dataset = dataset.map(
            lambda path, label: (
                load_image(path, config.image_size, config.channels),
                label,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        size = (config.image_size, config.image_size)
        dataset = dataset.map(
            lambda image, label: (
                _to_channels(tf.image.resize(image, size), config),
                label,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


def _to_channels(image, config: Config):
    """Repeat a grayscale image into RGB when the model expects 3 channels."""
    return tf.image.grayscale_to_rgb(image) if config.channels == 3 else image
