"""Your own data: class folders, bad files skipped and listed, the split, the
pipeline's cache and augmentation."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from example_subclassing_custom_image.config import Config
from example_subclassing_custom_image.data import (
    DataError,
    augmentation,
    augments,
    load_datasets,
    load_image,
    read_directory,
)


@pytest.fixture
def data_dir(tmp_path):
    """Two classes of images in four formats, two non-images, and stray files."""
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for index, suffix in enumerate([".png", ".jpg", ".gif", ".bmp", ".PNG"]):
            pixels = rng.integers(0, 255, (10 + index, 12, 3), dtype="uint8")
            Image.fromarray(pixels).save(tmp_path / name / f"{index}{suffix}")
    (tmp_path / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    (tmp_path / "cats" / "page.jpg").write_text("<html>a page saved as .jpg</html>")
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
        "page.jpg",
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


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".gif", ".bmp", ".PNG"])
def test_every_format_loads_at_the_given_size(data_dir, suffix, channels):
    path = next((data_dir / "dogs").glob(f"*{suffix}"))
    image = load_image(str(path), 20, channels)
    assert tuple(image.shape) == (20, 20, channels)
    assert image.dtype == tf.float32
    assert 0 <= float(tf.reduce_min(image)) <= float(tf.reduce_max(image)) <= 255


def batches(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(images.numpy(), labels.numpy()) for images, labels in dataset]


def test_a_file_that_fails_to_decode_is_skipped_and_named_after_the_epoch(
    data_dir, capsys
):
    # PNGs cut short: they begin as images, so only decoding them finds them.
    for name in ("cats", "dogs"):
        png = (data_dir / name / "0.png").read_bytes()
        (data_dir / name / "cut.png").write_bytes(png[: len(png) // 2])
    config = Config(data_dir=str(data_dir), batch_size=3, validation_split=0.5)
    # A seed that puts one cut file in each split.
    for seed in range(100):
        data = load_datasets(dataclasses.replace(config, seed=seed))
        files = [log.paths for log in data.decode_logs]
        if all(any(path.endswith("cut.png") for path in split) for split in files):
            break
    cut = sorted(str(data_dir / name / "cut.png") for name in ("cats", "dogs"))
    capsys.readouterr()
    for epoch in range(2):
        train, validation = batches(data.train), batches(data.validation)
        # Batches stay full: the first files of the split fill the gaps.
        assert [len(labels) for _, labels in train] == [3, 3]
        assert [len(labels) for _, labels in validation] == [3, 3]
        assert len(train) == int(data.train.cardinality())
        assert len(validation) == int(data.validation.cardinality())
        assert capsys.readouterr().out == ""
        data.report_skipped()
        named = sorted(capsys.readouterr().out.splitlines())
        # Named once, after the epoch that met them.
        assert named == [
            f"Skipped file (unreadable or not an image): {path}"
            for path in (cut if epoch == 0 else [])
        ]


@pytest.mark.parametrize("cache", ["memory", "directory"])
def test_a_cache_gives_what_decoding_gives(data_dir, tmp_path_factory, cache):
    config = Config(data_dir=str(data_dir), batch_size=4, deterministic=True)
    # Outside the data directory, where a folder would be one more class.
    directory = tmp_path_factory.mktemp("cache")
    cached = dataclasses.replace(
        config, cache=str(directory) if cache == "directory" else cache
    )
    data, cached_data = load_datasets(config), load_datasets(cached)
    expected = batches(data.validation)
    # The first epoch fills the cache, the second reads it.
    for _ in range(2):
        got = batches(cached_data.validation)
        assert len(got) == len(expected)
        for got_batch, expected_batch in zip(got, expected, strict=True):
            assert all(map(np.array_equal, got_batch, expected_batch))
        train_labels = [labels for _, labels in batches(cached_data.train)]
        assert sorted(np.concatenate(train_labels)) == sorted(
            np.concatenate([labels for _, labels in batches(data.train)])
        )
    if cache == "directory":
        # One cache per split, named by the files and the image size it holds.
        assert len(list(directory.glob("*.index"))) == 2
        batches(load_datasets(dataclasses.replace(cached, image_size=8)).validation)
        assert len(list(directory.glob("*.index"))) == 3


def test_augmentation_is_light_by_default_and_off_or_full_on_request():
    assert Config().augment == "light" and augments(Config())
    assert not augments(Config(augment="off"))
    assert augments(Config(augment="auto")) and augments(Config(augment="full"))
    images = tf.random.stateless_uniform((4, 8, 8, 3), (1, 2), maxval=255.0)
    for policy in ("light", "full"):
        augment = augmentation(policy)
        changed = augment(images, tf.constant([3, 4], tf.int64))
        assert changed.shape == images.shape
        assert not np.array_equal(changed, images)  # something moved
        # One seed, one result: what a resumed run relies on.
        assert np.array_equal(changed, augment(images, tf.constant([3, 4], tf.int64)))
        other = augment(images, tf.constant([3, 5], tf.int64))
        assert not np.array_equal(changed, other)


def test_auto_size_and_channels_come_from_the_training_images(tmp_path, capsys):
    for name, mode, size in (("a", "L", (40, 24)), ("b", "LA", (20, 20))):
        for index in range(3):
            folder = tmp_path / name
            folder.mkdir(exist_ok=True)
            Image.new(mode, size).save(folder / f"{index}.png")
    data = load_datasets(Config(data_dir=str(tmp_path), batch_size=2))
    # Longer sides 40, 40, 40, 20, 20, 20 (4 or 5 in training): median within 16-32.
    assert data.config.channels == 1 and 20 <= data.config.image_size <= 32
    assert "every training image is grey" in capsys.readouterr().out
    for index in range(3):  # class a in colour: some in the training split
        Image.new("RGBA", (8, 8)).save(tmp_path / "a" / f"{index}.png")
    assert load_datasets(Config(data_dir=str(tmp_path))).config.channels == 3
    # The embedded digits: 8x8 grey, so 16 px (the smallest) and 1 channel.
    digits = load_datasets(Config()).config
    assert (digits.image_size, digits.channels) == (16, 1)


@pytest.mark.parametrize("background", ["white", "black"])
def test_transparent_pixels_are_composited_onto_the_background(tmp_path, background):
    rgba = np.zeros((4, 4, 4), dtype="uint8")
    rgba[..., 1] = 200  # green under every pixel, transparent but one
    rgba[0, 0, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 71, 112, 76])
    palette.info["transparency"] = 1  # entry 1 (dark green) is transparent
    palette.save(tmp_path / "palette.png", transparency=1)
    fill = 255.0 if background == "white" else 0.0
    for name in ("rgba.png", "palette.png"):
        image = load_image(str(tmp_path / name), 4, 3, background).numpy()
        assert np.allclose(image[-1, -1], fill), name
    image = load_image(str(tmp_path / "rgba.png"), 4, 3).numpy()
    assert np.allclose(image[0, 0], [0, 200, 0])  # opaque: as stored
    assert np.allclose(image[-1, -1], 255)  # white by default


def test_augmentation_changes_training_images_only(data_dir):
    config = Config(
        data_dir=str(data_dir), batch_size=8, channels=3, seed=3, deterministic=True
    )
    plain = load_datasets(dataclasses.replace(config, augment="off"))
    augmented = load_datasets(dataclasses.replace(config, augment="full"))
    for split, changed in (("train", True), ("validation", False)):
        (images, labels), *_ = batches(getattr(plain, split))
        (new_images, new_labels), *_ = batches(getattr(augmented, split))
        assert np.array_equal(labels, new_labels)
        assert new_images.shape == images.shape
        assert new_images.dtype == np.float32
        assert (not np.array_equal(new_images, images)) == changed
        assert 0 <= new_images.min() <= new_images.max() <= 255


def test_too_few_files_for_the_split_is_refused(data_dir):
    config = Config(data_dir=str(data_dir), validation_split=0.96)
    with pytest.raises(DataError, match="too few to hold out"):
        load_datasets(config)
