"""Settings: configs/default.toml loads; overrides win; bad values name the setting."""

import dataclasses
from pathlib import Path

import pytest

from example_sequential_fit_image.cli import main
from example_sequential_fit_image.config import (
    HELP,
    Config,
    ConfigError,
    load_config,
)

DEFAULT_TOML = Path(__file__).parents[1] / "configs" / "default.toml"


def test_default_toml_is_a_valid_config():
    # configs/default.toml is yours to edit (template updates leave it alone), so
    # only check that every key in it is a known setting with an allowed value.
    assert isinstance(load_config(DEFAULT_TOML), Config)


def test_every_setting_has_one_help_text_in_train_help(capsys):
    """configs/default.toml is yours: its comments start as these help texts."""
    assert sorted(HELP) == sorted(field.name for field in dataclasses.fields(Config))
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = "".join(capsys.readouterr().out.split())
    for name, text in HELP.items():
        assert "".join(text.split()) in shown, name


def test_overrides_win_over_the_file():
    config = load_config(DEFAULT_TOML, epochs=3, batch_size=16, learning_rate=0.01)
    assert (config.epochs, config.batch_size, config.learning_rate) == (3, 16, 0.01)


def test_config_round_trips_through_toml(tmp_path):
    config = load_config(epochs=7, learning_rate=0.01)
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert load_config(path) == config


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -3}, "batch_size"),
        ({"preset": "resnet1000"}, "preset"),
        ({"dropout_rate": 1.0}, "^dropout_rate"),
        ({"validation_split": 1.5}, "validation_split"),
        ({"strategy": "tpu"}, "strategy"),
        ({"backend": "numpy"}, "backend"),
        ({"backend": "jax", "strategy": "mirrored"}, "strategy"),
        ({"data_dir": "/no/such/directory"}, "data_dir"),
        ({"augment": "sometimes"}, "augment"),
        ({"cache": ""}, "cache"),
        ({"cache": __file__}, "cache"),
        ({"epochs": "ten"}, "epochs"),
        ({"colour": "blue"}, "colour"),
        ({"backbone": "VGG16", "channels": 3, "image_size": 32}, "backbone"),
        ({"backbone": "MobileNetV3Small", "channels": 1, "image_size": 32}, "channels"),
        ({"backbone": "ConvNeXtTiny", "channels": 3, "image_size": 16}, "image_size"),
        ({"backbone_weights": "imagenet"}, "backbone_weights"),
        ({"freeze_backbone_epochs": 2}, "freeze_backbone_epochs"),
        (
            {
                "backbone": "ResNet50V2",
                "channels": 3,
                "image_size": 32,
                "backbone_weights": "/no/such/file.weights.h5",
            },
            "backbone_weights",
        ),
        ({"fine_tune_lr_factor": 0.0}, "fine_tune_lr_factor"),
        (
            {
                "backbone": "MobileNetV3Small",
                "channels": 3,
                "image_size": 32,
                "freeze_backbone_epochs": 1,
                "backend": "jax",
            },
            "freeze_backbone_epochs",
        ),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"momentum": 1.0}, "momentum"),
        ({"schedule": "linear"}, "schedule"),
        ({"schedule": "cosine", "epochs": 10, "warmup_epochs": 10}, "warmup_epochs"),
        ({"schedule": "step", "warmup_epochs": 1}, "warmup_epochs"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"early_stopping_patience": -1}, "early_stopping_patience"),
        ({"precision": "float16"}, "precision"),
        ({"jit_compile": "yes"}, "jit_compile"),
        ({"deterministic": "yes"}, "deterministic"),
        ({"deterministic": 1}, "deterministic"),
    ],
)
def test_bad_values_are_rejected_with_the_setting_named(overrides, setting):
    with pytest.raises(ConfigError, match=setting):
        load_config(**overrides)


def test_input_too_small_for_the_preset_is_rejected():
    with pytest.raises(ConfigError, match="image_size"):
        load_config(preset="resnet18", image_size=16)


def test_unreadable_config_file_is_reported(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("epochs = = 3", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
