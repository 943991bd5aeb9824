"""Your own data: class folders, unreadable files skipped and listed, the split."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from example_sequential_fit_image.config import Config
from example_sequential_fit_image.data import (
    DataError,
    load_datasets,
    load_image,
    read_directory,
)


@pytest.fixture
def data_dir(tmp_path):
    """Two classes of images in four formats, a broken PNG, and stray files."""
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for index, suffix in enumerate([".png", ".jpg", ".gif", ".bmp", ".PNG"]):
            pixels = rng.integers(0, 255, (10 + index, 12, 3), dtype="uint8")
            Image.fromarray(pixels).save(tmp_path / name / f"{index}{suffix}")
    (tmp_path / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    (tmp_path / "cats" / "notes.md").write_text("a stray file")
    (tmp_path / "dogs" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    return tmp_path


def test_class_folders_are_the_classes_and_bad_files_are_listed(data_dir):
    inputs, labels, class_names, skipped = read_directory(data_dir)
    assert class_names == ["cats", "dogs"]
    assert len(inputs) == len(labels) == 10
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 5
    assert sorted(path.name for path in skipped) == [
        "broken.png",
        "notes.md",
    ]


def test_split_is_fixed_by_the_seed(data_dir):
    config = Config(data_dir=str(data_dir), validation_split=0.2, batch_size=4)

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


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".gif", ".bmp", ".PNG"])
def test_every_format_loads_at_the_given_size(data_dir, suffix, channels):
    path = next((data_dir / "dogs").glob(f"*{suffix}"))
    image = load_image(str(path), 20, channels)
    assert tuple(image.shape) == (20, 20, channels)
    assert image.dtype == tf.float32
    assert 0 <= float(tf.reduce_min(image)) <= float(tf.reduce_max(image)) <= 255


def test_too_few_files_for_the_split_is_refused(data_dir):
    config = Config(data_dir=str(data_dir), validation_split=0.96)
    with pytest.raises(DataError, match="too few to hold out"):
        load_datasets(config)
