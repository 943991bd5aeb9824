"""Input pipelines: the embedded default data, or a directory of your own.
The default is a small generated corpus (four topics, a few thousand sentences)
that needs no download. Your own data is a directory with one sub-folder per
class of `.txt` files. The input pipelines turn texts into token ids with a
`TextVectorization` layer adapted on the training split, on the CPU, so the
model trains on numbers under any strategy; the saved model puts the same
layer in front (model.with_vectorizer), so it takes raw text.
"""

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .config import AUTO, PRESETS, Config, ProjectError

TOPICS = {
    "cooking": (
        "bake boil butter chop dough flour garlic grill knife oven pan pepper recipe "
        "roast salt sauce simmer soup spice taste"
    ),
    "music": (
        "album band bass chord chorus concert drum guitar harmony lyric melody piano "
        "rhythm singer song stage tempo tour tune violin"
    ),
    "science": (
        "atom cell chemist data electron energy experiment gene hypothesis lab laser "
        "measure molecule neutron orbit physics proton sample theory telescope"
    ),
    "sports": (
        "athlete ball coach court defense field goal league match medal player race "
        "referee score season sprint stadium team tennis trophy"
    ),
}
FILLER = (
    "a about after all also and any are as at be because been before but by can "
    "could day did each even every first for from get good great had has have he "
    "her here his how if in into is it its just know last like long make many more "
    "most new no not now of on one only or other our out over people said see she "
    "so some than that the their them then there these they this time to two up us "
    "very was way we well were what when which who will with would year you your"
).split()
CORPUS_SIZE = 3000
# How the "auto" text settings are derived from the training texts.
LENGTH_PERCENTILE = 95  # sequence_length: this percentile of their lengths,
MAX_SEQUENCE_LENGTH = 512  # at most this;
MIN_WORD_COUNT = 2  # max_tokens: the words seen this often,
MAX_VOCABULARY = 20000  # at most this many.


class DataError(ProjectError, ValueError):
    """The data directory cannot be used for training."""


@dataclasses.dataclass
class Datasets:
    """Batched training and validation pipelines and what the model needs to know.

    Attributes:
        train: Shuffled (input, label) batches.
        validation: (input, label) batches in a fixed order.
        class_names: The name of each label, by index.
        vectorizer: Turns texts into token ids; its vocabulary is the training
            texts' most frequent tokens.
        config: The settings the data was prepared with: "auto" replaced by
            the numbers derived from the training texts.
        skipped: Files of the data directory left out: unreadable, or not
            .txt files.
        epoch: The epoch whose order the training data takes (start_epoch).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    class_names: list[str]
    vectorizer: keras.layers.TextVectorization
    config: Config
    skipped: list[Path] = dataclasses.field(default_factory=list)
    epoch: tf.Variable | None = None

    def start_epoch(self, index: int) -> None:
        """Shuffle the training data of epoch `index` (from 0) as (seed, index) say.

        Every loop calls it before each epoch: the order depends on the seed
        and the epoch alone, so that a resumed run reads what an unbroken one
        would.
        """
        self.epoch.assign(index)


def load_datasets(config: Config, *, vectorize: bool = True) -> Datasets:
    """Load the configured data and split it into training and validation.

    Args:
        config: Reads data_dir, validation_split, batch_size, seed,
            max_tokens and sequence_length ("auto": see size_text_settings).
        vectorize: Whether the inputs are token ids, which the classifier
            trains on, or the texts, which a saved model takes.

    Returns:
        The pipelines, batched with config.batch_size and prefetched.

    Raises:
        DataError: The data directory is empty, has one class only, or holds
            no readable file.
    """
    train, validation, class_names, skipped = load_split(config)
    config = size_text_settings(config, train[0])
    vectorizer = adapt_vectorizer(train[0], config)
    tokenize = vectorizer if vectorize else None
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    return Datasets(
        train=_pipeline(*train, config, vectorizer=tokenize, epoch=epoch),
        validation=_pipeline(*validation, config, vectorizer=tokenize),
        class_names=class_names,
        vectorizer=vectorizer,
        config=config,
        skipped=skipped,
        epoch=epoch,
    )


def load_split(config: Config):
    """The configured data, shuffled once with the seed and split.

    Every consumer of the data (training, evaluation, the baseline) splits it
    here, so all of them see the same validation texts.

    Args:
        config: Reads data_dir, validation_split and seed.

    Returns:
        (train, validation, class_names, skipped): train and validation are
        (inputs, labels) pairs of arrays; the inputs are texts.

    Raises:
        DataError: As load_datasets.
    """
    skipped = []
    if config.data_dir:
        inputs, labels, class_names, skipped = read_directory(Path(config.data_dir))
    else:
        inputs, labels, class_names = generate_corpus(config.seed)
    train, validation = _split(inputs, labels, config.validation_split, config.seed)
    return train, validation, class_names, skipped


def generate_corpus(seed: int, size: int = CORPUS_SIZE):
    """Sentences about four topics: topic words among common filler words.

    A third of each sentence's words come from its topic, and one word in
    twenty from a topic drawn at random (another topic three times in four),
    so the task is learnable but not trivial.

    Args:
        seed: Seed of the generator; the same seed gives the same corpus.
        size: Number of sentences.

    Returns:
        (texts, labels, class_names): a string array, an int array, a list.
    """
    rng = np.random.default_rng(seed)
    class_names = sorted(TOPICS)
    vocabularies = [TOPICS[name].split() for name in class_names]
    labels = rng.integers(len(class_names), size=size)
    texts = []
    for label in labels:
        words = []
        for _ in range(rng.integers(8, 25)):
            draw = rng.random()
            if draw < 1 / 3:
                words.append(rng.choice(vocabularies[label]))
            elif draw < 1 / 3 + 1 / 20:
                words.append(rng.choice(vocabularies[rng.integers(len(vocabularies))]))
            else:
                words.append(rng.choice(FILLER))
        texts.append(" ".join(words))
    return np.array(texts), labels.astype("int32"), class_names


def read_directory(directory: Path):
    """Read `.txt` files from one sub-folder per class.

    Args:
        directory: The data directory.

    Returns:
        (texts, labels, class_names, skipped): files that are not UTF-8 text
        are skipped and listed, not fatal.

    Raises:
        DataError: Fewer than two classes, or no readable file.
    """
    class_names, files, skipped = _class_files(directory, (".txt",))
    texts, labels = [], []
    for label, path in files:
        try:
            texts.append(path.read_text(encoding="utf-8"))
            labels.append(label)
        except (OSError, UnicodeDecodeError):
            skipped.append(path)
    _check_classes(directory, labels, class_names)
    return np.array(texts), np.array(labels, dtype="int32"), class_names, skipped


def size_text_settings(config: Config, texts) -> Config:
    """Replace "auto" sequence_length and max_tokens with numbers from the texts.

    sequence_length becomes the LENGTH_PERCENTILE-th percentile of the texts'
    lengths in tokens (longer texts are cut), at least what the preset needs
    and at most MAX_SEQUENCE_LENGTH. max_tokens becomes the number of words
    seen at least MIN_WORD_COUNT times, plus the padding and unknown tokens,
    at most MAX_VOCABULARY: a word seen once teaches the model nothing it can
    use on new texts. The numbers are printed.

    Args:
        config: The settings; those that are numbers already are kept.
        texts: The training texts only.

    Returns:
        The config with numbers for both settings.
    """
    if AUTO not in (config.sequence_length, config.max_tokens):
        return config
    # The same lowercasing, punctuation stripping and splitting as the model's.
    # Dense, padded with 0 to the longest text (ragged=True is TensorFlow's only).
    counter = keras.layers.TextVectorization()
    counter.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(256))
    tokens = keras.ops.convert_to_numpy(counter(texts))
    lengths = np.count_nonzero(tokens, axis=1)
    counts = np.bincount(tokens[tokens > 0])[2:]  # after padding, unknown
    changes = {}
    if config.sequence_length == AUTO:
        length = int(np.ceil(np.percentile(lengths, LENGTH_PERCENTILE)))
        minimum = PRESETS[config.preset].downsampling
        changes["sequence_length"] = min(max(length, minimum), MAX_SEQUENCE_LENGTH)
        print(
            f"sequence_length={changes['sequence_length']}: the "
            f"{LENGTH_PERCENTILE}th percentile of {len(lengths)} training texts' "
            f"lengths in tokens (median {np.median(lengths):.0f}, "
            f"longest {lengths.max()})"
        )
    if config.max_tokens == AUTO:
        words = max(int(np.sum(counts >= MIN_WORD_COUNT)), 1)
        changes["max_tokens"] = min(words + 2, MAX_VOCABULARY)
        print(
            f"max_tokens={changes['max_tokens']}: {words} words seen at least "
            f"{MIN_WORD_COUNT} times in the training texts (of {len(counts)}), "
            "plus padding and unknown"
        )
    return dataclasses.replace(config, **changes)


def adapt_vectorizer(texts, config: Config) -> keras.layers.TextVectorization:
    """A TextVectorization layer that learned its vocabulary from `texts`.

    Args:
        texts: Training texts only, so validation words stay unknown.
        config: Reads max_tokens and sequence_length.

    Returns:
        The layer: it lowercases, strips punctuation, splits on whitespace, and
        maps each text to sequence_length token ids (cut or padded with 0).
    """
    vectorizer = keras.layers.TextVectorization(
        max_tokens=config.max_tokens,
        output_sequence_length=config.sequence_length,
        name="vectorizer",
    )
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(256))
    return vectorizer


def labelled_batches(config: Config, inputs, labels) -> tf.data.Dataset:
    """Batches of (texts, labels, indices) of a split, in its order (a report's).

    The texts are not vectorized: a saved model takes texts.

    Args:
        config: Reads batch_size.
        inputs: The split's texts.
        labels: Their labels.
    """
    dataset = tf.data.Dataset.from_tensor_slices(
        (inputs, labels, np.arange(len(labels)))
    )
    return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


def describe(inputs, index: int, words: int = 12) -> str:
    """How a report names one text of a split: its first words."""
    first = str(inputs[index]).split()
    return " ".join(first[:words]) + (" ..." if len(first) > words else "")


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


def _pipeline(
    inputs, labels, config: Config, *, vectorizer=None, epoch=None
) -> tf.data.Dataset:
    """Batches of (text or token ids, label); shuffled by epoch if given `epoch`."""
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if epoch is not None:
        dataset = _shuffled(dataset, len(labels), config.seed, epoch)
    dataset = dataset.batch(config.batch_size)
    if vectorizer is not None:
        # A batch of texts at a time: one call of the lookup per batch.
        dataset = dataset.map(
            lambda texts, label: (vectorizer(texts), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
