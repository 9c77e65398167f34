"""Audio seconds per second through the data path: local files vs the speechcatcher client (keep-alive on/off).

Each variant lists a synthetic FLAC corpus once (not timed), then loads every recording's audio in
order, as the lane batcher does (timed): ``local`` reads the files; ``client`` fetches them from
``statecatcher serve`` (a subprocess) on loopback with pooled keep-alive connections and background prefetch (no disk
cache, so every byte crosses HTTP); ``client, no keep-alive`` sends ``Connection: close`` on every request.
The ``transcripts/s`` rows fetch every WebVTT file one request at a time (small requests, where connection
set-up shows).  Printed as ratios to ``local``.  Loopback hides network latency, so keep-alive matters far more on a
real network than here.

    python benchmarks/bench_data_path.py [--small]
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from statecatcher.data.local import LocalDataSource
from statecatcher.records import SAMPLE_RATE
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.source import SpeechcatcherDataSource
from statecatcher_speechcatcher_data.testing import client_options, server_process


def audio_seconds_per_second(source, passes: int) -> float:
    """Loads every train recording's audio ``passes`` times; returns decoded audio seconds / wall second."""
    started, seconds = time.perf_counter(), 0.0
    for epoch in range(passes):
        for recording in source.recordings("train", epoch=epoch):
            seconds += len(recording.load_audio()) / SAMPLE_RATE
    return seconds / (time.perf_counter() - started)


def transcripts_per_second(source, passes: int) -> float:
    """Fetches every train transcript ``passes`` times, one request at a time (small requests: where
    connection set-up shows)."""
    started, fetched = time.perf_counter(), 0
    for _ in range(passes):
        shutil.rmtree(source.fetcher.vtt_dir)
        source.fetcher.vtt_dir.mkdir()
        fetched += sum(1 for recording in source.recordings("train") if recording.load_segments())
    return fetched / (time.perf_counter() - started)


def bench_data_path(small: bool = False, repeats: int = 3) -> dict:
    """``{variant: median audio seconds/s (or transcripts/s)}`` over ``repeats`` interleaved runs, plus
    ``ratio ...`` entries; prints a small table."""
    count, (shortest, longest), passes = (6, (4.0, 8.0), 1) if small else (24, (20.0, 60.0), 2)
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        corpus = write_local_corpus(Path(scratch) / "corpus", make_recordings(count, min_duration=shortest,
                                                                               max_duration=longest, seed=1))
        with server_process(corpus, Path(scratch) / "server.log", extra_args=("--quiet",)) as url:
            for repeat in range(repeats):
                runs.setdefault("local", []).append(audio_seconds_per_second(LocalDataSource(str(corpus)), passes))
                for name, keep_alive in (("client", True), ("client, no keep-alive", False)):
                    options = client_options(Path(scratch) / f"{name} {repeat}", cache_gb=0, timeout=30.0,
                                             keep_alive=keep_alive)
                    with contextlib.closing(SpeechcatcherDataSource(url, **options)) as source:
                        runs.setdefault(name, []).append(audio_seconds_per_second(source, passes))
                    options.update(prefetch=0)
                    with contextlib.closing(SpeechcatcherDataSource(url, **options)) as source:
                        runs.setdefault(f"{name}: transcripts/s", []).append(transcripts_per_second(source, 3))
    results = {name: statistics.median(values) for name, values in runs.items()}
    for name in ("client", "client, no keep-alive"):
        results[f"ratio {name} / local"] = results[name] / results["local"]
    results["ratio keep-alive / no keep-alive"] = results["client"] / results["client, no keep-alive"]
    results["ratio keep-alive / no keep-alive, transcripts"] = (results["client: transcripts/s"]
                                                               / results["client, no keep-alive: transcripts/s"])
    print(f"data path, {count} recordings of {shortest:.0f}-{longest:.0f} s, {passes} pass(es), median of "
          f"{repeats} (noisy on a shared machine):")
    for name, value in results.items():
        unit = "" if name.startswith("ratio") or name.endswith("/s") else " audio s/s"
        print(f"  {name:46s} {value:10.2f}{unit}")
    return results


if __name__ == "__main__":
    bench_data_path(small="--small" in sys.argv[1:])
