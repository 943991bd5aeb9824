"""Hyperparameter search with KerasTuner: every trial is a training run.

A random search samples settings from `search_space`, trains each sample with
the project's own fit loop (training.train, as `train` does) and
ranks the samples by their best validation accuracy. The search directory
holds KerasTuner's state (so an interrupted search resumes), one run directory
per trial, a results table, and `best.toml`, the best trial's settings.
"""

import csv
import dataclasses
from pathlib import Path

import keras
import keras_tuner

from . import training
from .config import AUTO, OPTIMIZERS, PRESETS, SCHEDULES, Config, ProjectError

OBJECTIVE = "val_accuracy"


def search_space(config: Config) -> keras_tuner.HyperParameters:
    """The settings a search samples, and their ranges: edit to search others.

    Every name is a field of Config; the other settings come from `config`.
    A setting in a conditional scope is sampled only where it applies (weight
    decay for adamw and sgd, momentum for sgd, warm-up for the cosine
    schedule); where it does not, the trial takes its default.
    """
    hp = keras_tuner.HyperParameters()
    hp.Choice("optimizer", list(OPTIMIZERS))
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    with hp.conditional_scope("optimizer", ["adamw", "sgd"]):
        hp.Float("weight_decay", 1e-5, 1e-1, sampling="log")
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Choice("momentum", [0.0, 0.9, 0.99])
    hp.Choice("schedule", list(SCHEDULES))
    with hp.conditional_scope("schedule", ["cosine"]):
        # At most a third of the epochs, and fewer than all of them.
        hp.Choice("warmup_epochs", list(range(config.epochs // 3 + 1)))
    hp.Choice("label_smoothing", [0.0, 0.1, 0.2])
    hp.Choice("dropout_rate", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    hp.Choice("batch_size", [16, 32, 64, 128])
    # The presets that fit the input: each needs a minimum image_size
    # ("auto" makes it at least that).
    # A keras.applications backbone has no preset: none is sampled then.
    if config.backbone == "resnet":
        presets = [
            name
            for name, preset in PRESETS.items()
            if config.image_size == AUTO or config.image_size >= preset.downsampling
        ]
        hp.Choice("preset", presets)
    return hp


def tune(config: Config, search_dir: Path, trials: int) -> list[dict]:
    """Run (or resume) a random search of `trials` trials in search_dir.

    Args:
        config: The settings of every trial, but for those the search samples.
        search_dir: The search's directory; a search already there resumes,
            its finished trials kept and an interrupted one continued.
        trials: How many trials the search has in all, finished ones included.

    Returns:
        The results table: one row per trial (see results_table).
    """
    search = TrainingSearch(config, search_dir, trials)
    try:
        search.search()
    except keras_tuner.errors.FatalError as error:
        if isinstance(error.__cause__, ProjectError):
            raise error.__cause__ from None
        raise
    return results_table(search)


def trial_config(config: Config, hp: keras_tuner.HyperParameters) -> Config:
    """`config` with a trial's sampled settings; those it did not sample, default."""
    defaults = Config()
    unsampled = {
        setting.name: getattr(defaults, setting.name)
        for setting in hp.space
        if not hp.is_active(setting)
    }
    return dataclasses.replace(config, **unsampled, **hp.values).validate()


def results_table(search: keras_tuner.Tuner) -> list[dict]:
    """Every trial started so far: id, status, score, and its sampled settings.

    A setting that a trial did not sample (one that only applies to some
    values of another) is None, as is the score of a trial that failed.
    """
    oracle = search.oracle
    names = [hp.name for hp in oracle.get_space().space]
    return [
        {
            "trial": trial.trial_id,
            "status": trial.status,
            OBJECTIVE: trial.score,
            **{name: trial.hyperparameters.values.get(name) for name in names},
        }
        for trial in (oracle.trials[trial_id] for trial_id in oracle.start_order)
    ]


class TrainingSearch(keras_tuner.RandomSearch):
    """A random search whose trials are the project's own training runs.

    Overriding run_trial, rather than HyperModel.build and fit, leaves the
    whole run to training.train: the model is built in the distribution
    strategy's scope, trained by the fit loop, checkpointed,
    logged and saved, exactly as `train` does.
    """

    def __init__(self, config: Config, search_dir: Path, trials: int):
        self.config = config
        super().__init__(
            objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
            max_trials=trials,
            seed=config.seed,
            hyperparameters=search_space(config),
            directory=search_dir.parent,
            project_name=search_dir.name,
            overwrite=False,
        )

    def run_trial(self, trial, *args, **kwargs) -> float:
        config = trial_config(self.config, trial.hyperparameters)
        # KerasTuner's trial_<id> directory holds the trial's run too.
        run_dir = Path(self.get_trial_dir(trial.trial_id))
        # A trial interrupted after an epoch continues from its checkpoint.
        resume = (run_dir / "checkpoints" / "checkpoint").is_file()
        keras.backend.clear_session()
        try:
            history = training.train(config, run_dir, resume=resume)
        except ProjectError as error:
            # Bad data fails every trial alike: stop, and say why.
            raise keras_tuner.errors.FatalError(str(error)) from error
        return max(history[OBJECTIVE])

    def on_trial_end(self, trial) -> None:
        super().on_trial_end(trial)
        if trial.message:
            print(f"Trial {trial.trial_id} failed: {trial.message.splitlines()[-1]}")
        _write_results(self)


def _write_results(search: TrainingSearch) -> None:
    """results.csv, results.md and best.toml in the search directory."""
    search_dir = Path(search.project_dir)
    rows = results_table(search)
    with (search_dir / "results.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (search_dir / "results.md").write_text(markdown_table(rows), encoding="utf-8")
    for best in search.oracle.get_best_trials(1):
        config = trial_config(search.config, best.hyperparameters)
        (search_dir / "best.toml").write_text(
            f"# Trial {best.trial_id} of {search_dir}: {OBJECTIVE} {best.score:.4f}\n"
            + config.to_toml(),
            encoding="utf-8",
        )


def markdown_table(rows: list[dict]) -> str:
    """The results as a Markdown table, floats to 4 significant digits."""

    def cell(value) -> str:
        if value is None:  # not sampled, or no score
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = [
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(map(cell, row.values())) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"
