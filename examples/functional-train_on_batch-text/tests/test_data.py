"""Your own data: class folders, unreadable files skipped and listed, the split."""

import collections
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from example_functional_train_on_batch_text.config import Config
from example_functional_train_on_batch_text.data import (
    DataError,
    load_datasets,
    read_directory,
)


@pytest.fixture
def data_dir(tmp_path):
    """Two classes of .txt files, one file that is not UTF-8, and stray files."""
    for name, words in (("music", "guitar song drum"), ("sports", "goal team race")):
        (tmp_path / name).mkdir()
        for index in range(5):
            # Every file has a word of its own, to tell the splits' words apart.
            (tmp_path / name / f"{index}.txt").write_text(f"the {words} {name}{index}")
    (tmp_path / "music" / "latin1.txt").write_bytes(b"caf\xe9")
    (tmp_path / "music" / "notes.md").write_text("a stray file")
    (tmp_path / "sports" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    return tmp_path


def test_class_folders_are_the_classes_and_bad_files_are_listed(data_dir):
    inputs, labels, class_names, skipped = read_directory(data_dir)
    assert class_names == ["music", "sports"]
    assert len(inputs) == len(labels) == 10
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 5
    assert sorted(path.name for path in skipped) == [
        "latin1.txt",
        "notes.md",
    ]


def test_split_is_fixed_by_the_seed(data_dir):
    config = Config(
        data_dir=str(data_dir), validation_split=0.2, batch_size=4, deterministic=True
    )

    def validation_inputs(seed):
        data = load_datasets(dataclasses.replace(config, seed=seed))
        return [inputs.numpy().tolist() for inputs, _ in data.validation]

    assert validation_inputs(1) == validation_inputs(1)
    assert validation_inputs(1) != validation_inputs(2)


def test_pipelines_know_their_length(data_dir):
    data = load_datasets(Config(data_dir=str(data_dir), batch_size=4))
    # 10 files, 2 held out for validation: 8 to train on, in 2 batches.
    assert int(data.train.cardinality()) == 2
    assert int(data.validation.cardinality()) == 1


def test_vocabulary_comes_from_the_training_split(data_dir):
    config = Config(data_dir=str(data_dir), batch_size=4, max_tokens=100)
    data = load_datasets(config, vectorize=False)
    vocabulary = data.vectorizer.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"]

    def words(dataset) -> set[str]:
        return {
            word
            for texts, _ in dataset
            for text in texts.numpy()
            for word in text.decode().split()
        }

    held_out = words(data.validation) - words(data.train)
    assert held_out, "every file has a word of its own"
    assert words(data.train) <= set(vocabulary)
    assert held_out.isdisjoint(vocabulary)


def test_auto_text_settings_are_sized_from_the_training_texts(data_dir):
    data = load_datasets(Config(data_dir=str(data_dir), batch_size=4), vectorize=False)
    texts = [text.decode() for batch, _ in data.train for text in batch.numpy()]
    counts = collections.Counter(word for text in texts for word in text.split())
    seen_twice = {word for word, count in counts.items() if count >= 2}
    # Every text has 5 words; "the" and the class's 3 words recur, the 5th does not.
    assert data.config.sequence_length == 5
    assert data.config.max_tokens == len(seen_twice) + 2
    assert set(data.vectorizer.get_vocabulary()[2:]) == seen_twice


def test_auto_sequence_length_is_at_least_what_the_preset_needs(data_dir):
    config = Config(data_dir=str(data_dir), preset="resnet18", max_tokens=100)
    data = load_datasets(config, vectorize=False)
    assert data.config.sequence_length == 32
    assert data.config.max_tokens == 100


def test_pipelines_give_the_token_ids_of_the_texts(data_dir):
    config = Config(data_dir=str(data_dir), batch_size=4, sequence_length=8)
    texts, labels = next(iter(load_datasets(config, vectorize=False).validation))
    data = load_datasets(config)
    tokens, same_labels = next(iter(data.validation))
    assert tokens.dtype == tf.int64
    assert tokens.shape == (len(texts), 8)
    assert np.array_equal(tokens, data.vectorizer(texts))
    assert np.array_equal(labels, same_labels)


def test_too_few_files_for_the_split_is_refused(data_dir):
    config = Config(data_dir=str(data_dir), validation_split=0.96)
    with pytest.raises(DataError, match="too few to hold out"):
        load_datasets(config)
