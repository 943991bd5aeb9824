"""Input pipelines: the embedded default data, or a directory of your own.
The default is a small generated corpus (four topics, a few thousand sentences)
that needs no download. Your own data is a directory with one sub-folder per
class of `.txt` files. The input pipelines turn texts into token ids with a
`TextVectorization` layer adapted on the training split, on the CPU, so the
model trains on numbers under any strategy; the saved model puts the same
layer in front (model.with_vectorizer), so it takes raw text.
"""

import dataclasses
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
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    class_names: list[str]
    vectorizer: keras.layers.TextVectorization
    config: Config
    skipped: list[Path] = dataclasses.field(default_factory=list)


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
    return Datasets(
        train=_pipeline(*train, config, shuffle=True, vectorizer=tokenize),
        validation=_pipeline(*validation, config, shuffle=False, vectorizer=tokenize),
        class_names=class_names,
        vectorizer=vectorizer,
        config=config,
        skipped=skipped,
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
    _check_readable(directory, labels, class_names)
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
    counter = keras.layers.TextVectorization(ragged=True)
    counter.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(256))
    tokens = counter(texts)
    lengths = tokens.row_lengths().numpy()
    counts = np.bincount(tokens.flat_values.numpy())[2:]  # after padding, unknown
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


def _pipeline(
    inputs, labels, config: Config, *, shuffle: bool, vectorizer=None
) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle:
        dataset = dataset.shuffle(
            len(labels), seed=config.seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(config.batch_size)
    if vectorizer is not None:
        # A batch of texts at a time: one call of the lookup per batch.
        dataset = dataset.map(
            lambda texts, label: (vectorizer(texts), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
