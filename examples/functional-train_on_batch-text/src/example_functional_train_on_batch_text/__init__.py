"""Example Functional Train On Batch Text.

keras-scaffold example: functional API, train_on_batch loop, text
classification
"""

__version__ = "0.1.0"
