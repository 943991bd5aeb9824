"""The command line, called in-process with argument lists.

Every refusal stops before any training, with one line on stderr that names
what to fix.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from example_subclassing_custom_image import training
from example_subclassing_custom_image.cli import main
from example_subclassing_custom_image.config import Config
from example_subclassing_custom_image.model import build_model
from example_subclassing_custom_image.saving import save_model


def error_line(capsys) -> str:
    """The one line the command wrote to stderr."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


def write_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((16, 16), dtype="uint8")).save(path)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learning-rate", "-1"], "learning_rate must be a positive number"),
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--preset", "resnet9"], "preset must be one of"),
        (
            ["--preset", "resnet18", "--image-size", "16"],
            "image_size must be at least 32 for preset 'resnet18'",
        ),
        (["--data-dir", "no/such/directory"], "data_dir must be an existing"),
        (["--config", "no/such/config.toml"], "cannot read config file"),
    ],
)
def test_bad_setting_stops_before_training(capsys, tmp_path, flags, message):
    output_dir = tmp_path / "runs"
    assert main(["train", *flags, "--output-dir", str(output_dir)]) == 1
    assert message in error_line(capsys)
    assert not output_dir.exists()


def test_empty_data_directory_is_refused(capsys, tmp_path):
    output_dir = tmp_path / "runs"
    (tmp_path / "data").mkdir()
    argv = ["train", "--data-dir", str(tmp_path / "data")]
    assert main([*argv, "--output-dir", str(output_dir)]) == 1
    assert "at least two classes; found 0" in error_line(capsys)
    assert not output_dir.exists()


def test_single_class_is_refused(capsys, tmp_path):
    output_dir = tmp_path / "runs"
    write_file(tmp_path / "data" / "cats" / "a.png")
    argv = ["train", "--data-dir", str(tmp_path / "data")]
    assert main([*argv, "--output-dir", str(output_dir)]) == 1
    assert "at least two classes; found 1: ['cats']" in error_line(capsys)
    assert not output_dir.exists()


def test_class_folders_without_images_are_refused(capsys, tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "data" / name).mkdir(parents=True)
    (tmp_path / "data" / "cats" / "notes.md").write_text("not data")
    assert main(["train", "--data-dir", str(tmp_path / "data")]) == 1
    assert "has no .png/.jpg/.jpeg/.gif/.bmp/.webp files" in error_line(capsys)


def test_only_unreadable_files_in_one_class_is_refused(capsys, tmp_path):
    write_file(tmp_path / "data" / "cats" / "a.png")
    (tmp_path / "data" / "dogs").mkdir()
    (tmp_path / "data" / "dogs" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert main(["train", "--data-dir", str(tmp_path / "data")]) == 1
    assert "dogs of data directory" in error_line(capsys)


def test_resume_needs_a_run_directory(capsys, tmp_path):
    assert main(["train", "--resume", str(tmp_path)]) == 1
    assert error_line(capsys) == (
        f"error: no run to resume in {tmp_path} (it has no config.toml)"
    )


def test_resume_refuses_settings_that_change_the_model(capsys, tmp_path):
    (tmp_path / "config.toml").write_text('preset = "small"\n', encoding="utf-8")
    assert main(["train", "--resume", str(tmp_path), "--preset", "resnet18"]) == 1
    assert "--preset cannot change when resuming" in error_line(capsys)
    assert main(["train", "--resume", str(tmp_path), "--config", "x.toml"]) == 1
    assert "drop --config" in error_line(capsys)


def test_a_value_of_the_wrong_type_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--epochs", "three"])
    assert exit_.value.code == 2
    assert "argument --epochs: invalid int value: 'three'" in error_line(capsys)


def test_baseline_scores_the_validation_split(capsys):
    assert main(["baseline"]) == 0
    line = capsys.readouterr().out.strip()
    match = re.fullmatch(
        r"baseline accuracy=(\S+) \((\S+), (\d+) validation (\w+)\)", line
    )
    assert match, line
    # The 1797 digits, 20% held out, as for training.
    assert match.group(2, 3, 4) == ("pixels+logreg", "359", "images")
    assert float(match.group(1)) > 0.8


def test_baseline_reads_a_data_directory(capsys, tmp_path):
    for name in ("cats", "dogs"):
        for index in range(5):
            write_file(tmp_path / "data" / name / f"{index}.png")
    assert main(["baseline", "--data-dir", str(tmp_path / "data")]) == 0
    assert "2 validation images)" in capsys.readouterr().out


@pytest.mark.parametrize("run_made", [False, True])
def test_ctrl_c_says_whether_the_run_can_resume(
    capsys, monkeypatch, tmp_path, run_made
):
    def interrupted_train(config, run_dir, *, resume):
        if run_made:  # its config.toml written: resumable, afresh if need be
            run_dir.mkdir(parents=True)
            (run_dir / "config.toml").write_text("")
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted_train)
    assert main(["train", "--output-dir", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    if run_made:
        (run_dir,) = tmp_path.iterdir()
        assert f"train --resume {run_dir}" in err
    else:
        assert "Interrupted before the run was made." in err


def test_training_option_flags_reach_the_config(monkeypatch, tmp_path):
    configs = []

    def recording_train(config, run_dir, *, resume):
        configs.append(config)
        return {}

    monkeypatch.setattr(training, "train", recording_train)
    flags = [
        *("--optimizer", "sgd", "--momentum", "0.5", "--schedule", "cosine"),
        *("--warmup-epochs", "2", "--label-smoothing", "0.1"),
        *("--early-stopping-patience", "3", "--precision", "mixed_bfloat16"),
        *("--jit-compile", "false", "--deterministic"),
    ]
    assert main(["train", *flags, "--output-dir", str(tmp_path)]) == 0
    assert main(["train", "--no-deterministic", "--output-dir", str(tmp_path)]) == 0
    first, second = configs
    assert (first.optimizer, first.momentum, first.schedule) == ("sgd", 0.5, "cosine")
    assert (first.warmup_epochs, first.label_smoothing) == (2, 0.1)
    assert (first.early_stopping_patience, first.precision) == (3, "mixed_bfloat16")
    assert (first.jit_compile, first.deterministic) == ("false", True)
    assert second.deterministic is False


def test_missing_model_is_one_line(capsys, tmp_path):
    assert main(["evaluate", str(tmp_path / "missing.keras")]) == 1
    assert error_line(capsys) == f"error: no model file at {tmp_path / 'missing.keras'}"


def test_evaluate_predict_and_export_a_trained_model(trained_run, capsys, tmp_path):
    run_dir, _ = trained_run
    model = str(run_dir / "model.keras")
    assert main(["evaluate", model]) == 0
    assert "accuracy=" in capsys.readouterr().out
    image = tmp_path / "digit.png"
    write_file(image)
    assert main(["predict", model, str(image)]) == 0
    name = capsys.readouterr().out.strip().split("\t")[1]
    assert name in [str(digit) for digit in range(10)]
    (tmp_path / "notes.png").write_text("not an image")
    assert main(["predict", model, str(tmp_path / "notes.png")]) == 1
    assert "cannot read" in error_line(capsys)
    assert main(["predict", model, str(tmp_path / "missing.png")]) == 1
    assert "no image file at" in error_line(capsys)
    assert main(["export", model, str(tmp_path / "export")]) == 0
    assert "max difference from the Keras model" in capsys.readouterr().out


def test_predict_and_export_take_the_image_shape_from_the_model(capsys, tmp_path):
    """A model file on its own (no run directory beside it), of another shape."""
    config = dataclasses.replace(Config(), image_size=24, channels=3)
    model = save_model(build_model(config, 3), tmp_path / "shared" / "model.keras")
    image = tmp_path / "photo.jpg"
    Image.fromarray(np.full((30, 40, 3), 200, dtype="uint8")).save(image)
    assert main(["predict", str(model), str(image)]) == 0
    assert capsys.readouterr().out.split("\t")[1] in ("0", "1", "2")
    assert main(["export", str(model), str(tmp_path / "export")]) == 0
    assert "max difference from the Keras model" in capsys.readouterr().out
