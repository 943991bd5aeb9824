"""Hyperparameter search: seeded, resumable, and its best.toml trains."""

import csv
import dataclasses

import numpy as np
import pytest

from example_functional_train_on_batch_text import tuning
from example_functional_train_on_batch_text.cli import main
from example_functional_train_on_batch_text.config import Config, load_config
from example_functional_train_on_batch_text.tuning import TrainingSearch


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Two small classes of .txt files."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for name, words in (("music", "guitar song drum"), ("sports", "goal team race")):
        (root / name).mkdir()
        for index in range(20):
            sentence = rng.choice(words.split() + ["the", "a", "of"], size=8)
            (root / name / f"{index}.txt").write_text(" ".join(sentence))
    return root


def sampled(config: Config, search_dir, trials: int) -> list[dict]:
    """The settings a search's first trials sample, without training them."""
    search = TrainingSearch(config, search_dir, trials)
    return [
        search.oracle.create_trial(f"tuner{index}").hyperparameters.values
        for index in range(trials)
    ]


def test_the_seed_fixes_the_sampled_settings(tmp_path):
    first = sampled(Config(seed=1), tmp_path / "first", 3)
    assert sampled(Config(seed=1), tmp_path / "again", 3) == first
    assert sampled(Config(seed=2), tmp_path / "other", 3) != first
    assert len({tuple(values.items()) for values in first}) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trials", "0"], "--trials must be a positive integer, got 0"),
        (["--resume", "no/such/search"], "no search to resume in no/such/search"),
    ],
)
def test_bad_tune_arguments_are_one_line(capsys, argv, message):
    assert main(["tune", *argv]) == 1
    assert capsys.readouterr().err == f"error: {message}\n"


def test_ctrl_c_says_how_to_resume_the_search(capsys, monkeypatch, tmp_path):
    def interrupted_tune(config, search_dir, trials):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning, "tune", interrupted_tune)
    assert main(["tune", "--output-dir", str(tmp_path)]) == 130
    (search_dir,) = tmp_path.iterdir()
    assert f"tune --resume {search_dir}" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_resumes_and_its_best_config_trains(data_dir, tmp_path, capsys):
    settings = [
        "--data-dir",
        str(data_dir),
        "--sequence-length",
        "8",
        "--epochs",
        "1",
        "--output-dir",
        str(tmp_path / "searches"),
    ]
    assert main(["tune", "--trials", "1", *settings]) == 0
    (search_dir,) = (tmp_path / "searches").iterdir()
    first_model = search_dir / "trial_0" / "model.keras"
    finished = first_model.stat().st_mtime_ns

    assert main(["tune", "--resume", str(search_dir), "--epochs", "2"]) == 1
    assert "--epochs cannot change when resuming" in capsys.readouterr().err
    assert main(["tune", "--resume", str(search_dir), "--trials", "2"]) == 0
    assert "| 1 | COMPLETED |" in capsys.readouterr().out
    assert first_model.stat().st_mtime_ns == finished  # kept, not trained again
    with (search_dir / "results.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["trial"], row["status"]) for row in rows] == [
        ("0", "COMPLETED"),
        ("1", "COMPLETED"),
    ]
    best = max(rows, key=lambda row: float(row["val_accuracy"]))
    base = load_config(search_dir / "config.toml")
    # The best trial's settings; one it did not sample (empty) takes its default.
    sampled = {
        name: type(getattr(base, name))(value) if value else getattr(Config(), name)
        for name, value in best.items()
        if name not in ("trial", "status", "val_accuracy")
    }
    config = load_config(search_dir / "best.toml")
    assert config == dataclasses.replace(base, **sampled)
    runs = tmp_path / "runs"
    best_toml = str(search_dir / "best.toml")
    assert main(["train", "--config", best_toml, "--output-dir", str(runs)]) == 0
    (run_dir,) = runs.iterdir()
    trained = load_config(run_dir / "config.toml")
    # The run writes the numbers its "auto" settings became.
    auto = {
        name: getattr(trained, name)
        for name, value in dataclasses.asdict(config).items()
        if value == "auto"
    }
    config = dataclasses.replace(config, **auto)
    assert trained == dataclasses.replace(config, output_dir=str(runs))
