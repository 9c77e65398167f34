"""The conformance kit every plugin runs (hydra-style suites over plain check functions).

Plain checks (``checks.py``) raise :class:`ConformanceError` with the max-abs diff, the lane and the
chunking; the ``*Conformance`` classes wrap them as pytest tests: subclass, provide ``make_*``, ``pass``.
"""

from __future__ import annotations

from statecatcher._lazy import lazy_getattr

_LAZY = {
    "ConformanceError": "statecatcher.testing.checks",
    "EncoderConformance": "statecatcher.testing.encoder",
    "LossConformance": "statecatcher.testing.loss",
    "TokenizerConformance": "statecatcher.testing.tokenizer",
    "DataSourceConformance": "statecatcher.testing.data_source",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = list(_LAZY)
