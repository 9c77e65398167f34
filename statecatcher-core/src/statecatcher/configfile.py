"""TOML config files: the ``tomllib`` every module uses, and the error a bad key or file raises.

Lives below ``train/`` and ``options.py`` so both (and the CLI) can name :class:`ConfigError` without
importing the trainer.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ConfigError", "tomllib"]


class ConfigError(ValueError):
    """A config key is unknown or has the wrong type; the message names the key and its origin."""
