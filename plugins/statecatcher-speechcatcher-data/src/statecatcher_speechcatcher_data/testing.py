"""Helpers for tests and benchmarks: a server on loopback in a thread, and options for a fast-failing client."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from statecatcher_speechcatcher_data.faults import Fault, FaultPlan
from statecatcher_speechcatcher_data.serve_cmd import Server, make_server

TEST_API_KEY = "k3y-for-tests-0123"


@contextmanager
def serving(server: Server) -> Iterator[str]:
    """Runs ``server`` in a thread; yields its base URL; shuts it down on exit."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def running_server(corpus_dir: str | Path, faults: list[Fault] | None = None, *, api_key: str = TEST_API_KEY,
                   **options) -> Iterator[tuple[str, FaultPlan]]:
    """``(base_url, fault_plan)`` of ``statecatcher serve`` in a thread on 127.0.0.1 (a free port)."""
    plan = FaultPlan(faults)
    with serving(make_server(str(corpus_dir), api_key, port=0, faults=plan, **options)) as url:
        yield url, plan


@contextmanager
def server_process(corpus_dir: str | Path, log_path: str | Path, *, api_key: str = TEST_API_KEY,
                   start_seconds: float = 60.0, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """``python -m statecatcher serve CORPUS`` on a free loopback port, stderr to ``log_path``; yields its URL
    and always terminates it (killed if it does not stop within 10 s)."""
    with open(log_path, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "statecatcher", "serve", str(corpus_dir), "--port", "0",
                                    "--api-key", api_key, *extra_args], stdout=subprocess.PIPE, stderr=stderr,
                                   text=True)
    try:
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(start_seconds)
        if not first_line or " on http://" not in first_line[0]:
            raise RuntimeError(f"statecatcher serve did not start: {first_line}; its log: "
                               f"{Path(log_path).read_text()[-2000:]}")
        yield first_line[0].split()[-1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()


def client_options(cache_dir: str | Path, **overrides) -> dict:
    """Data-source options for tests: short timeouts, quick retries, every episode in the train split."""
    options = dict(api_key=TEST_API_KEY, cache_dir=str(cache_dir), dev_fraction=0.0, test_fraction=0.0,
                   timeout=1.0, connect_timeout=1.0, retries=3, backoff=0.01, duration_tolerance=0.5)
    options.update(overrides)
    return options


def trained_segments(batches) -> list[tuple[str, int, str]]:
    """``(recording id, segment index, target text)`` of every active lane of every batch, in order."""
    return [(rid, index, text) for batch in batches
            for rid, index, text in zip(batch.recording_ids, batch.segment_index, batch.texts, strict=True)
            if rid is not None]
