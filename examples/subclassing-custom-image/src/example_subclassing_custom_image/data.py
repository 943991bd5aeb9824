"""Input pipelines: the embedded default data, or a directory of your own.
The default is scikit-learn's bundled handwritten digits (1,797 real 8x8
images, no download), resized to `image_size`. Your own data is a directory
with one sub-folder per class of PNG, JPEG, GIF, BMP or WebP files of any
size, also resized. Pixels stay in 0-255: the model rescales them itself, so a
saved or exported model takes raw images. The image size and the channels
are chosen from the training images unless set (size_image_settings); a
PNG's transparent pixels are composited onto `alpha_background`.

Files are decoded in parallel while the model trains, never in a pass of their
own: a file whose header is not an image's is skipped before training, and one
that still fails to decode is skipped where it is met and named at the end of
that epoch (Datasets.report_skipped). Training batches can be augmented on the
CPU (AUGMENTATIONS; "light" by default): the model never holds the augmentation,
so saved and exported models see images as they are.
"""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

from .config import AUTO, PRESETS, Config, ProjectError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
# How a file of each format begins: (offset, bytes) pairs that must all match.
IMAGE_SIGNATURES = (
    ((0, b"\x89PNG\r\n\x1a\n"), (12, b"IHDR")),
    ((0, b"\xff\xd8\xff"),),
    ((0, b"GIF87a"),),
    ((0, b"GIF89a"),),
    ((0, b"BM"),),
    ((0, b"RIFF"), (8, b"WEBP")),
)
# Shuffle buffer behind a file cache: decoded images, held in memory.
FILE_CACHE_SHUFFLE_BUFFER = 1024
# image_size = "auto": the median of the training images' longer sides, within
# these bounds (larger images train slower and, on small sets, no better).
AUTO_SIZE_MIN = 16
AUTO_SIZE_MAX = 32
# Pillow's modes of grey images.
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
# The augmentation policies: "light" (the default) measured best on small real
# sets, with 60 epochs; "full" adds flips, wrong for digits and many symbols.
AUGMENTATIONS = {
    "off": (),
    "light": ("translation", "zoom"),
    "full": ("flip", "translation", "zoom", "contrast"),
}
# The names of 0.2's configs/default.toml, which updates never overwrite: "auto"
# is the measured default, "on" the policy it meant for a data directory.
AUGMENTATIONS |= {"auto": AUGMENTATIONS["light"], "on": AUGMENTATIONS["full"]}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class DataError(ProjectError, ValueError):
    """The data directory cannot be used for training."""


@dataclasses.dataclass
class Datasets:
    """Batched training and validation pipelines and what the model needs to know.

    Attributes:
        train: Shuffled (input, label) batches.
        validation: (input, label) batches in a fixed order.
        class_names: The name of each label, by index.
        config: The settings the data was prepared with: "auto" image_size
            and channels replaced by the numbers chosen from the training
            images.
        skipped: Files of the data directory left out: unreadable, or not
            images.
        decode_logs: What the pipelines of a data directory delivered, to name
            the files they could not decode.
        epoch: The epoch whose order the training data takes (start_epoch).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    class_names: list[str]
    config: Config
    skipped: list[Path] = dataclasses.field(default_factory=list)
    decode_logs: list["DecodeLog"] = dataclasses.field(default_factory=list)
    epoch: tf.Variable | None = None

    def start_epoch(self, index: int) -> None:
        """Shuffle the training data of epoch `index` (from 0) as (seed, index) say.

        Every loop calls it before each epoch: the order depends on the seed
        and the epoch alone, so that a resumed run reads what an unbroken one
        would.
        """
        self.epoch.assign(index)

    def report_skipped(self) -> None:
        """Print the files found undecodable since the last call.

        Call it after each epoch: a file that fails to decode is left out of
        its batch, and named here once its epoch has been read in full.
        """
        for log in self.decode_logs:
            for path in log.undelivered():
                print(f"Skipped file (unreadable or not an image): {path}")
                self.skipped.append(path)


def load_datasets(config: Config) -> Datasets:
    """Load the configured data and split it into training and validation.

    Args:
        config: Reads data_dir, validation_split, batch_size, seed, image_size
            and channels ("auto": see size_image_settings), alpha_background,
            augment, cache and deterministic.

    Returns:
        The pipelines, batched with config.batch_size and prefetched.

    Raises:
        DataError: The data directory is empty, has one class only, or holds
            no readable file.
    """
    train, validation, class_names, skipped = load_split(config)
    config = size_image_settings(config, train[0])
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    if not config.data_dir:
        return Datasets(
            train=_pipeline(*train, config, split="train", epoch=epoch),
            validation=_pipeline(*validation, config, split="validation"),
            class_names=class_names,
            config=config,
            epoch=epoch,
        )
    logs = [DecodeLog(train[0]), DecodeLog(validation[0])]
    return Datasets(
        train=_pipeline(*train, config, split="train", log=logs[0], epoch=epoch),
        validation=_pipeline(*validation, config, split="validation", log=logs[1]),
        class_names=class_names,
        config=config,
        skipped=skipped,
        decode_logs=logs,
        epoch=epoch,
    )


def load_split(config: Config):
    """The configured data, shuffled once with the seed and split.

    Every consumer of the data (training, evaluation, the baseline) splits it
    here, so all of them see the same validation images.

    Args:
        config: Reads data_dir, validation_split and seed.

    Returns:
        (train, validation, class_names, skipped): train and validation are
        (inputs, labels) pairs of arrays; the inputs are images (the
        embedded digits) or file names (a data directory).

    Raises:
        DataError: As load_datasets, and a split none of whose files decodes.
    """
    skipped = []
    if config.data_dir:
        inputs, labels, class_names, skipped = read_directory(Path(config.data_dir))
    else:
        inputs, labels, class_names = embedded_digits()
    train, validation = _split(inputs, labels, config.validation_split, config.seed)
    if config.data_dir:
        for split, (paths, _) in (("training", train), ("validation", validation)):
            _check_decodable(Path(config.data_dir), split, paths)
    return train, validation, class_names, skipped


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

    Only the first bytes of each file are read: a file that does not begin as
    an image of a known format (empty, a web page saved as .jpg, ...) is
    skipped and listed here. Files are decoded while training; see DecodeLog.

    Args:
        directory: The data directory.

    Returns:
        (paths, labels, class_names, skipped).

    Raises:
        DataError: Fewer than two classes, or a class folder without a
            readable image.
    """
    class_names, files, skipped = _class_files(directory, IMAGE_SUFFIXES)
    paths, labels = [], []
    for label, path in files:
        if _looks_like_image(path):
            paths.append(str(path))
            labels.append(label)
        else:
            skipped.append(path)
    _check_classes(directory, labels, class_names)
    return np.array(paths), np.array(labels, dtype="int32"), class_names, skipped


class DecodeLog:
    """Which files of a split the pipeline delivered, to name those it could not.

    The pipeline drops a file that fails to decode and records the index of
    every file it delivers, one batch at a time. After an epoch, the files
    never delivered are the ones that failed.

    Args:
        paths: The split's files, in the order of the indices.
    """

    def __init__(self, paths):
        self.paths = paths
        self.delivered = np.zeros(len(paths), dtype=bool)
        self.reported = np.zeros(len(paths), dtype=bool)

    def record(self, indices):
        """Mark the files of one batch as delivered (called by the pipeline)."""
        self.delivered[indices.numpy()] = True
        return indices

    def undelivered(self) -> list[Path]:
        """The files not delivered since the last call and not named before.

        Call it only after a full pass over the split.
        """
        missing = ~self.delivered & ~self.reported
        self.reported |= missing
        self.delivered[:] = False
        return [Path(self.paths[index]) for index in np.flatnonzero(missing)]


def size_image_settings(config: Config, inputs) -> Config:
    """Replace "auto" image_size and channels with numbers from the training split.

    image_size becomes the median of the images' longer sides, at least
    AUTO_SIZE_MIN (and what the preset or backbone needs) and at most
    AUTO_SIZE_MAX. channels becomes 1 when every image is grey (a grey or
    grey+alpha file, or a palette of greys), else 3; a keras.applications
    backbone takes 3. Only the files' headers are read (with Pillow, which
    matplotlib brings). The numbers are printed.

    Args:
        config: The settings; those that are numbers already are kept.
        inputs: The training images (the embedded digits) or file names.

    Returns:
        The config with numbers for both settings.
    """
    if AUTO not in (config.image_size, config.channels):
        return config
    if config.data_dir:
        sides, grey = _image_headers(inputs)
    else:
        sides, grey = [max(inputs.shape[1:3])] * len(inputs), inputs.shape[-1] == 1
    minimum = AUTO_SIZE_MIN
    if config.backbone == "resnet":
        minimum = max(minimum, PRESETS[config.preset].downsampling)
    else:
        minimum, grey = max(minimum, 32), False  # APPLICATION_MIN_SIZE, RGB
    changes = {}
    if config.image_size == AUTO:
        median = int(np.median(sides)) if sides else minimum
        changes["image_size"] = min(max(median, minimum), max(AUTO_SIZE_MAX, minimum))
        print(
            f"image_size={changes['image_size']}: the median of {len(sides)} "
            f"training images' longer sides ({median} px), within "
            f"{minimum}-{max(AUTO_SIZE_MAX, minimum)}"
        )
    if config.channels == AUTO:
        changes["channels"] = 1 if grey else 3
        print(
            f"channels={changes['channels']}: "
            + ("every training image is grey" if grey else "colour training images")
        )
    return dataclasses.replace(config, **changes).validate()


def _image_headers(paths) -> tuple[list[int], bool]:
    """(the longer side of each readable file, whether all of them are grey)."""
    from PIL import Image

    sides, grey = [], True
    for path in paths:
        try:
            with Image.open(path) as image:
                sides.append(max(image.size))
                if grey and image.mode == "P":
                    palette = np.array(image.getpalette() or [0, 0, 0]).reshape(-1, 3)
                    grey = bool((palette == palette[:, :1]).all())
                elif grey:
                    grey = image.mode in GREY_MODES
        except OSError:
            continue  # left out by the pipeline too
    return sides, grey


def load_image(path, image_size: int, channels: int, background: str = "white"):
    """Read, decode and resize one image file; pixels stay in 0-255.

    A PNG's transparency (an alpha channel, grey+alpha, or a palette's
    transparent entries) is composited onto a plain background: without it,
    the colour stored under transparent pixels (anything, often black or a
    leftover) would be what the model sees.

    Args:
        path: The file's name: a string or a string tensor.
        image_size: The side of the square it is resized to.
        channels: 1 (grayscale) or 3 (RGB).
        background: "white" or "black" (alpha_background).

    Returns:
        A float32 tensor of shape (image_size, image_size, channels).
    """
    contents = tf.io.read_file(path)
    fill = 255.0 if background == "white" else 0.0

    def composited():
        rgba = tf.cast(tf.io.decode_png(contents, channels=4), tf.float32)
        alpha = rgba[..., 3:] / 255.0
        return rgba[..., :3] * alpha + fill * (1.0 - alpha)

    def opaque():
        # Decoded as RGB: GIF, BMP and WebP cannot be decoded to one channel.
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        return tf.cast(image, tf.float32)

    is_png = tf.strings.substr(contents, 0, len(PNG_SIGNATURE)) == PNG_SIGNATURE
    image = tf.cond(is_png, composited, opaque)
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, (image_size, image_size))
    return tf.image.rgb_to_grayscale(image) if channels == 1 else image


def read_image(path: Path, image_size: int, channels: int, background: str):
    """load_image for a file named on the command line, with a clear error.

    Raises:
        DataError: The file is missing or is not an image.
    """
    if not Path(path).is_file():
        raise DataError(f"no image file at {path}")
    # Through tf.data, which drops a file that fails without a TensorFlow warning.
    decoded = list(
        tf.data.Dataset.from_tensors(str(path))
        .map(lambda name: load_image(name, image_size, channels, background))
        .ignore_errors()
    )
    if not decoded:
        raise DataError(f"cannot read {path} as an image")
    return decoded[0]


def _check_decodable(directory: Path, split: str, paths) -> None:
    """Refuse a split none of whose files decodes, before any training.

    Files are decoded in order until one succeeds: one decode where the data
    is sound, every file only where none decodes.
    """
    decoded = (
        tf.data.Dataset.from_tensor_slices(np.asarray(paths, dtype=str))
        .map(lambda path: load_image(path, 8, 1))
        .ignore_errors()  # quietly, unlike an eager decode
        .take(1)
    )
    if len(list(decoded)):
        return
    raise DataError(
        f"none of the {len(paths)} {split} files of data directory {directory} "
        f"decodes as an image (the first: {paths[0]})"
    )


def labelled_batches(config: Config, inputs, labels) -> tf.data.Dataset:
    """Batches of (images, labels, indices) of a split, in its order (a report's).

    A file that does not decode is left out; the indices say which inputs the
    batches hold.

    Args:
        config: Reads data_dir, image_size, channels, alpha_background and
            batch_size; numbers, not "auto".
        inputs: The split's images (the embedded digits) or file names.
        labels: Their labels.
    """
    dataset = tf.data.Dataset.from_tensor_slices(
        (inputs, labels, np.arange(len(labels)))
    )
    if config.data_dir:
        dataset = dataset.map(
            lambda path, label, index: (
                load_image(
                    path, config.image_size, config.channels, config.alpha_background
                ),
                label,
                index,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).ignore_errors()
    else:
        size = (config.image_size, config.image_size)
        dataset = dataset.map(
            lambda image, label, index: (
                _to_channels(tf.image.resize(image, size), config),
                label,
                index,
            )
        )
    return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


def describe(inputs, index: int) -> str:
    """How a report names one input of a split: its file, or its place."""
    if inputs.dtype.kind in "SUO":
        return str(inputs[index])
    return f"embedded digit {index} of the split"


def read_class_names(path: Path) -> list[str]:
    """The class names a run saved (its class_names.json), checked.

    Raises:
        DataError: The file is missing, not JSON, or not a list of names.
    """
    try:
        names = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no {path}: it lists the run's classes") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            f"{path} is damaged ({error}); it lists the run's classes"
        ) from None
    if not (
        isinstance(names, list) and names and all(isinstance(n, str) for n in names)
    ):
        raise DataError(f"{path} is damaged: not a list of class names")
    return names


def check_class_names(path: Path, config: Config) -> None:
    """Refuse data whose classes are not those of a run (its class_names.json).

    A resumed run or an evaluated model tells its classes apart by their
    index: a class added, removed or renamed since would shift them.

    Args:
        path: The run's class_names.json, named in the error.
        config: Reads data_dir (the embedded data when empty), validation_split
            and seed.

    Raises:
        DataError: Naming the classes added and removed since the run.
    """
    run_classes = read_class_names(path)
    if config.data_dir:
        current = _class_folders(Path(config.data_dir))
    else:
        current = load_split(config)[2]
    if current == run_classes:
        return
    added = [name for name in current if name not in run_classes]
    removed = [name for name in run_classes if name not in current]
    changes = (("new", added), ("gone", removed))
    change = "; ".join(f"{what} {names}" for what, names in changes if names)
    raise DataError(
        f"the classes of {config.data_dir or 'the embedded data'} differ from the "
        f"run's {path} ({change or 'in another order'}): train a new run for them"
    )


def _class_files(directory: Path, suffixes):
    """The class folders of a data directory and the files in them.

    Hidden files and folders (".DS_Store", ".ipynb_checkpoints") are ignored;
    a dangling link is skipped, as a file that cannot be read.

    Returns:
        (class_names, [(label, path), ...], skipped): the files with one of
        the suffixes, and the other files, which are skipped.
    """
    class_names = _class_folders(directory)
    files, skipped = [], []
    for label, name in enumerate(class_names):
        for path in sorted((directory / name).rglob("*")):
            parts = path.relative_to(directory).parts
            if any(part.startswith(".") for part in parts):
                continue
            if path.is_symlink() and not path.exists():
                skipped.append(path)  # a dangling link: nothing to read
            elif not path.is_file():
                continue
            elif path.suffix.lower() in suffixes:
                files.append((label, path))
            else:
                skipped.append(path)
    if not files:
        raise DataError(
            f"data directory {directory} has no {'/'.join(suffixes)} files "
            f"in its class folders {class_names}"
        )
    return class_names, files, skipped


def _class_folders(directory: Path) -> list[str]:
    """The names of the class folders of a data directory: two at least."""
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
    return class_names


def _check_classes(directory: Path, labels, class_names) -> None:
    """Refuse class folders without a readable file: a class nothing teaches."""
    found = set(labels)
    empty = [
        str(directory / name)
        for label, name in enumerate(class_names)
        if label not in found
    ]
    if len(empty) == 1:
        raise DataError(
            f"class folder {empty[0]} of data directory {directory} holds no "
            "readable file: add some or remove the folder"
        )
    if empty:
        raise DataError(
            f"class folders {', '.join(empty)} of data directory {directory} hold "
            "no readable file: add some or remove the folders"
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


def _each_pass(dataset, seed: int, epoch: tf.Variable, make):
    """`make(dataset, pass_seed)` anew for each pass, from (seed, epoch) alone.

    The pass is made from the value `epoch` holds when the pass starts, rather
    than from the pass count: a resumed run starts its first pass at the epoch
    it resumes, and reads what an unbroken run would (Datasets.start_epoch sets
    it).
    """
    count = dataset.cardinality()

    def one_pass(_):
        # Distinct seeds for distinct (seed, epoch) pairs.
        pass_seed = tf.constant(seed, tf.int64) * 1_000_003 + epoch.read_value()
        return make(dataset, pass_seed)

    passes = tf.data.Dataset.from_tensors(0).flat_map(one_pass)
    return passes.apply(tf.data.experimental.assert_cardinality(count))


def _shuffled(dataset, buffer_size: int, seed: int, epoch: tf.Variable):
    """The dataset shuffled in an order that depends on (seed, epoch) alone."""

    def shuffle(data, pass_seed):
        return data.shuffle(buffer_size, seed=pass_seed, reshuffle_each_iteration=False)

    return _each_pass(dataset, seed, epoch, shuffle)


def augments(config: Config) -> bool:
    """Whether training batches are augmented (augment is not "off")."""
    return bool(AUGMENTATIONS[config.augment])


def augmentation(policy: str = "full"):
    """The random changes of an AUGMENTATIONS policy, for training batches.

    "light": translation and zoom of up to 10% (edges reflected, as
    keras.layers.RandomTranslation and RandomZoom fill them); "full": also a
    horizontal flip, and contrast changes of up to 20%. The draws are
    stateless, made from the seed they are given: a resumed run changes each
    batch as an unbroken run did. (Keras's random layers draw from a generator
    whose state no checkpoint holds.) It runs in the input pipeline on the
    CPU, never inside the model, so a saved or exported model holds no
    augmentation.

    Args:
        policy: "light" or "full".

    Returns:
        augment(images, seed): a batch of images with pixels in 0-255, changed
        as `seed` (two integers) draws; one seed, one result.
    """
    changes = AUGMENTATIONS[policy]
    shift = 0.1 if "translation" in changes else 0.0
    zoom = 0.1 if "zoom" in changes else 0.0

    def augment(images, seed):
        flip, move, contrast = tf.unstack(tf.random.split(seed, 3))
        if "flip" in changes:
            images = tf.image.stateless_random_flip_left_right(images, flip)
        if shift or zoom:
            images = _moved(images, move, shift, zoom)
        if "contrast" in changes:
            images = _contrasted(images, contrast, 0.2)
        return images

    return augment


def _moved(images, seed, shift: float, zoom: float):
    """Each image shifted by up to `shift` of its size and zoomed by up to `zoom`."""
    count, height, width = tf.unstack(tf.shape(images)[:3])
    draws = tf.random.stateless_uniform((count, 3), seed, minval=-1.0, maxval=1.0)
    scale = 1.0 + zoom * draws[:, 0]  # above 1 zooms out
    size = tf.cast(tf.stack([height, width]), tf.float32)
    center_y, center_x = (size[0] - 1.0) / 2.0, (size[1] - 1.0) / 2.0
    dy, dx = shift * draws[:, 1] * size[0], shift * draws[:, 2] * size[1]
    zeros = tf.zeros_like(scale)
    # Output pixel (x, y) reads input pixel (scale * (x - cx) + cx - dx, likewise y).
    transforms = tf.stack(
        [
            scale,
            zeros,
            center_x * (1.0 - scale) - dx,
            zeros,
            scale,
            center_y * (1.0 - scale) - dy,
            zeros,
            zeros,
        ],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.stack([height, width]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


def _contrasted(images, seed, change: float):
    """Each image's contrast scaled by a factor within 1 +- change, in 0-255."""
    count = tf.shape(images)[0]
    factor = tf.random.stateless_uniform(
        (count, 1, 1, 1), seed, minval=1.0 - change, maxval=1.0 + change
    )
    mean = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
    return tf.clip_by_value((images - mean) * factor + mean, 0.0, 255.0)


def _augmented(dataset, config: Config, epoch: tf.Variable):
    """Training batches augmented with draws from (seed, epoch, batch) alone."""
    augment = augmentation(config.augment)

    def augment_pass(batches, pass_seed):
        return batches.enumerate().map(
            lambda index, batch: (
                augment(batch[0], tf.stack([pass_seed, index])),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    return _each_pass(dataset, config.seed, epoch, augment_pass)


def _pipeline(
    inputs,
    labels,
    config: Config,
    *,
    split: str,
    log: DecodeLog | None = None,
    epoch: tf.Variable | None = None,
) -> tf.data.Dataset:
    """Batches of (image, label): from in-memory images, or from image files.

    Args:
        inputs: Images (the embedded digits), or file names with a log.
        labels: Their labels.
        config: Reads image_size, channels, batch_size, seed, augment, cache
            and deterministic.
        split: "train" (reshuffled every epoch, and augmented if configured)
            or "validation" (in a fixed order).
        log: Records the files each batch delivers.
        epoch: The epoch whose order the training data takes.
    """
    training = split == "train"
    if log is None:
        dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
        if training:
            dataset = _shuffled(dataset, len(labels), config.seed, epoch)
        size = (config.image_size, config.image_size)
        dataset = dataset.map(
            lambda image, label: (
                _to_channels(tf.image.resize(image, size), config),
                label,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).batch(config.batch_size)
    else:
        dataset = _image_files(inputs, labels, config, split, log, epoch)
    if training and augments(config):
        dataset = _augmented(dataset, config, epoch)
    options = tf.data.Options()
    # Parallel maps hand on each element as soon as it is ready, unless the run
    # must be repeatable; the shuffles stay seeded either way.
    options.deterministic = config.deterministic
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _image_files(paths, labels, config: Config, split: str, log: DecodeLog, epoch):
    """Batches of (image, label) decoded from files in parallel, as training runs.

    A file that fails to decode is dropped, and the split's first files that
    decode fill the gap: every epoch has the same number of full batches,
    which every loop and strategy needs.
    """
    files = tf.data.Dataset.from_tensor_slices((paths, labels, np.arange(len(labels))))

    def decode(path, label, index):
        image = load_image(
            path, config.image_size, config.channels, config.alpha_background
        )
        return image, label, index

    shuffle = split == "train"
    dataset = files
    if shuffle and config.cache == "none":
        # File names are cheap to shuffle: shuffled before they are decoded.
        dataset = _shuffled(files, len(labels), config.seed, epoch)
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    refill = files.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    refill = refill.ignore_errors().repeat()
    dataset = dataset.ignore_errors().concatenate(refill).take(len(labels))
    if config.cache != "none":
        dataset = _cached(dataset, config, split, paths)
        if shuffle:
            buffer = len(labels)
            if config.cache != "memory":
                buffer = min(buffer, FILE_CACHE_SHUFFLE_BUFFER)
            dataset = _shuffled(dataset, buffer, config.seed, epoch)

    def record(images, targets, indices):
        delivered = tf.py_function(log.record, [indices], Tout=tf.int64)
        with tf.control_dependencies([delivered]):
            return tf.identity(images), targets

    return dataset.batch(config.batch_size).map(
        record, num_parallel_calls=tf.data.AUTOTUNE
    )


def _cached(dataset, config: Config, split: str, paths):
    """dataset.cache() in memory, or in a file under config.cache.

    The file is named by a digest of what it holds (each file's name, size and
    modification time, the image size, channels and alpha background), so
    that other files or settings never read a stale cache.
    """
    if config.cache == "memory":
        return dataset.cache()
    shape = f"{config.image_size} {config.channels} {config.alpha_background}"
    digest = hashlib.sha256(shape.encode())
    for path in paths:
        stat = Path(path).stat()
        digest.update(f"{path} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    directory = Path(config.cache)
    directory.mkdir(parents=True, exist_ok=True)
    return dataset.cache(str(directory / f"{split}-{digest.hexdigest()[:20]}"))


def _looks_like_image(path: Path) -> bool:
    """Whether a file begins as an image of a format that load_image decodes."""
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except OSError:
        return False
    return any(
        all(head[offset : offset + len(magic)] == magic for offset, magic in signature)
        for signature in IMAGE_SIGNATURES
    )


def _to_channels(image, config: Config):
    """Repeat a grayscale image into RGB when the model expects 3 channels."""
    return tf.image.grayscale_to_rgb(image) if config.channels == 3 else image
