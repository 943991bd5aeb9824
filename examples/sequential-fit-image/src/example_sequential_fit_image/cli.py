"""Command line: train, evaluate, baseline, predict, export, tune and benchmark.

    python -m example_sequential_fit_image COMMAND --help

Settings are checked before TensorFlow is imported, so a bad value fails in
a fraction of a second with one line naming the setting. TensorFlow's
start-up notices show only with --verbose (see startup.py).
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from .config import AUTO, HELP, Config, ProjectError, load_config
from .startup import quiet_tensorflow, use_backend

DEFAULT_CONFIG = Path("configs/default.toml")
# The settings a resumed run may change; the others shape its model or its data.
RESUMABLE = (
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "schedule",
    "lr_decay_epochs",
    "lr_decay_factor",
    "warmup_epochs",
    "label_smoothing",
    "early_stopping_patience",
    "jit_compile",
    "deterministic",
    "strategy",
    "backend",
    "augment",
    "cache",
    "freeze_backbone_epochs",
    "fine_tune_lr_factor",
)
# Trials of a search when --trials is not given.
DEFAULT_TRIALS = 10
# The settings evaluate takes: which data, and how it is split and batched.
DATA_SETTINGS = ("data_dir", "validation_split", "batch_size", "seed", "backend")
# The settings baseline takes: which data, and how it is split; how it is decoded.
BASELINE_SETTINGS = (
    "data_dir",
    "validation_split",
    "seed",
    "channels",
    "alpha_background",
    "backend",
)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    args = _parser().parse_args(argv)
    if not args.verbose:
        quiet_tensorflow()
    try:
        return args.command(args)
    except ProjectError as error:
        return _fail(error)


def train(args) -> int:
    """Train from scratch, or resume a run (--resume; --run-dir: either)."""
    overrides = _overrides(args)
    resume = False
    if args.resume:
        run_dir, resume = Path(args.resume), True
        config = _resumed_config(run_dir, args.config, overrides)
    elif args.run_dir:
        run_dir = Path(args.run_dir)
        config = load_config(_config_path(args), **overrides)
        resume = _is_run(run_dir)
        if resume:
            config = _same_run(run_dir, config)
    else:
        config = load_config(_config_path(args), **overrides)
        run_dir = _new_run_dir(Path(config.output_dir))
    use_backend(config.backend)
    if resume and (run_dir / "class_names.json").exists():
        from .data import check_class_names

        check_class_names(run_dir / "class_names.json", config)
    from .training import train as train_model

    model_path = run_dir / "model.keras"
    saved_before = _file_identity(model_path)
    try:
        history = train_model(config, run_dir, resume=resume)
    except KeyboardInterrupt:
        if not (run_dir / "config.toml").is_file():
            print("\nInterrupted before the run was made.", file=sys.stderr)
            return 130
        again = f"--run-dir {run_dir} ..." if args.run_dir else f"--resume {run_dir}"
        print(
            "\nInterrupted. Continue from the last completed epoch (afresh if none "
            f"was) with:\n  python -m {__package__} train {again}",
            file=sys.stderr,
        )
        return 130
    final = {key: values[-1] for key, values in history.items() if values}
    print(
        "Final metrics: "
        + ", ".join(f"{key}={value:.4f}" for key, value in final.items())
    )
    accuracies = history.get("val_accuracy", [])
    if accuracies:
        best = max(range(len(accuracies)), key=accuracies.__getitem__)
        print(
            f"Best epoch: {best + 1} of {len(accuracies)}, "
            f"val_accuracy={accuracies[best]:.4f} (best.keras)"
        )
    # Written by the chief alone; not again by a rerun of a finished run.
    if model_path.is_file() and _file_identity(model_path) != saved_before:
        from .report import predict_split, write_report
        from .saving import load_model

        model = load_model(model_path, compile=False)
        config = load_config(run_dir / "config.toml")
        print(write_report(*predict_split(model, config), run_dir / "report"))
    print(f"Run directory: {run_dir}  (model: {model_path})")
    return 0


def evaluate(args) -> int:
    """Evaluate a saved model on the validation split; --report: where it fails."""
    config = _evaluated_config(args.model, _overrides(args))
    use_backend(config.backend)
    import keras

    from .data import check_class_names, load_datasets
    from .report import predict_split, write_report
    from .saving import load_model

    model = load_model(args.model, compile=False)
    names = Path(args.model).parent / "class_names.json"
    if names.exists():
        check_class_names(names, config)
    from .saving import image_shape

    # The images at the size the model takes, whatever the config says.
    size, _, channels = image_shape(model)
    config = dataclasses.replace(config, image_size=size, channels=channels)
    data = load_datasets(config)
    validation, saved = data.validation, model
    where = f"the data ({config.data_dir or 'the embedded data'})"
    # NumPy: JAX's predict_on_batch takes no TensorFlow tensor.
    inputs, _ = next(validation.as_numpy_iterator())
    outputs = model.predict_on_batch(inputs).shape[-1]
    _check_class_count(outputs, args.model, data.class_names, where)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    results = model.evaluate(validation, return_dict=True, verbose=0)
    print(", ".join(f"{key}={value:.4f}" for key, value in results.items()))
    if args.report is not None:
        print(write_report(*predict_split(saved, data.config), args.report))
    return 0


def baseline(args) -> int:
    """Score a scikit-learn baseline on the validation split the model uses."""
    config = load_config(_config_path(args), **_overrides(args))
    use_backend(config.backend)
    from .baseline import run_baseline

    print(run_baseline(config))
    return 0


def predict(args) -> int:
    """Print the most likely class and its probability for each input."""
    import numpy as np
    import tensorflow as tf

    from .data import read_image
    from .saving import image_shape, load_model

    class_names = _class_names(args.model)
    model = load_model(args.model, compile=False)
    size, _, channels = image_shape(model)
    # Transparency composited as in training: the run's alpha_background.
    background = _model_config(args.model, {}).alpha_background
    images = tf.stack(
        [read_image(path, size, channels, background) for path in args.inputs]
    )
    probabilities = model.predict(images, verbose=0)
    saved = args.model.parent / "class_names.json"
    _check_class_count(probabilities.shape[-1], args.model, class_names, saved)
    for source, row in zip(args.inputs, probabilities, strict=True):
        best = int(np.argmax(row))
        name = class_names[best] if class_names else str(best)
        print(f"{source}\t{name}\t{row[best]:.4f}")
    return 0


def export(args) -> int:
    """Export for serving, run the export, and compare it with the Keras model.

    The exports are TensorFlow's: a model trained on any backend is reloaded
    under TensorFlow (a .keras file loads on every backend) and exported there.
    """
    use_backend("tensorflow")
    import numpy as np
    import tensorflow as tf

    from .saving import (
        export_model,
        export_target,
        image_shape,
        install_export,
        load_export,
        load_model,
        run_export,
        staged_export,
    )

    export_target(args.directory, args.format, args.overwrite)  # or refuse
    model = load_model(args.model, compile=False)
    # Written and checked beside the target, then moved into place: the old
    # export or the new one, never a mix.
    with staged_export(args.directory) as partial:
        written = export_model(model, partial, format=args.format)
        sample = tf.random.uniform((4, *image_shape(model)), maxval=255.0, seed=0)
        expected = model.predict(sample, verbose=0)
        if args.format == "saved_model":
            exported = load_export(written)  # kept: its variables live with it
            predicted, tolerance = exported.serve(sample), 1e-5
        else:
            predicted, tolerance = run_export(written, sample.numpy()), 1e-4
        difference = np.max(np.abs(predicted - expected))
        if difference > tolerance:
            return _fail(
                f"the {args.format} export predicts differently from the Keras model "
                f"(max difference {difference:.2e}, above {tolerance:.0e})"
            )
        path = install_export(partial, args.directory, args.format)
    print(
        f"Exported {args.model} to {path} ({args.format}; max difference from "
        f"the Keras model {difference:.1e})"
    )
    return 0


def tune(args) -> int:
    """Search hyperparameters with KerasTuner, or resume a search."""
    if args.trials is not None and args.trials < 1:
        raise ProjectError(f"--trials must be a positive integer, got {args.trials}")
    overrides = _overrides(args)
    if args.resume:
        search_dir = Path(args.resume)
        config, trials = _resumed_search(search_dir, args.config, overrides)
    else:
        config = load_config(_config_path(args), **overrides)
        if config.data_dir:
            from .data import load_split

            load_split(config)  # bad data fails here, before the search is made
        search_dir = _new_run_dir(Path(config.output_dir), prefix="tune-")
        search_dir.mkdir(parents=True)
        (search_dir / "config.toml").write_text(config.to_toml(), encoding="utf-8")
        trials = DEFAULT_TRIALS
    use_backend(config.backend)
    trials = args.trials or trials
    (search_dir / "search.json").write_text(json.dumps({"trials": trials}))
    from .tuning import markdown_table
    from .tuning import tune as search

    try:
        rows = search(config, search_dir, trials)
    except KeyboardInterrupt:
        print(
            "\nInterrupted. Continue the search (an interrupted trial from its last "
            f"epoch) with:\n  python -m {__package__} tune --resume {search_dir}",
            file=sys.stderr,
        )
        return 130
    print(markdown_table(rows), end="")
    best = search_dir / "best.toml"
    if not best.is_file():
        return _fail(f"no trial of {search_dir} completed")
    print(f"Results: {search_dir / 'results.csv'} and results.md")
    print(
        f"The best trial's settings: {best}. Train with them:\n"
        f"  python -m {__package__} train --config {best}"
    )
    return 0


def benchmark(args) -> int:
    """Time training steps and the input pipeline alone on this machine."""
    for name in ("steps", "warmup"):
        if getattr(args, name) < 1:
            value = getattr(args, name)
            raise ProjectError(f"--{name} must be a positive integer, got {value}")
    config = load_config(_config_path(args), **_overrides(args))
    use_backend(config.backend)
    from .benchmark import benchmark as measure
    from .benchmark import report

    figures = measure(config, steps=args.steps, warmup=args.warmup)
    print(json.dumps(figures) if args.json else report(figures))
    return 0


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad command line in one line."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="example_sequential_fit_image",
        description=__doc__.splitlines()[0],
    )
    commands = parser.add_subparsers(
        required=True, metavar="COMMAND", parser_class=_Parser
    )

    command = commands.add_parser("train", help="train a model")
    command.add_argument(
        "--config", type=Path, help=f"TOML settings (default: {DEFAULT_CONFIG})"
    )
    where = command.add_mutually_exclusive_group()
    where.add_argument(
        "--resume", metavar="RUN_DIR", help="continue an interrupted run"
    )
    where.add_argument(
        "--run-dir",
        metavar="DIR",
        help="the run's directory: made and trained the first time, resumed on "
        "every rerun of the same command (for schedulers that rerun jobs)",
    )
    _add_overrides(command)
    command.set_defaults(command=train)

    command = commands.add_parser("evaluate", help="evaluate a saved model")
    command.add_argument("model", type=Path, help="a .keras file")
    command.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write per-class scores, a confusion matrix and the mistakes here",
    )
    _add_overrides(command, DATA_SETTINGS)
    command.set_defaults(command=evaluate)

    command = commands.add_parser(
        "baseline", help="score a scikit-learn baseline on the same validation split"
    )
    command.add_argument(
        "--config", type=Path, help=f"TOML settings (default: {DEFAULT_CONFIG})"
    )
    _add_overrides(command, BASELINE_SETTINGS)
    command.set_defaults(command=baseline)

    command = commands.add_parser("predict", help="classify image files")
    command.add_argument("model", type=Path, help="a .keras file")
    command.add_argument("inputs", nargs="+", metavar="INPUT", help="an image file")
    command.set_defaults(command=predict)

    command = commands.add_parser("export", help="export the model for serving")
    command.add_argument("model", type=Path, help="a .keras file")
    command.add_argument("directory", type=Path, help="where to write the export")
    command.add_argument(
        "--format",
        choices=("saved_model", "onnx", "litert"),
        default="saved_model",
        help="saved_model (default), onnx (model.onnx) or litert (model.tflite)",
    )
    command.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an export already at DIR (in one step: the old or the new)",
    )
    command.set_defaults(command=export)

    command = commands.add_parser("tune", help="search hyperparameters (KerasTuner)")
    command.add_argument(
        "--trials",
        type=int,
        help=f"trials in all, finished ones included (default: {DEFAULT_TRIALS})",
    )
    command.add_argument(
        "--config", type=Path, help=f"TOML settings (default: {DEFAULT_CONFIG})"
    )
    command.add_argument(
        "--resume", metavar="SEARCH_DIR", help="continue an interrupted search"
    )
    _add_overrides(command)
    command.set_defaults(command=tune)

    command = commands.add_parser(
        "benchmark", help="time training and the input pipeline on this machine"
    )
    command.add_argument(
        "--steps", type=int, default=20, help="training steps timed (default: 20)"
    )
    command.add_argument(
        "--warmup", type=int, default=5, help="steps run first, untimed (default: 5)"
    )
    command.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object"
    )
    command.add_argument(
        "--config", type=Path, help=f"TOML settings (default: {DEFAULT_CONFIG})"
    )
    _add_overrides(command)
    command.set_defaults(command=benchmark)
    for command in commands.choices.values():
        command.add_argument(
            "--verbose",
            action="store_true",
            help="show TensorFlow's start-up messages (oneDNN, CUDA, CPU features)",
        )
    return parser


def _add_overrides(parser: argparse.ArgumentParser, names=None) -> None:
    """One flag per setting (--batch-size for batch_size), overriding the config.

    Args:
        parser: The command's parser.
        names: The settings to offer; all of them by default.
    """
    group = parser.add_argument_group("settings (override the config file)")
    for field in dataclasses.fields(Config):
        if names is not None and field.name not in names:
            continue
        flag = "--" + field.name.replace("_", "-")
        # config.HELP: the same text as default.toml's comment (% escaped for argparse).
        text = HELP[field.name].replace("%", "%%")
        if field.type is bool:
            # --deterministic sets true, --no-deterministic false.
            group.add_argument(
                flag,
                dest=f"set_{field.name}",
                action=argparse.BooleanOptionalAction,
                help=text,
            )
            continue
        if field.type == int | str:
            group.add_argument(
                flag,
                dest=f"set_{field.name}",
                type=_int_or_auto,
                metavar="INT|auto",
                help=text,
            )
            continue
        group.add_argument(
            flag,
            dest=f"set_{field.name}",
            type=field.type,
            metavar=field.type.__name__.upper(),
            help=text,
        )


def _int_or_auto(text: str):
    """Parse a flag that takes a number or "auto" (derived from the data)."""
    if text == AUTO:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'must be an integer or "{AUTO}", got {text!r}'
        ) from None


def _overrides(args) -> dict:
    """The settings given as flags; KERAS_BACKEND, if set, is the default backend."""
    overrides = {
        name.removeprefix("set_"): value
        for name, value in vars(args).items()
        if name.startswith("set_") and value is not None
    }
    if "KERAS_BACKEND" in os.environ:
        overrides.setdefault("backend", os.environ["KERAS_BACKEND"])
    return overrides


def _config_path(args) -> Path | None:
    """The config file a command reads: --config, else configs/default.toml."""
    if args.config is not None:
        return args.config
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _resumed_config(run_dir: Path, config_path: Path | None, overrides: dict):
    """The settings of the run in run_dir, with the overrides a resume allows."""
    saved = run_dir / "config.toml"
    if not saved.is_file():
        raise ProjectError(f"no run to resume in {run_dir} (it has no config.toml)")
    if config_path is not None:
        raise ProjectError("--resume uses the run's own config.toml; drop --config")
    config = load_config(saved)
    for name, value in overrides.items():
        if name not in RESUMABLE and value != getattr(config, name):
            flag = "--" + name.replace("_", "-")
            raise ProjectError(
                f"{flag} cannot change when resuming: {run_dir} was trained with "
                f"{name}={getattr(config, name)!r}"
            )
    return load_config(saved, **overrides)


def _is_run(run_dir: Path) -> bool:
    """Whether --run-dir names a run already made (False: a new one goes there).

    Raises:
        ProjectError: It is a file, or a directory of other things.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ProjectError(f"--run-dir {run_dir} is a file, not a run directory")
    if (run_dir / "config.toml").is_file():
        return True
    # What a run killed while it made its first files can leave.
    others = [
        path.name
        for path in (run_dir.iterdir() if run_dir.is_dir() else ())
        if path.name not in ("class_names.json", "summary.txt")
        and not path.name.endswith(".partial")
    ]
    if others:
        raise ProjectError(
            f"--run-dir {run_dir} holds {', '.join(sorted(others)[:3])} but no run "
            "(no config.toml); name a new or empty directory"
        )
    return False


def _same_run(run_dir: Path, config: Config) -> Config:
    """The run's settings, with those of this command that a resume may change.

    A setting derived from the data ("auto" in place of a number) matches the
    number the run derived.

    Raises:
        ProjectError: The command sets what the run's model or data cannot take.
    """
    saved = load_config(run_dir / "config.toml")
    for field in dataclasses.fields(Config):
        name = field.name
        ours, theirs = getattr(config, name), getattr(saved, name)
        derived = ours == "auto" and field.type is not str
        if name in RESUMABLE or name == "output_dir" or derived or ours == theirs:
            continue
        raise ProjectError(
            f"{name}={ours!r} differs from {run_dir / 'config.toml'} "
            f"({name}={theirs!r}): a run keeps its model and data settings"
        )
    changes = {name: getattr(config, name) for name in RESUMABLE}
    return dataclasses.replace(saved, **changes).validate()


def _resumed_search(search_dir: Path, config_path, overrides: dict):
    """(settings, trials) of the search in search_dir; a resume changes no setting."""
    saved = search_dir / "config.toml"
    if not (saved.is_file() and (search_dir / "search.json").is_file()):
        raise ProjectError(f"no search to resume in {search_dir}")
    if config_path is not None:
        raise ProjectError("--resume uses the search's own config.toml; drop --config")
    config = load_config(saved)
    for name, value in overrides.items():
        if value != getattr(config, name):
            flag = "--" + name.replace("_", "-")
            raise ProjectError(
                f"{flag} cannot change when resuming: every trial of {search_dir} "
                f"uses {name}={getattr(config, name)!r}"
            )
    search = json.loads((search_dir / "search.json").read_text(encoding="utf-8"))
    return config, search["trials"]


def _model_config(model: Path, overrides: dict) -> Config:
    """The settings of the run that saved a model (its config.toml), else defaults."""
    run_config = Path(model).parent / "config.toml"
    return load_config(run_config if run_config.is_file() else None, **overrides)


def _evaluated_config(model: Path, overrides: dict) -> Config:
    """The settings evaluate reads its data with: the model's run's, or the flags.

    Away from its run (no config.toml beside it), a model is evaluated only
    on data named with --data-dir, never on the embedded data by default.
    """
    if not Path(model).is_file():
        raise ProjectError(f"no model file at {model}")
    if not (Path(model).parent / "config.toml").is_file() and (
        "data_dir" not in overrides
    ):
        raise ProjectError(
            f"no config.toml beside {model}: evaluate reads the data settings of "
            "its run from there; keep the model in its run directory or pass --data-dir"
        )
    return _model_config(model, overrides)


def _class_names(model: Path) -> list[str]:
    """The run's class names (class_names.json beside the model); [] if none."""
    path = Path(model).parent / "class_names.json"
    if not path.exists():
        return []
    from .data import read_class_names

    return read_class_names(path)


def _check_class_count(outputs: int, path: Path, class_names: list[str], source):
    """Refuse class names (the run's, or the data's) of another count than the model's.

    Args:
        outputs: The probabilities the model gives per input: its classes.
        path: The model file, named in the error.
        class_names: The names; none (an empty list) passes.
        source: Where the names come from, named in the error.
    """
    if class_names and len(class_names) != outputs:
        raise ProjectError(
            f"{path} tells {outputs} classes apart; {source} names "
            f"{len(class_names)}: train a model for these classes"
        )


def _new_run_dir(output_dir: Path, prefix: str = "") -> Path:
    """output_dir/<date>-<time>, with a suffix if two runs start in one second."""
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    run_dir, suffix = output_dir / stamp, 1
    while run_dir.exists():
        suffix += 1
        run_dir = output_dir / f"{stamp}-{suffix}"
    return run_dir


def _file_identity(path: Path):
    """What tells a file replaced from the same file: (inode, mtime); None if none."""
    if not path.is_file():
        return None
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def _fail(error) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1
