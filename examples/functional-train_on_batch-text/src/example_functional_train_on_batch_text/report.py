"""Where a model fails: per-class scores, a confusion matrix, confident mistakes.

`evaluate MODEL --report DIR` writes a report on the validation split, and
`train` writes one into the run directory (report/) at its end:

- classification_report.txt: precision, recall, F1 and support of each class
  (scikit-learn's classification_report);
- confusion_matrix.png: true classes in rows, predicted ones in columns;
- mistakes.csv: the wrong predictions, most confident first: the input (a
  file, or a text's first words), its true and predicted class, and the
  probability the model gave the wrong class.
"""

import csv
from pathlib import Path

import numpy as np

from .config import Config

# The most confident mistakes printed; mistakes.csv holds them all.
PRINTED_MISTAKES = 5


def predict_split(model, config: Config):
    """The model's probabilities on the validation split, in the split's order.

    Args:
        model: A model that takes what the saved model takes (images with
            pixels in 0-255, or texts).
        config: The settings the model was trained with (numbers, not "auto"):
            the data and its split.

    Returns:
        (probabilities, labels, descriptions, class_names): one row, label and
        description (data.describe) per validation input that could be read.
    """
    import keras

    from .data import describe, labelled_batches, load_split
    from .saving import on_token_ids

    _, (inputs, labels), class_names, _ = load_split(config)
    rows, targets, indices = [], [], []
    vectorizer, model = on_token_ids(model)
    for batch, batch_labels, batch_indices in labelled_batches(config, inputs, labels):
        if vectorizer is not None:
            batch = vectorizer(batch)
        output = model(batch, training=False)
        rows.append(keras.ops.convert_to_numpy(output).astype("float32"))
        targets.append(batch_labels.numpy())
        indices.append(batch_indices.numpy())
    descriptions = [describe(inputs, int(index)) for index in np.concatenate(indices)]
    return np.concatenate(rows), np.concatenate(targets), descriptions, class_names


def write_report(
    probabilities, labels, descriptions, class_names, directory: Path
) -> str:
    """Write the report's three files into directory; return what to print.

    Args:
        probabilities: One row of class probabilities per input.
        labels: The true class of each input.
        descriptions: How each input is named in mistakes.csv.
        class_names: The name of each class, by index.
        directory: Created if needed.

    Returns:
        The classification report and the most confident mistakes, as text.
    """
    from sklearn.metrics import classification_report, confusion_matrix

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    classes = list(range(len(class_names)))
    predicted = probabilities.argmax(axis=1)
    scores = classification_report(
        labels,
        predicted,
        labels=classes,
        target_names=class_names,
        digits=3,
        zero_division=0,
    )
    (directory / "classification_report.txt").write_text(scores, encoding="utf-8")
    matrix = confusion_matrix(labels, predicted, labels=classes)
    plot_confusion(matrix, class_names, directory / "confusion_matrix.png")
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    mistakes = [
        (descriptions[index], class_names[labels[index]], class_names[predicted[index]])
        + (float(probability),)
        for index, probability in sorted(
            zip(wrong, confidence, strict=True), key=lambda pair: -pair[1]
        )
    ]
    with (directory / "mistakes.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(("input", "true", "predicted", "probability"))
        writer.writerows(
            (source, true, guess, f"{probability:.4f}")
            for source, true, guess, probability in mistakes
        )
    lines = [scores.rstrip(), f"{len(mistakes)} mistakes; the most confident:"]
    lines += [
        f"  {source}: {true}, predicted {guess} ({probability:.4f})"
        for source, true, guess, probability in mistakes[:PRINTED_MISTAKES]
    ]
    lines.append(f"Report: {directory} (confusion_matrix.png, mistakes.csv)")
    return "\n".join(lines)


def plot_confusion(matrix, class_names: list[str], path: Path) -> None:
    """Save a confusion matrix, counts in the cells, class names on the axes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    side = max(4.0, 0.5 * len(class_names) + 2)
    figure, axis = pyplot.subplots(figsize=(side + 1, side))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis)
    ticks = range(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > threshold else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
