"""Reproducible experiments behind the docs (``nox -s experiment``); each module runs with ``python -m``."""
