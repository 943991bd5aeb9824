"""Training: a run from start to end, as every loop runs it.

`train` prepares the run (the strategy, data, model and optimizer), opens its
directory (new run files, or the last checkpoint of a resumed run), hands it
to the custom loop (loop.py), and saves the models. What every run
keeps, each epoch and at its end, is in runs.py.
"""

from pathlib import Path

import keras
import tensorflow as tf

from . import backbones, distribute, loop, optim, runs
from .config import Config
from .data import load_datasets
from .layers import dtype_policy
from .model import build_model


def train(
    config: Config, run_dir: Path, *, resume: bool = False
) -> dict[str, list[float]]:
    """Train a model as configured, writing everything the run makes to run_dir.

    The run directory holds `config.toml` (the settings used), `summary.txt`,
    `class_names.json`, `checkpoints/` (model and optimizer after each epoch,
    and in `checkpoints/best/` the weights of the best epoch so far), `logs/`
    (TensorBoard), `history.csv`, `training_curves.png` and, at the end,
    `model.keras` (the last epoch, or the best one with early stopping) and
    `best.keras` (the epoch with the best validation accuracy).

    Args:
        config: The validated settings.
        run_dir: The run's directory; created if needed.
        resume: Continue from the last checkpoint in run_dir; a run without
            one (stopped before its first epoch ended) starts afresh there.

    Returns:
        The history of every epoch, resumed ones included: a list per key of
        runs.HISTORY_KEYS.
    """
    setup = prepare(config)
    strategy, data, model, optimizer = (
        setup.strategy,
        setup.data,
        setup.model,
        setup.optimizer,
    )
    config = data.config  # with numbers for the "auto" settings
    for path in data.skipped:
        print(f"Skipped file (unreadable or not an image): {path}")
    print(f"Precision {config.precision}, XLA {'on' if setup.jit_compile else 'off'}")
    book = runs.Bookkeeping(model, optimizer, config, run_dir, strategy)
    if not runs.open_run(book, data, resume=resume):
        return runs.read_history(run_dir)  # rerun after its end: nothing to do
    loop.train_loop(setup, config, book)
    backbones.unfreeze(model, config)
    return runs.finish_run(book, model)


def prepare(config: Config) -> runs.Setup:
    """Seed, set determinism, load the data, and build the model and optimizer.

    Shared by train and the benchmark, so that the benchmark times what
    training runs.
    """
    strategy = distribute.make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        # Repeatable to the bit, at a cost: deterministic kernels only, no XLA.
        tf.config.experimental.enable_op_determinism()
    data = load_datasets(config)
    config = data.config  # with numbers for the "auto" settings
    jit_compile = distribute.use_xla(config.jit_compile, strategy, config.deterministic)
    with strategy.scope(), dtype_policy(config.precision):
        # Replicas normalize with the statistics of the whole global batch.
        model = build_model(
            config,
            len(data.class_names),
            synchronized_batch_norm=strategy.num_replicas_in_sync > 1,
        )
        optimizer = optim.make_optimizer(config)
        optimizer.build(model.trainable_variables)
    return runs.Setup(strategy, data, model, optimizer, jit_compile)
