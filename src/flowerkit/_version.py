"""The single source of flowerkit's version number."""

__version__ = "0.1.0"
