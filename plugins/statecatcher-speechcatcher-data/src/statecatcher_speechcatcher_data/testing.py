"""Helpers for tests and benchmarks: a server on loopback in a thread, and options for a fast-failing client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from statecatcher_speechcatcher_data.faults import Fault, FaultPlan
from statecatcher_speechcatcher_data.serve_cmd import make_server

TEST_API_KEY = "k3y-for-tests-0123"


@contextmanager
def serving(server) -> Iterator[str]:
    """Runs a werkzeug server in a thread; yields its base URL; shuts it down on exit."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running_server(corpus_dir: str | Path, faults: list[Fault] | None = None, *, api_key: str = TEST_API_KEY,
                   **options) -> Iterator[tuple[str, FaultPlan]]:
    """``(base_url, fault_plan)`` of a threaded ``statecatcher serve`` on 127.0.0.1 (a free port)."""
    plan = FaultPlan(faults)
    with serving(make_server(str(corpus_dir), api_key, port=0, faults=plan, **options)) as url:
        yield url, plan


def client_options(cache_dir: str | Path, **overrides) -> dict:
    """Data-source options for tests: short timeouts, quick retries, every episode in the train split."""
    options = dict(api_key=TEST_API_KEY, cache_dir=str(cache_dir), dev_fraction=0.0, test_fraction=0.0,
                   timeout=1.0, connect_timeout=1.0, retries=3, backoff=0.01, duration_tolerance=0.5)
    options.update(overrides)
    return options
