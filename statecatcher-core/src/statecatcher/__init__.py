"""statecatcher: stateful (truncated-BPTT) speech recognition training on long recordings.

Importing this package is cheap (no torch); heavy names resolve on first use.
"""

from __future__ import annotations

from typing import Any

from ._lazy import lazy_getattr
from ._version import __version__
from .hookspecs import hookimpl

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


__getattr__ = lazy_getattr(__name__, _LAZY)


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
