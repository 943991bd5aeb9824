"""The command line, called in-process with argument lists.

Every refusal stops before any training, with one line on stderr that names
what to fix.
"""

import re
from pathlib import Path

import pytest

from example_functional_train_on_batch_text import training
from example_functional_train_on_batch_text.cli import main


def error_line(capsys) -> str:
    """The one line the command wrote to stderr."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


def write_file(path: Path, content: str = "a few words of text") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learning-rate", "-1"], "learning_rate must be a positive number"),
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--preset", "resnet9"], "preset must be one of"),
        (
            ["--preset", "resnet18", "--sequence-length", "16"],
            "sequence_length must be at least 32 for preset 'resnet18'",
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
    write_file(tmp_path / "data" / "cats" / "a.txt")
    argv = ["train", "--data-dir", str(tmp_path / "data")]
    assert main([*argv, "--output-dir", str(output_dir)]) == 1
    assert "at least two classes; found 1: ['cats']" in error_line(capsys)
    assert not output_dir.exists()


def test_class_folders_without_texts_are_refused(capsys, tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "data" / name).mkdir(parents=True)
    (tmp_path / "data" / "cats" / "notes.md").write_text("not data")
    assert main(["train", "--data-dir", str(tmp_path / "data")]) == 1
    assert "has no .txt files" in error_line(capsys)


def test_only_unreadable_files_in_one_class_is_refused(capsys, tmp_path):
    write_file(tmp_path / "data" / "cats" / "a.txt")
    (tmp_path / "data" / "dogs").mkdir()
    (tmp_path / "data" / "dogs" / "b.txt").write_bytes(b"\xff\xfe not UTF-8")
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
    with pytest.raises(SystemExit):
        main(["train", "--max-tokens", "lots"])
    assert "argument --max-tokens: must be an integer or \"auto\", got 'lots'" in (
        error_line(capsys)
    )


def test_baseline_scores_the_validation_split(capsys):
    assert main(["baseline"]) == 0
    line = capsys.readouterr().out.strip()
    match = re.fullmatch(
        r"baseline accuracy=(\S+) \((\S+), (\d+) validation (\w+)\)", line
    )
    assert match, line
    # The generated corpus: 3000 texts, 20% held out, as for training.
    assert match.group(2, 3, 4) == ("tfidf+logreg", "600", "texts")
    assert float(match.group(1)) > 0.8


def test_baseline_reads_a_data_directory(capsys, tmp_path):
    for name in ("cats", "dogs"):
        for index in range(5):
            write_file(tmp_path / "data" / name / f"{index}.txt")
    assert main(["baseline", "--data-dir", str(tmp_path / "data")]) == 0
    assert "2 validation texts)" in capsys.readouterr().out


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
    assert (
        main(["predict", model, "the guitar band played a song", "bake the dough"]) == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split("\t")[1] in ("cooking", "music", "science", "sports")
    assert main(["export", model, str(tmp_path / "export")]) == 0
    assert "max difference from the Keras model" in capsys.readouterr().out
