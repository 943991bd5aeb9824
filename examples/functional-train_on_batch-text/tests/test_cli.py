"""The command line, called in-process with argument lists."""

from example_functional_train_on_batch_text.cli import main


def test_bad_setting_stops_before_training(capsys):
    assert main(["train", "--learning-rate", "-1"]) == 1
    assert "learning_rate must be a positive number" in capsys.readouterr().err


def test_unknown_preset_names_the_choices(capsys):
    assert main(["train", "--preset", "resnet9"]) == 1
    assert "preset must be one of" in capsys.readouterr().err


def test_missing_model_is_one_line(capsys, tmp_path):
    assert main(["evaluate", str(tmp_path / "missing.keras")]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"error: no model file at {tmp_path / 'missing.keras'}"
    )


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
    assert "round-trip max difference" in capsys.readouterr().out
