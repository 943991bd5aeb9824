"""The evaluation report: per-class scores, confusion matrix, confident mistakes."""

import csv

import numpy as np

from example_subclassing_custom_image.cli import main
from example_subclassing_custom_image.report import write_report

CLASS_NAMES = ["ant", "bee", "cat"]


def test_report_shows_a_known_confusion(tmp_path):
    # Every "cat" is taken for a "bee", the second one most confidently.
    labels = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.8, 0.1, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.6, 0.3],
            [0.05, 0.9, 0.05],
        ]
    )
    descriptions = [f"input{index}" for index in range(6)]
    text = write_report(probabilities, labels, descriptions, CLASS_NAMES, tmp_path)

    scores = (tmp_path / "classification_report.txt").read_text(encoding="utf-8")
    rows = {line.split()[0]: line.split()[1:] for line in scores.splitlines() if line}
    assert rows["ant"] == ["1.000", "1.000", "1.000", "2"]
    assert rows["bee"] == ["0.500", "1.000", "0.667", "2"]  # precision, recall, F1
    assert rows["cat"] == ["0.000", "0.000", "0.000", "2"]
    assert (tmp_path / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    with (tmp_path / "mistakes.csv").open(newline="", encoding="utf-8") as file:
        mistakes = list(csv.reader(file))
    assert mistakes == [
        ["input", "true", "predicted", "probability"],
        ["input5", "cat", "bee", "0.9000"],
        ["input4", "cat", "bee", "0.6000"],
    ]
    assert "input5: cat, predicted bee (0.9000)" in text


def test_evaluate_writes_the_report_of_a_trained_model(trained_run, tmp_path, capsys):
    run_dir, _ = trained_run
    report = tmp_path / "report"
    model = str(run_dir / "model.keras")
    assert main(["evaluate", model, "--report", str(report)]) == 0
    output = capsys.readouterr().out
    assert "precision" in output and "recall" in output
    for name in ("classification_report.txt", "confusion_matrix.png", "mistakes.csv"):
        assert (report / name).is_file(), name
    header = (report / "mistakes.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "input,true,predicted,probability"
