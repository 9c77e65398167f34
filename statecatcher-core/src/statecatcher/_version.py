"""The core distribution's version (its own module, so ``plugins.py`` never imports the package ``__init__``)."""

__version__ = "0.1.0"
