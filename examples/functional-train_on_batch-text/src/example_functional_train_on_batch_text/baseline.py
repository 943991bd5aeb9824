"""A scikit-learn baseline on the model's data and split: the score to beat.

TF-IDF of words and word pairs, then logistic regression: a classic that is
hard to beat on small text collections. A deep model that scores below it on
your data is under-trained or over-fitting; look at its settings first.
"""

import dataclasses

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from .config import Config
from .data import load_split


@dataclasses.dataclass
class BaselineResult:
    """What the baseline scored.

    Attributes:
        accuracy: Its accuracy on the validation split.
        method: A short name of the method.
        validation_size: Number of validation texts.
    """

    accuracy: float
    method: str
    validation_size: int

    def __str__(self) -> str:
        return (
            f"baseline accuracy={self.accuracy:.4f} ({self.method}, "
            f"{self.validation_size} validation texts)"
        )


def run_baseline(config: Config) -> BaselineResult:
    """Fit the baseline on the training split and score it on the validation split.

    Args:
        config: Reads data_dir, validation_split and seed (the split is the
            one training and evaluation use).

    Returns:
        The validation accuracy.

    Raises:
        DataError: The data cannot be used (as for training).
    """
    (train_inputs, train_labels), (inputs, labels), _, _ = load_split(config)
    classifier = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=1000)
    )
    classifier.fit(train_inputs, train_labels)
    accuracy = classifier.score(inputs, labels)
    return BaselineResult(float(accuracy), "tfidf+logreg", len(labels))
