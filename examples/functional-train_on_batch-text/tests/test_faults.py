"""Bad inputs and damaged files, fed to the commands as a user would.

Every case of the table ends with its exit status and one line naming the
file or setting at fault, never a traceback, and leaves every file that was
there before byte-identical (the shared run, the data, the case's own files)
and no half-made run behind. The tests after the table check what the
commands promise: name what they skip, start a run stopped before its first
epoch afresh, replace an export only when asked, and (slow: processes) rerun
a killed `train` to completion.

The commands run in this process, through cli.main, so that the cases take
seconds. Those that need a trained run share one (two epochs on a small data
directory, made by `train --run-dir`), copied where a case changes it.
"""

# ruff: noqa: E501  (the tables below: one case a line)
import contextlib
import csv
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from example_functional_train_on_batch_text.cli import main

PROJECT = Path(__file__).parents[1]
PACKAGE = "example_functional_train_on_batch_text"


WORDS = {
    "blue": "sea sky water wave river lake",
    "green": "leaf grass tree forest moss fern",
    "red": "fire blood rose brick ruby flame",
}
# A .txt file that is not UTF-8.
UNREADABLE = ".txt", b"caf\xe9 \xff\xfe"
# What a data directory of unreadable files only is refused with.
ONLY_UNREADABLE = "no readable file"
# Small and quick: the settings of every run here.
SMALL = ["--epochs", "2", "--batch-size", "8"]


def make_data(root: Path, classes=tuple(WORDS), files=12) -> Path:
    """A data directory: `files` short texts of one topic's words per class."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(files):
            words = rng.choice(WORDS[name].split() + ["the", "a", "of"], size=8)
            (root / name / f"{index}.txt").write_text(" ".join(words))
    return root


def an_input(world) -> str:
    """What predict takes: a text."""
    return "the sea and the sky"


TASK_CASES = [
    ("train-sequence-length", lambda w, c: ["train", "--sequence-length", "2"], 1, "sequence_length must be"),
    ("predict-missing-model", lambda w, c: ["predict", c / "none.keras", "some words"], 1, "no model file"),
]  # fmt: skip


def run(*args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one command, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(arg) for arg in args])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def tree_digest(*roots: Path) -> dict[str, str]:
    """Every file under the roots (links as their targets) and its SHA-256."""
    digest = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink():
                digest[str(path)] = "-> " + os.readlink(path)
            elif path.is_file():
                digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The data (an unreadable file, a dangling link, a note) and one run."""
    root = tmp_path_factory.mktemp("world")
    data = make_data(root / "data")
    suffix, content = UNREADABLE
    (data / "red" / f"broken{suffix}").write_bytes(content)
    (data / "green" / "notes.md").write_text("not data")
    (data / "blue" / f"gone{suffix}").symlink_to(root / f"nowhere{suffix}")
    status, out, err = run(
        "train", "--run-dir", root / "run", "--data-dir", data, *SMALL
    )
    assert status == 0, out + err
    return {"root": root, "data": data, "run": root / "run", "out": out}


def copy_run(world, case: Path) -> Path:
    return Path(shutil.copytree(world["run"], case / "run", symlinks=True))


def only_unreadable(case: Path) -> Path:
    suffix, content = UNREADABLE
    for name in ("a", "b"):
        (case / "bad" / name).mkdir(parents=True)
        for index in range(4):
            (case / "bad" / name / f"{index}{suffix}").write_bytes(content)
    return case / "bad"


def with_empty_class(world, case: Path) -> Path:
    data = Path(shutil.copytree(world["data"], case / "data", symlinks=True))
    (data / "yellow").mkdir()
    return data


def with_new_class(world, case: Path) -> Path:
    data = Path(shutil.copytree(world["data"], case / "data", symlinks=True))
    make_data(case / "more", classes=["red"], files=3)
    (case / "more" / "red").rename(data / "yellow")
    return data


def run_on(world, case: Path, data: Path) -> Path:
    """A copy of the run whose config.toml reads `data`."""
    run_dir = copy_run(world, case)
    config = run_dir / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(f'data_dir = "{world["data"]}"', f'data_dir = "{data}"'),
        encoding="utf-8",
    )
    return run_dir


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def damage(directory: Path, name: str, content: bytes) -> Path:
    """directory, with its file `name` replaced by content."""
    write(directory / name, content)
    return directory


def fake_export(path: Path) -> Path:
    """A directory that holds a SavedModel, as far as a look at it tells."""
    write(path / "saved_model.pb", b"an export of before")
    return path


# (id, command line from (world, case directory), exit status, in the line).
CASES = [
    # train: settings and paths
    ("train-config-not-utf8", lambda w, c: ["train", "--config", write(c / "x.toml", b"epochs = 1 # caf\xe9\n")], 1, "x.toml is not UTF-8"),
    ("train-config-not-toml", lambda w, c: ["train", "--config", write(c / "x.toml", b"epochs = = 1\n")], 1, "x.toml is not valid TOML"),
    ("train-config-unknown", lambda w, c: ["train", "--config", write(c / "x.toml", b"epoch = 1\n")], 1, "unknown setting 'epoch'"),
    ("train-config-missing", lambda w, c: ["train", "--config", c / "none.toml"], 1, "none.toml"),
    ("train-seed-too-big", lambda w, c: ["train", "--seed", "4294967296"], 1, "seed must be"),
    ("train-seed-negative", lambda w, c: ["train", "--seed", "-1"], 1, "seed must be"),
    ("train-epochs-zero", lambda w, c: ["train", "--epochs", "0"], 1, "epochs must be"),
    ("train-epochs-not-a-number", lambda w, c: ["train", "--epochs", "three"], 2, "--epochs"),
    ("train-output-dir-file", lambda w, c: ["train", "--output-dir", write(c / "f", b"mine")], 1, "output_dir must be a directory"),
    ("train-output-dir-under-file", lambda w, c: ["train", "--output-dir", write(c / "f", b"mine") / "runs"], 1, "output_dir must be a directory"),
    ("train-data-dir-missing", lambda w, c: ["train", "--data-dir", c / "none"], 1, "data_dir"),
    ("train-only-unreadable", lambda w, c: ["train", "--data-dir", only_unreadable(c), *SMALL], 1, ONLY_UNREADABLE),
    ("train-empty-class", lambda w, c: ["train", "--data-dir", with_empty_class(w, c), *SMALL], 1, "data/yellow"),
    ("train-one-class", lambda w, c: ["train", "--data-dir", make_data(c / "one", ["red"])], 1, "at least two classes"),
    ("train-run-dir-file", lambda w, c: ["train", "--run-dir", write(c / "f", b"mine")], 1, "--run-dir"),
    ("train-run-dir-foreign", lambda w, c: ["train", "--run-dir", write(c / "d" / "mine.txt", b"mine").parent], 1, "mine.txt"),
    ("train-run-dir-other-model", lambda w, c: ["train", "--run-dir", copy_run(w, c), "--data-dir", w["data"], *SMALL, "--dropout-rate", "0.5"], 1, "dropout_rate=0.5"),
    ("train-run-dir-finished", lambda w, c: ["train", "--run-dir", copy_run(w, c), "--data-dir", w["data"], *SMALL], 0, "nothing to do"),
    ("train-resume-and-run-dir", lambda w, c: ["train", "--resume", c, "--run-dir", c], 2, "not allowed with"),
    # resume
    ("resume-not-a-run", lambda w, c: ["train", "--resume", c], 1, "no config.toml"),
    ("resume-change-preset", lambda w, c: ["train", "--resume", copy_run(w, c), "--preset", "resnet18"], 1, "--preset cannot change"),
    ("resume-config-not-utf8", lambda w, c: ["train", "--resume", damage(copy_run(w, c), "config.toml", b"seed = 1 # \xff\n")], 1, "config.toml is not UTF-8"),
    ("resume-class-added", lambda w, c: ["train", "--resume", run_on(w, c, with_new_class(w, c))], 1, "['yellow']"),
    ("resume-class-names-damaged", lambda w, c: ["train", "--resume", damage(copy_run(w, c), "class_names.json", b'["red",')], 1, "class_names.json is damaged"),
    ("resume-fewer-epochs", lambda w, c: ["train", "--resume", copy_run(w, c), "--epochs", "1"], 1, "epochs must be at least 2"),
    # evaluate
    ("evaluate-away-from-run", lambda w, c: ["evaluate", Path(shutil.copy(w["run"] / "model.keras", c))], 1, "no config.toml beside"),
    ("evaluate-missing-model", lambda w, c: ["evaluate", c / "none.keras"], 1, "no model file"),
    ("evaluate-not-a-model", lambda w, c: ["evaluate", damage(copy_run(w, c), "model.keras", b"text") / "model.keras"], 1, "not a .keras model file"),
    ("evaluate-class-added", lambda w, c: ["evaluate", run_on(w, c, with_new_class(w, c)) / "model.keras"], 1, "class_names.json"),
    ("evaluate-other-data", lambda w, c: ["evaluate", Path(shutil.copy(w["run"] / "model.keras", c)), "--data-dir", make_data(c / "two", ["red", "blue"])], 1, "names 2"),
    # predict
    ("predict-class-names-damaged", lambda w, c: ["predict", damage(copy_run(w, c), "class_names.json", b"\xff{") / "model.keras", an_input(w)], 1, "class_names.json is damaged"),
    ("predict-class-names-count", lambda w, c: ["predict", damage(copy_run(w, c), "class_names.json", b'["a", "b"]') / "model.keras", an_input(w)], 1, "class_names.json names 2"),
    # export
    ("export-over-export", lambda w, c: ["export", w["run"] / "model.keras", fake_export(c / "prev")], 1, "--overwrite"),
    ("export-onnx-over-onnx", lambda w, c: ["export", w["run"] / "model.keras", write(c / "prev" / "model.onnx", b"onnx").parent, "--format", "onnx"], 1, "--overwrite"),
    ("export-onto-file", lambda w, c: ["export", w["run"] / "model.keras", write(c / "f", b"mine")], 1, "is a file"),
    ("export-over-other-things", lambda w, c: ["export", w["run"] / "model.keras", write(c / "d" / "mine.txt", b"mine").parent, "--overwrite"], 1, "something other than"),
    ("export-missing-model", lambda w, c: ["export", c / "none.keras", c / "out"], 1, "no model file"),
    # baseline
    ("baseline-only-unreadable", lambda w, c: ["baseline", "--data-dir", only_unreadable(c)], 1, ONLY_UNREADABLE),
    ("baseline-empty-class", lambda w, c: ["baseline", "--data-dir", with_empty_class(w, c)], 1, "data/yellow"),
    ("baseline-split", lambda w, c: ["baseline", "--validation-split", "1.5"], 1, "validation_split"),
    # benchmark
    ("benchmark-steps-zero", lambda w, c: ["benchmark", "--steps", "0"], 1, "--steps"),
    ("benchmark-only-unreadable", lambda w, c: ["benchmark", "--data-dir", only_unreadable(c), "--steps", "1", "--warmup", "1"], 1, ONLY_UNREADABLE),
    ("benchmark-seed-too-big", lambda w, c: ["benchmark", "--seed", str(2**40)], 1, "seed must be"),
    # tune
    ("tune-trials-zero", lambda w, c: ["tune", "--trials", "0"], 1, "--trials"),
    ("tune-only-unreadable", lambda w, c: ["tune", "--trials", "1", "--data-dir", only_unreadable(c), *SMALL], 1, ONLY_UNREADABLE),
    ("tune-resume-not-a-search", lambda w, c: ["tune", "--resume", copy_run(w, c)], 1, "no search to resume"),
    ("tune-output-dir-file", lambda w, c: ["tune", "--output-dir", write(c / "f", b"mine")], 1, "output_dir must be a directory"),
    *TASK_CASES,
]  # fmt: skip


@pytest.mark.parametrize(
    "command, status, culprit",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_one_line_and_changes_nothing(
    world, tmp_path, command, status, culprit
):
    case = tmp_path / "case"
    case.mkdir()
    args = command(world, case)
    placed = {"--output-dir", "--run-dir", "--resume"} & set(args)
    if args[0] in ("train", "tune") and not placed:
        args = [*args, "--output-dir", case / "runs"]  # where a new run would go
    before = tree_digest(world["root"], case)
    got, out, err = run(*args)
    assert got == status, out + err
    assert "Traceback" not in out + err
    if status:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert culprit in lines[0]
    else:
        assert culprit in out
    assert tree_digest(world["root"], case) == before
    # Nothing half made where runs and exports go.
    assert not (case / "runs").exists()
    assert not [path for path in case.rglob("*") if ".partial" in path.name]


def test_train_names_every_file_it_skipped_on_a_line_of_its_own(world):
    suffix, _ = UNREADABLE
    lines = world["out"].splitlines()
    for path in (f"red/broken{suffix}", "green/notes.md", f"blue/gone{suffix}"):
        line = f"Skipped file (unreadable or not .txt): {world['data'] / path}"
        assert line in lines, world["out"][-3000:]


def test_resume_of_a_run_stopped_before_its_first_epoch_starts_it_afresh(
    world, tmp_path
):
    run_dir = copy_run(world, tmp_path)
    # What a kill before the first checkpoint leaves: the files a run starts with.
    for path in run_dir.iterdir():
        if path.name not in ("config.toml", "class_names.json", "summary.txt"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    status, out, err = run("train", "--resume", run_dir)
    assert status == 0, out + err
    assert f"{run_dir} has no completed epoch: starting it afresh" in out
    assert len((run_dir / "history.csv").read_text().splitlines()) == 1 + 2
    assert (run_dir / "model.keras").is_file()


def test_export_replaces_an_export_only_when_asked(world, tmp_path):
    target = fake_export(tmp_path / "export")
    (target / "stale.txt").write_text("from before")
    # What an export killed midway left beside it: removed by the next one.
    killed = subprocess.Popen([sys.executable, "-c", ""])
    killed.wait()
    (tmp_path / f".export.partial-{killed.pid}").mkdir()
    status, out, err = run(
        "export", world["run"] / "model.keras", target, "--overwrite"
    )
    assert status == 0, out + err
    assert (target / "saved_model.pb").read_bytes() != b"an export of before"
    assert not (target / "stale.txt").exists()  # the old export, replaced whole
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export"]


@pytest.mark.slow
def test_train_killed_before_its_first_epoch_ends_reruns_to_completion(world, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src"), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", PACKAGE, "train", "--run-dir", str(tmp_path / "run"),
        "--data-dir", str(world["data"]), *SMALL,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    seen, deadline = b"", time.monotonic() + 240
    while b"Epoch 1/" not in seen and time.monotonic() < deadline:
        seen += process.stdout.read1(4096) or b""
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    assert b"Epoch 1/" in seen
    rerun = subprocess.run(
        command, cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Resuming" in rerun.stdout or "starting it afresh" in rerun.stdout
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 1 + 2
    assert (tmp_path / "run" / "model.keras").is_file()


# Damaged checkpoints: kept apart, for the checkpoint format that replaces
# tf.train.Checkpoint to adapt (file names, and what a damaged one looks like).
@pytest.mark.parametrize("damaged", ["weights", "state", "all"])
def test_resume_skips_damaged_checkpoints_and_keeps_them(world, tmp_path, damaged):
    run_dir = copy_run(world, tmp_path)
    checkpoints = run_dir / "checkpoints"
    newest = checkpoints / "ckpt-2"
    changed = {}
    if damaged == "weights":  # cut short, as by a full disk
        weights = (newest / "model.weights.h5").read_bytes()
        changed["ckpt-2/model.weights.h5"] = weights[: len(weights) // 2]
    elif damaged == "state":
        changed["ckpt-2/state.npz"] = b"\xff\xfe garbage"
    else:
        for path in checkpoints.glob("ckpt-*/model.weights.h5"):
            changed[f"{path.parent.name}/{path.name}"] = b"garbage"
    for name, content in changed.items():
        (checkpoints / name).write_bytes(content)
    status, out, err = run("train", "--resume", run_dir, "--epochs", "3")
    if damaged == "all":
        assert status == 1 and "reads back" in err, out + err
        assert len(err.splitlines()) == 1, err
        return
    assert status == 0, out + err
    assert f"Skipped checkpoint {newest} (it does not read back" in out
    assert f"Resuming {run_dir} after epoch 1 of 3" in out
    for name, content in changed.items():  # kept aside, byte for byte
        assert (checkpoints / "unreadable" / name).read_bytes() == content
    assert len((run_dir / "history.csv").read_text().splitlines()) == 1 + 3


def test_resume_mends_a_kill_between_a_checkpoint_and_its_best_link(world, tmp_path):
    run_dir = copy_run(world, tmp_path)
    checkpoints = run_dir / "checkpoints"
    # Killed after epoch 1's checkpoint named it the best, before the link:
    # epoch 2 never checkpointed, and checkpoints/best/ is empty.
    shutil.rmtree(checkpoints / "ckpt-2")
    for path in (checkpoints / "best").iterdir():
        path.unlink()
    status, out, err = run("train", "--resume", run_dir)
    assert status == 0, out + err
    assert f"Resuming {run_dir} after epoch 1 of 2" in out
    assert "do not read back" not in out
    with (run_dir / "history.csv").open() as file:
        accuracies = [float(row["val_accuracy"]) for row in csv.DictReader(file)]
    best = 1 + accuracies.index(max(accuracies))  # the first of equals, as Keras
    kept = [path.name for path in (checkpoints / "best").iterdir()]
    assert kept == [f"ckpt-{best}.weights.h5"]


def test_damaged_best_weights_leave_the_last_epochs_in_their_place(world, tmp_path):
    run_dir = copy_run(world, tmp_path)
    (best,) = (run_dir / "checkpoints" / "best").glob("ckpt-*.weights.h5")
    best.unlink()  # a hard link to its checkpoint's weights: damage this one alone
    best.write_bytes(b"garbage")
    # As if killed before saving the models: the resume saves them.
    for name in ("model.keras", "best.keras"):
        (run_dir / name).unlink()
    status, out, err = run(
        "train", "--resume", run_dir, "--early-stopping-patience", "5"
    )
    assert status == 0, out + err
    assert f"The best epoch's weights ({best}) do not read back" in out
    assert "saved in their place" in out
    assert (run_dir / "model.keras").is_file() and (run_dir / "best.keras").is_file()
    assert best.read_bytes() == b"garbage"  # kept as it was
