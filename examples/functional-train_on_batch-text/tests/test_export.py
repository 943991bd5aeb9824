"""ONNX and LiteRT exports: each file, run in its own runtime, predicts as Keras does.

They need the export extra (`pip install -e ".[export]"`); without it these
tests are skipped, except the one that checks the error naming the extra.
"""

import sys

import keras
import numpy as np
import pytest

from example_functional_train_on_batch_text.cli import main
from example_functional_train_on_batch_text.config import load_config
from example_functional_train_on_batch_text.data import load_datasets
from example_functional_train_on_batch_text.saving import (
    EXPORT_FILES,
    EXPORT_PACKAGES,
    load_model,
    run_export,
)


@pytest.mark.parametrize(
    "format", ["onnx", pytest.param("litert", marks=pytest.mark.slow)]
)
def test_export_command_checks_the_file_in_its_runtime(
    trained_run, config, capsys, tmp_path, format
):
    for module in EXPORT_PACKAGES[format]:
        pytest.importorskip(module, reason='needs pip install -e ".[export]"')
    run_dir, _ = trained_run
    model_path = str(run_dir / "model.keras")
    assert main(["export", model_path, str(tmp_path), "--format", format]) == 0
    assert "max difference from the Keras model" in capsys.readouterr().out
    model = load_model(model_path, compile=False)
    texts, _ = next(iter(load_datasets(config, vectorize=False).validation))
    # The run's config.toml holds the numbers the "auto" settings became.
    sequence_length = load_config(run_dir / "config.toml").sequence_length
    # Tokenized as the README's "Exports" says, with the vocabulary beside the file.
    words = (tmp_path / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
    tokenize = keras.layers.TextVectorization(
        vocabulary=words, output_sequence_length=sequence_length
    )
    predicted = run_export(tmp_path / EXPORT_FILES[format], tokenize(texts).numpy())
    expected = model.predict(texts, verbose=0)
    np.testing.assert_allclose(predicted, expected, atol=1e-5)


def test_a_missing_runtime_is_one_line_naming_the_extra(
    trained_run, capsys, monkeypatch, tmp_path
):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    run_dir, _ = trained_run
    argv = ["export", str(run_dir / "model.keras"), str(tmp_path / "export")]
    assert main([*argv, "--format", "onnx"]) == 1
    err = capsys.readouterr().err
    assert err == (
        'error: onnx export needs onnxruntime: pip install -e ".[export]"\n'
    ), err
    assert not (tmp_path / "export").exists()
