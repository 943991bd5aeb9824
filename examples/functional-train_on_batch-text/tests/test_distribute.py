"""Distributed training: what Keras 3.15 cannot do is refused."""

import pytest

from example_functional_train_on_batch_text.config import ConfigError, load_config


def test_mirrored_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="custom training loop trains text"):
        load_config(strategy="mirrored")


def test_multi_worker_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="keras-team/keras#20585"):
        load_config(strategy="multi-worker")
