"""Example Subclassing Custom Image.

keras-scaffold example: subclassing API, custom loop, image classification
"""

__version__ = "0.1.0"
