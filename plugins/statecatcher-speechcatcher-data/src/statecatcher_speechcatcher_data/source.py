"""The ``speechcatcher`` data source: episodes of a speechcatcher-data server (or ``statecatcher serve``).

``--data speechcatcher:http://host:6000`` with options (``--data-opt KEY=VALUE``) listed in
:class:`SpeechcatcherDataSource`.  The server is asked for its episodes once; the listing is cached in
``cache_dir`` and, like the ``local`` source, split, ordered and sharded without any I/O: ``recordings()``
lists ids, the listing's durations (every listed episode has one; an episode without a positive duration is
left out of the listing and counted in ``describe()["listing"]["incomplete"]``) and meta, and fetches
nothing.  A recording's transcript (WebVTT) is fetched when it is loaded (``Recording.load_segments()``,
which the lane batcher calls in its workers a few recordings ahead of training); its audio is downloaded in
the background as soon as training nears it (see :mod:`~statecatcher_speechcatcher_data.fetch`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from statecatcher.data.local import hash_split
from statecatcher.data.sharding import check_recordings_args
from statecatcher.records import Recording, Segment
from statecatcher_speechcatcher_data.api import ApiClient
from statecatcher_speechcatcher_data.deployment import DeploymentConfig, read_deployment_config
from statecatcher_speechcatcher_data.fetch import Fetcher, TranscriptUnavailable
from statecatcher_speechcatcher_data.listing import (
    DEFAULT_LANGUAGE,
    Episode,
    Filters,
    fetch_listing,
    load_listing,
    save_listing,
)
from statecatcher_speechcatcher_data.retry import RetryPolicy

API_KEY_ENV = "STATECATCHER_API_KEY"
CACHE_ENV = "STATECATCHER_CACHE_DIR"
ORDERS = ("shuffle", "asc", "desc", "listed")
SPLIT_RULES = ("podcast", "episode", "server")
SESSION_MODES = ("auto", "always", "never")


def default_cache_dir(base_url: str) -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "statecatcher")
    return root / "speechcatcher" / hashlib.sha256(base_url.encode()).hexdigest()[:12]


def _titles(podcasts: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.strip() for p in podcasts.split("|")) if isinstance(podcasts, str) else tuple(podcasts)


class SpeechcatcherDataSource:
    """Recordings from the server at ``spec`` (its base URL, ``http://127.0.0.1:6000`` or ``https://h/apiv1``).

    Options: the keyword parameters below, each with its help in the one declaration
    ``statecatcher_speechcatcher_data.OPTIONS`` (``statecatcher run --data speechcatcher:URL --help`` shows
    them); ``api_key`` is declared secret there.
    """

    def __init__(self, spec: str = "", *, seed: int = 0, config: str | None = None, api_key: str | None = None,
                 language: str | None = None, podcasts: str | list[str] = (), min_duration: float = 0.0,
                 max_duration: float = math.inf, split_by: str = "podcast", dev_fraction: float = 0.05,
                 test_fraction: float = 0.05, order: str = "shuffle", use_session: str = "auto",
                 session_batch_size: int = 64, cache_dir: str | None = None, cache_gb: float = 10.0,
                 refresh_listing: bool = False, prefetch: int = 4, workers: int = 2, timeout: float = 60.0,
                 connect_timeout: float = 10.0, retry_seconds: float = 120.0, retries: int | None = None,
                 backoff: float = 1.0, keep_alive: bool = True, include_corrupted: bool = False,
                 duration_tolerance: float = 1.0):
        for name, value, allowed in (("order", order, ORDERS), ("split_by", split_by, SPLIT_RULES),
                                     ("use_session", use_session, SESSION_MODES)):
            if value not in allowed:
                raise ValueError(f"speechcatcher data source: option {name}={value!r}, expected one of {allowed}")
        if not (0 <= dev_fraction and 0 <= test_fraction and dev_fraction + test_fraction <= 1):
            raise ValueError("speechcatcher data source: dev_fraction and test_fraction must be >= 0 with sum <= 1")
        deployment = read_deployment_config(config) if config else DeploymentConfig()
        spec = spec or deployment.server_api_url or ""
        api_key = api_key or deployment.secret_api_key or os.environ.get(API_KEY_ENV, "")
        language = language if language is not None else deployment.podcast_language or DEFAULT_LANGUAGE
        retry = RetryPolicy(budget=retry_seconds, first=backoff, max_retries=retries)
        self.client = ApiClient(spec, api_key, timeout=(connect_timeout, timeout), retry=retry,
                                keep_alive=keep_alive, pool_size=workers + 4)
        self.seed, self.order_by, self.split_by = seed, order, split_by
        self.dev_fraction, self.test_fraction, self.prefetch_count = dev_fraction, test_fraction, max(prefetch, 0)
        self.filters = Filters(language, _titles(podcasts), float(min_duration), float(max_duration),
                               include_corrupted)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir(self.client.base_url)
        listing_path = self.cache_dir / f"listing-{_digest(self.client.base_url, self.filters)}.json"
        cached = None if refresh_listing else load_listing(listing_path, self.client.api_key)
        if cached is None:
            cached = fetch_listing(self.client, self.filters, use_session=use_session,
                                   session_batch_size=session_batch_size)
            save_listing(listing_path, *cached, self.client.api_key)
        episodes, self.listing_facts = cached
        self.fetcher = Fetcher(self.client, self.cache_dir, cache_bytes=int(cache_gb * 1e9), workers=workers,
                               duration_tolerance=duration_tolerance)
        self._splits: dict[str, list[Episode]] = {}
        for episode in episodes:
            self._splits.setdefault(self._split_of(episode), []).append(episode)

    # -- the DataSource protocol -------------------------------------------------------------------------

    def recordings(self, split: str, *, rank: int = 0, world_size: int = 1, epoch: int = 0,
                   start: int = 0) -> Iterator[Recording]:
        check_recordings_args("speechcatcher data source", split, self._splits, rank=rank, world_size=world_size,
                              start=start)
        episodes = self._splits.get(split, [])
        shard = [episodes[i] for i in self.order(episodes, epoch)[rank::world_size]]
        loads = _ShardLoads(f"speechcatcher server {self.client.base_url}", split, len(shard)) if start == 0 \
            else None
        return (self._recording(shard, position, loads) for position in range(start, len(shard)))

    def describe(self) -> dict[str, Any]:
        return {"source": "speechcatcher", "url": self.client.base_url, "seed": self.seed,
                "language": self.filters.language, "podcasts": list(self.filters.podcasts),
                "min_duration": self.filters.min_duration,
                "max_duration": self.filters.max_duration if math.isfinite(self.filters.max_duration) else None,
                "split_by": self.split_by, "dev_fraction": self.dev_fraction, "test_fraction": self.test_fraction,
                "order": self.order_by, "listing": self.listing_facts, "skipped": len(self.fetcher.problems),
                "recordings": {split: len(episodes) for split, episodes in sorted(self._splits.items())}}

    def order(self, episodes: list[Episode], epoch: int) -> list[int]:
        """Indices into ``episodes`` (sorted by id) in the order of ``epoch``."""
        if self.order_by == "shuffle":
            return np.random.default_rng([self.seed, epoch]).permutation(len(episodes)).tolist()
        if self.order_by == "listed":
            return list(range(len(episodes)))
        by_duration = sorted(range(len(episodes)), key=lambda i: (episodes[i].duration, episodes[i].id))
        return by_duration if self.order_by == "asc" else by_duration[::-1]

    def problems(self) -> dict[str, str]:
        """Episode id -> why it was skipped (transcript or audio broken after every retry), so far."""
        return dict(self.fetcher.problems)

    def close(self) -> None:
        self.fetcher.close()
        self.client.close()

    # -- recordings ----------------------------------------------------------------------------------------

    def _split_of(self, episode: Episode) -> str:
        if self.split_by == "server" and episode.split:
            return episode.split
        key = episode.id if self.split_by == "episode" else (episode.podcast or episode.id)
        return hash_split(key, self.dev_fraction, self.test_fraction)

    def _recording(self, shard: list[Episode], position: int, loads: _ShardLoads | None) -> Recording:
        """The listed recording at ``position`` of ``shard``: nothing is fetched until it is loaded."""
        episode = shard[position]
        return Recording(id=episode.id, duration=episode.duration, segments=None, sample_rate=None,
                         load_audio=functools.partial(self._load_audio, shard, position),
                         segments_loader=functools.partial(self._load_segments, episode, position, loads),
                         meta={"split": self._split_of(episode), "podcast": episode.podcast,
                               "title": episode.title, "language": episode.language})

    def _load_segments(self, episode: Episode, position: int, loads: _ShardLoads | None) -> tuple[Segment, ...]:
        """The episode's cues clamped to its listed duration; raises :class:`TranscriptUnavailable` (an
        ``OSError``: the lane planner skips the recording), or :class:`TranscriptsUnavailable` when it is the
        last transcript of a shard listed from its start to fail, and every other one failed too."""
        try:
            segments = self.fetcher.transcript(episode)
        except TranscriptUnavailable as error:
            if loads is not None:
                loads.failed(position, str(error))
            raise
        return tuple(replace(s, start=min(s.start, episode.duration), end=min(s.end, episode.duration))
                     for s in segments)

    def _load_audio(self, shard: list[Episode], position: int) -> torch.Tensor:
        """Waits for this recording's audio, ``[num_samples]`` 16 kHz, the next ones downloading meanwhile."""
        return self.fetcher.load_audio(shard[position], ahead=shard[position + 1:position + self.prefetch_count + 1])


class TranscriptsUnavailable(RuntimeError):
    """Every transcript of a split failed to load: nothing to train on (a server or network problem)."""


class _ShardLoads:
    """The transcripts of one listed shard that failed to load, to tell a server that serves no transcript
    (:class:`TranscriptsUnavailable`, the run stops) from a few broken files (skipped recordings)."""

    def __init__(self, where: str, split: str, size: int):
        self.where, self.split, self.size = where, split, size
        self._failed: dict[int, str] = {}  # shard position -> why
        self._lock = threading.Lock()

    def failed(self, position: int, reason: str) -> None:
        """Notes the failure; raises :class:`TranscriptsUnavailable` once every transcript of the shard failed."""
        with self._lock:
            self._failed.setdefault(position, reason)
            every = len(self._failed) == self.size
            first = self._failed[min(self._failed)]
        if every:
            raise TranscriptsUnavailable(
                f"{self.where}: not one transcript of split {self.split!r} could be loaded ({self.size} of "
                f"{self.size} failed); the first: {first}")


def _digest(base_url: str, filters: Filters) -> str:
    facts = {"url": base_url, "language": filters.language, "podcasts": filters.podcasts, "min": filters.min_duration,
             "max": None if math.isinf(filters.max_duration) else filters.max_duration,
             "corrupted": filters.include_corrupted}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]

