"""Audio seconds per second through the data path: local files vs the speechcatcher client (keep-alive on/off).

Each variant lists a synthetic FLAC corpus once (not timed), then loads every recording's audio in order, as
the lane batcher does (timed): ``local`` reads the files; ``client`` fetches them from ``statecatcher serve`` (a
subprocess) on loopback with pooled keep-alive connections and background prefetch (no disk cache, so every
byte crosses HTTP); ``client, no keep-alive`` sends ``Connection: close`` on every request.  The
``transcripts/s`` rows fetch every WebVTT file one request at a time (small requests, where connection set-up
shows).  Printed as ratios to ``local``, and as ``client CPU / local CPU``: this process's CPU time (every
thread) per audio second, which leaves out the ``serve`` process that shares the cores on loopback.  Loopback
hides network latency, so the client variants run again through
:class:`benchmarks.latency_proxy.LatencyProxy` with 5 ms and 20 ms round trips (one pass; plus the client with
``prefetch=0``): ``keep-alive / no keep-alive`` and ``prefetch / no prefetch`` there are what a real network
shows.  A real speechcatcher-data server speaks HTTPS, where a new connection also pays a TLS handshake, so the
``https`` rows repeat the keep-alive pair through the latency proxy and a
:class:`benchmarks.tls_terminator.TLSTerminator` (what nginx does in front of ``serve``), with a throw-away CA
from ``trustme`` that the client trusts through ``REQUESTS_CA_BUNDLE``.

    python benchmarks/bench_data_path.py [--small]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from benchmarks.latency_proxy import LatencyProxy
from benchmarks.tls_terminator import TLSTerminator, server_context
from statecatcher.data.local import LocalDataSource
from statecatcher.records import SAMPLE_RATE
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.source import SpeechcatcherDataSource
from statecatcher_speechcatcher_data.testing import client_options, server_process


def audio_seconds_per_second(source, passes: int) -> tuple[float, float]:
    """Loads every train recording's audio ``passes`` times; returns decoded audio seconds / wall second and
    this process's CPU seconds (every thread; not a server's) per 1,000 audio seconds."""
    started, cpu_started, seconds = time.perf_counter(), time.process_time(), 0.0
    for epoch in range(passes):
        for recording in source.recordings("train", epoch=epoch):
            seconds += len(recording.load_audio()) / SAMPLE_RATE
    return seconds / (time.perf_counter() - started), 1000 * (time.process_time() - cpu_started) / seconds


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def add_run(runs: dict[str, list[float]], name: str, measured: tuple[float, float]) -> None:
    """Appends one :func:`audio_seconds_per_second` measurement to ``runs[name]`` and ``runs[name + " CPU"]``."""
    runs.setdefault(name, []).append(measured[0])
    runs.setdefault(f"{name} CPU", []).append(measured[1])


def transcripts_per_second(source, passes: int) -> float:
    """Fetches every train transcript ``passes`` times, one request at a time (small requests: where
    connection set-up shows)."""
    started, fetched = time.perf_counter(), 0
    for _ in range(passes):
        shutil.rmtree(source.fetcher.vtt_dir)
        source.fetcher.vtt_dir.mkdir()
        fetched += sum(1 for recording in source.recordings("train") if recording.load_segments())
    return fetched / (time.perf_counter() - started)


def client_runs(url: str, scratch: Path, label: str, runs: dict[str, list[float]], passes: int,
                variants: tuple[tuple[str, bool, int], ...]) -> None:
    """Appends one audio s/s (and, with prefetch, one transcripts/s) measurement per ``(name, keep_alive,
    prefetch)`` variant to ``runs["<label>name"]``."""
    for name, keep_alive, prefetch in variants:
        options = client_options(scratch / f"{label}{name} {len(runs.get(label + name, []))}", cache_gb=0,
                                 timeout=30.0, keep_alive=keep_alive, prefetch=prefetch)
        with contextlib.closing(SpeechcatcherDataSource(url, **options)) as source:
            add_run(runs, label + name, audio_seconds_per_second(source, passes))
        if prefetch:
            options.update(prefetch=0)
            with contextlib.closing(SpeechcatcherDataSource(url, **options)) as source:
                runs.setdefault(f"{label}{name}: transcripts/s", []).append(transcripts_per_second(source, 3))


LOOPBACK = (("client", True, 4), ("client, no keep-alive", False, 4))
DELAYED = (*LOOPBACK, ("client, no prefetch", True, 0))


@contextlib.contextmanager
def https_server(corpus: Path, scratch: Path):
    """Yields the port of a :class:`TLSTerminator` in front of ``statecatcher serve --url-scheme https`` (its
    listings hand out https URLs), with ``REQUESTS_CA_BUNDLE`` naming a throw-away CA (restored afterwards)."""
    import trustme

    authority, bundle = trustme.CA(), scratch / "bench-ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    options = ("--quiet", "--url-scheme", "https", "--index", str(scratch / "https-index.sqlite"))
    with mock.patch.dict(os.environ, {"REQUESTS_CA_BUNDLE": str(bundle)}), \
            server_process(corpus, scratch / "https-server.log", extra_args=options) as url, \
            TLSTerminator("127.0.0.1", port_of(url), server_context(authority)) as tls:
        yield tls.port


def bench_data_path(small: bool = False, repeats: int = 3, round_trips: tuple[float, ...] = (0.005, 0.020)) -> dict:
    """``{variant: median audio seconds/s (or transcripts/s)}`` over ``repeats`` interleaved runs, plus
    ``ratio ...`` entries; prints a small table.  Each of ``round_trips`` (seconds) repeats the client
    variants (and the client without prefetch) through a :class:`LatencyProxy` on a smaller corpus."""
    count, (shortest, longest), passes = (6, (4.0, 8.0), 1) if small else (24, (20.0, 60.0), 2)
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        corpus = write_local_corpus(scratch / "corpus", make_recordings(count, min_duration=shortest,
                                                                        max_duration=longest, seed=1))
        with server_process(corpus, scratch / "server.log", extra_args=("--quiet",)) as url, \
                https_server(corpus, scratch) as tls_port:
            port = port_of(url)
            for _ in range(repeats):
                add_run(runs, "local", audio_seconds_per_second(LocalDataSource(str(corpus)), passes))
                client_runs(url, scratch, "", runs, passes, LOOPBACK)
                for round_trip in round_trips:
                    with LatencyProxy("127.0.0.1", port, round_trip) as proxy:
                        client_runs(url.replace(f":{port}", f":{proxy.port}"), scratch,
                                    f"{round_trip * 1000:g} ms, ", runs, 1, DELAYED)
                    with LatencyProxy("127.0.0.1", tls_port, round_trip) as proxy:
                        client_runs(f"https://127.0.0.1:{proxy.port}", scratch, f"{round_trip * 1000:g} ms, https, ",
                                    runs, 1, LOOPBACK)
    results = {name: statistics.median(values) for name, values in runs.items()}
    add_ratios(results, round_trips)
    print(f"data path, {count} recordings of {shortest:.0f}-{longest:.0f} s, {passes} pass(es) (one through the "
          f"latency proxy), median of {repeats} (noisy on a shared machine):")
    for name, value in results.items():
        unit = ("" if name.startswith("ratio") or name.endswith("/s")
                else " CPU s per 1000 audio s" if name.endswith(" CPU") else " audio s/s")
        print(f"  {name:60s} {value:10.2f}{unit}")
    return results


def add_ratios(results: dict[str, float], round_trips: tuple[float, ...]) -> None:
    for name in ("client", "client, no keep-alive"):
        results[f"ratio {name} / local"] = results[name] / results["local"]
    # the client's own overhead, without the loopback server's share of the two cores (lower is better)
    results["ratio client CPU / local CPU"] = results["client CPU"] / results["local CPU"]
    delayed = [f"{round_trip * 1000:g} ms, {scheme}" for round_trip in round_trips for scheme in ("", "https, ")]
    for label in ("", *delayed):
        keep, close = f"{label}client", f"{label}client, no keep-alive"
        results[f"ratio {label}keep-alive / no keep-alive"] = results[keep] / results[close]
        results[f"ratio {label}keep-alive / no keep-alive, transcripts"] = (results[f"{keep}: transcripts/s"]
                                                                           / results[f"{close}: transcripts/s"])
        if f"{label}client, no prefetch" in results:
            results[f"ratio {label}prefetch / no prefetch"] = results[keep] / results[f"{label}client, no prefetch"]


if __name__ == "__main__":
    bench_data_path(small="--small" in sys.argv[1:])
