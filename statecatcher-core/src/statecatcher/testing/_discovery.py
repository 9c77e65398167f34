"""hydra's ``test_discovery`` for every ``*Conformance`` suite: a name is registered by an installed package."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def assert_registered(kind: str, name: str | None, build: Callable[[], Any], local: Any) -> Any:
    """Skip when ``name`` is None; else assert an installed distribution registers ``kind`` ``name`` and that
    ``build()`` (the registry's factory, e.g. ``lambda: get_encoder(name, input_dim=8)``) makes an object of
    ``local``'s class.  Returns the built object for further asserts."""
    if name is None:
        pytest.skip(f"registered_name is None: this {kind} is not registered under an entry point")
    import statecatcher

    entry = statecatcher.get_registry().get(kind, name)
    assert entry.distribution is not None, (
        f"{kind} {name!r} is registered by {entry.origin}, not by an installed package")
    built = build()
    assert type(built) is type(local), (
        f"{kind} {name!r} builds {type(built).__qualname__}, expected {type(local).__qualname__}")
    return built
