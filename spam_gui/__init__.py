"""SPAM Studio: the SuperPixel Anything Model as a library, a command line and a desktop app."""

__version__ = "0.1.0"
