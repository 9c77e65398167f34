"""The conformance kit every plugin runs (hydra-style suites over plain check functions).

Plain checks (``checks.py``) raise :class:`ConformanceError` with the max-abs diff, the lane and the
chunking; the ``*Conformance`` classes wrap them as pytest tests: subclass, provide ``make_*``, ``pass``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ConformanceError": "statecatcher.testing.checks",
    "EncoderConformance": "statecatcher.testing.encoder",
    "LossConformance": "statecatcher.testing.loss",
    "TokenizerConformance": "statecatcher.testing.tokenizer",
    "DataSourceConformance": "statecatcher.testing.data_source",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'statecatcher.testing' has no attribute {name!r}")


__all__ = list(_LAZY)
