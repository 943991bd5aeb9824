"""Example Sequential Fit Image.

keras-scaffold example: sequential API, fit loop, image classification
"""

__version__ = "0.1.0"
