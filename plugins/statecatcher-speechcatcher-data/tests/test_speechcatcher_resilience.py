"""Outages, certificates and lost transcripts (issue #18 items 4 and 5).

Retries wait on ``retry.CLOCK``; these tests swap in a virtual clock whose sleep only moves the time, so a
40 s outage is waited out in milliseconds, and the outage itself ends when the virtual time says so.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from statecatcher.data.lanes import LaneBatcher
from statecatcher.text import TextNormalizer
from statecatcher.train.tokens import transcript_texts
from statecatcher_speechcatcher_data import retry
from statecatcher_speechcatcher_data.api import ApiError, TLSVerificationError
from statecatcher_speechcatcher_data.faults import Fault
from statecatcher_speechcatcher_data.listing import ListingError
from statecatcher_speechcatcher_data.serve_cmd import Server
from statecatcher_speechcatcher_data.source import SpeechcatcherDataSource, TranscriptsUnavailable
from statecatcher_speechcatcher_data.testing import TEST_API_KEY, client_options, running_server, serving
from statecatcher_speechcatcher_data.upstream_double import (
    create_media_app,
    create_upstream_app,
    episodes_from_corpus,
    running_media,
    running_upstream,
)

DATA = Path(__file__).parent / "data"


class VirtualClock:
    """Time that moves only when slept; ``at(t, action)`` runs ``action`` once the time reaches ``t``."""

    def __init__(self):
        self.time, self.sleeps, self._actions = 0.0, [], []
        self._lock = threading.Lock()

    def at(self, when: float, action) -> None:
        self._actions.append((when, action))

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.time += seconds
            self.sleeps.append(seconds)
            due = [action for when, action in self._actions if when <= self.time]
            self._actions = [(when, action) for when, action in self._actions if when > self.time]
        for action in due:
            action()

    def install(self, monkeypatch) -> VirtualClock:
        monkeypatch.setattr(retry, "CLOCK", retry.Clock(now=lambda: self.time, sleep=self.sleep,
                                                        random=random.Random(0).random))
        return self


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def default_options(tmp_path) -> dict:
    """Only what a user must give (the key), a private cache, every episode in train: retries as shipped."""
    return dict(api_key=TEST_API_KEY, cache_dir=str(tmp_path / "cache"), dev_fraction=0.0, test_fraction=0.0)


def wait_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "statecatcher_speechcatcher_data.retry"]


def test_a_40_second_outage_at_start_up_is_waited_out_with_the_default_budget(corpus, tmp_path, monkeypatch,
                                                                               caplog):
    caplog.set_level(logging.WARNING)
    clock = VirtualClock().install(monkeypatch)
    port = free_port()
    with ExitStack() as stack:
        clock.at(40.0, lambda: stack.enter_context(running_upstream(corpus, port=port)))
        source = SpeechcatcherDataSource(f"http://127.0.0.1:{port}", **default_options(tmp_path))
        assert source.listing_facts["listed_by"] == "training session"
        assert len(list(source.recordings("train"))) == 6
    assert 40 <= sum(clock.sleeps) <= 120 and len(clock.sleeps) >= 5
    for n, seconds in enumerate(clock.sleeps):  # exponential, jittered into [0.5, 1] of the step, at most 30 s
        assert 0.5 * min(2**n, 30) <= seconds <= min(2**n, 30)
    lines = wait_lines(caplog)
    assert len(lines) == len(clock.sleeps)  # one line per wait, saying what it waits for
    assert all(f"POST http://127.0.0.1:{port}/apiv1/start_training_session/***: ConnectionError" in line
               and "waiting" in line and "for the server, then retry" in line for line in lines)
    assert TEST_API_KEY not in caplog.text


def test_a_server_that_stays_down_ends_when_the_budget_is_spent(tmp_path, monkeypatch, caplog):
    clock = VirtualClock().install(monkeypatch)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ListingError, match=r"start_training_session failed: POST .* failed after \d+ attempt\(s\) in "
                                           r"120 s \(retry_seconds=120\): ConnectionError: \[Errno 111\] Connection "
                                           r"refused$"):
        SpeechcatcherDataSource(url, **default_options(tmp_path))
    assert sum(clock.sleeps) == pytest.approx(120)
    clock.sleeps.clear()
    with pytest.raises(ApiError, match=r"get_every_episode_list/\*\*\* failed after \d+ attempt\(s\) in 10 s "
                                       r"\(retry_seconds=10\)"):
        SpeechcatcherDataSource(url, **default_options(tmp_path), retry_seconds=10, use_session="never")
    assert sum(clock.sleeps) == pytest.approx(10)


def test_downloads_during_training_get_the_same_budget(corpus, tmp_path, monkeypatch, caplog):
    """Eight 500s in a row on one audio file (the old 5 retries gave up): waited out, one line per wait."""
    caplog.set_level(logging.WARNING)
    clock = VirtualClock().install(monkeypatch)
    with running_server(corpus, [Fault("audio", "error500", match="rec-000.flac", times=8)]) as (url, plan):
        source = SpeechcatcherDataSource(url, **default_options(tmp_path), order="listed", prefetch=0)
        recording = next(r for r in source.recordings("train") if r.meta["title"] == "rec-000")
        assert len(recording.load_audio()) == round(recording.duration * 16_000)
    assert len(plan.hits) == 8 and len(clock.sleeps) == 8 and not source.problems()
    waited_for = f"speechcatcher: GET {url}/apiv1/audio/***/rec-000.flac"
    assert [line.partition(": HTTP 500")[0] for line in wait_lines(caplog)] == [waited_for] * 8


# -- TLS ---------------------------------------------------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def tls_serving(app):
    """``app`` over HTTPS on 127.0.0.1 with a certificate from the test CA (``data/test-ca.pem``)."""
    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=QuietHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(DATA / "test-server.pem", DATA / "test-server-key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def no_ca_bundle(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_a_certificate_that_does_not_verify_fails_at_once_naming_host_and_ca_bundle(corpus, tmp_path, monkeypatch,
                                                                                      caplog, no_ca_bundle):
    caplog.set_level(logging.WARNING)
    clock = VirtualClock().install(monkeypatch)
    with running_media(corpus) as (_, episodes), tls_serving(create_upstream_app(episodes)) as url:
        started = time.perf_counter()
        with pytest.raises(TLSVerificationError) as error:
            SpeechcatcherDataSource(url, **default_options(tmp_path))
        assert time.perf_counter() - started < 5 and not clock.sleeps and not wait_lines(caplog)  # not retried
        host = url.removeprefix("https://")
        assert f"TLS certificate verification failed for {host}" in str(error.value)
        assert "REQUESTS_CA_BUNDLE" in str(error.value) and TEST_API_KEY not in str(error.value)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(DATA / "test-ca.pem"))  # what the message says to do
        assert len(SpeechcatcherDataSource(url, **default_options(tmp_path)).listing_facts) > 0


def test_a_media_host_whose_certificate_fails_stops_the_run_instead_of_skipping(corpus, tmp_path, no_ca_bundle):
    """The real deployment serves media from another host; its certificate failing is not a broken file."""
    files: dict = {}
    with tls_serving(create_media_app(files)) as media_url:
        episodes, found = episodes_from_corpus(corpus, media_url)
        files.update(found)
        with serving(Server(create_upstream_app(episodes), port=0)) as api_url:
            source = SpeechcatcherDataSource(api_url, **client_options(tmp_path))
            assert source.listing_facts["listed_by"] == "training session"  # transcript URLs from the audio's
            with pytest.raises(TLSVerificationError, match=f"failed for {media_url.removeprefix('https://')}"):
                [recording.load_segments() for recording in source.recordings("train")]
    assert not source.problems()


def test_when_every_transcript_fails_the_error_says_so_not_the_tokenizer(corpus, tmp_path):
    with running_server(corpus, [Fault("transcript", "not_found", times=0)]) as (url, plan):
        source = SpeechcatcherDataSource(url, **client_options(tmp_path))
        assert not plan.hits  # listing fetches no transcript: the failures come when they are loaded
        with pytest.raises(TranscriptsUnavailable) as error:
            list(transcript_texts(source, "train", TextNormalizer()))  # what the tokenizer trains on
        with pytest.raises(TranscriptsUnavailable) as in_lanes:  # and when the lane batcher loads them
            with LaneBatcher(source, batch_size=2, num_workers=2) as batches:
                next(batches)
    message = str(error.value)
    assert "not one transcript of split 'train' could be loaded (6 of 6 failed); the first: episode " in message
    assert "transcript: GET" in message and "404 not found" in message and TEST_API_KEY not in message
    assert str(in_lanes.value).startswith(f"speechcatcher server {url}: not one transcript of split 'train'")
