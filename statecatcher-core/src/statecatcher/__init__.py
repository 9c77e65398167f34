"""statecatcher: stateful (truncated-BPTT) speech recognition training on long recordings.

Importing this package is cheap (no torch); heavy names resolve on first use.
"""

from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "Recording": "statecatcher.records",
    "Segment": "statecatcher.records",
    "StatefulEncoder": "statecatcher.protocols",
    "Loss": "statecatcher.protocols",
    "Tokenizer": "statecatcher.protocols",
    "DataSource": "statecatcher.protocols",
    "Tracker": "statecatcher.protocols",
    "LabelFilter": "statecatcher.protocols",
    "load_plugins": "statecatcher.plugins",
    "get_registry": "statecatcher.plugins",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'statecatcher' has no attribute {name!r}")


def _create(kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
    from .plugins import get

    return get(kind, name).create(*args, **kwargs)


def get_encoder(name: str, *args: Any, **kwargs: Any) -> Any:
    """Build encoder ``name``: ``factory(input_dim, **options)``."""
    return _create("encoder", name, *args, **kwargs)


def get_loss(name: str, *args: Any, **kwargs: Any) -> Any:
    """Build loss ``name``: ``factory(input_dim, vocab_size, blank_id, **options)``."""
    return _create("loss", name, *args, **kwargs)


def get_tokenizer(name: str, *args: Any, **kwargs: Any) -> Any:
    return _create("tokenizer", name, *args, **kwargs)


def get_data_source(name: str, *args: Any, **kwargs: Any) -> Any:
    return _create("data_source", name, *args, **kwargs)


def get_tracker(name: str, *args: Any, **kwargs: Any) -> Any:
    return _create("tracker", name, *args, **kwargs)


__all__ = ["hookimpl", "__version__", "get_encoder", "get_loss", "get_tokenizer", "get_data_source",
           "get_tracker", *_LAZY]
