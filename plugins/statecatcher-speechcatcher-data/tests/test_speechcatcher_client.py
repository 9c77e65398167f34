"""The ``speechcatcher`` client against the in-process server: the data-source contract, listing, splits,
sessions, authentication, caching, mp3, and the key staying out of every file and log."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import numpy as np
import pytest
from flask import Flask, jsonify

from statecatcher.records import SAMPLE_RATE
from statecatcher.testing import DataSourceConformance
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher_speechcatcher_data.api import AuthenticationError
from statecatcher_speechcatcher_data.faults import Fault
from statecatcher_speechcatcher_data.listing import ListingError, is_corrupted, transcript_url_of
from statecatcher_speechcatcher_data.serve_cmd import Server
from statecatcher_speechcatcher_data.source import SpeechcatcherDataSource
from statecatcher_speechcatcher_data.testing import TEST_API_KEY, client_options, running_server, serving


class TestSpeechcatcherConformance(DataSourceConformance):
    @pytest.fixture(autouse=True)
    def _server(self, any_server_url, tmp_path):
        self.url, self.cache = any_server_url, tmp_path / "cache"

    def make_source(self):
        return SpeechcatcherDataSource(self.url, **client_options(self.cache))


def test_is_registered_under_the_entry_point():
    from statecatcher.plugins import get

    entry = get("data_source", "speechcatcher")
    assert entry.distribution == "statecatcher-speechcatcher-data"
    assert entry.load() is SpeechcatcherDataSource


def test_api_key_comes_from_the_environment(any_server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("STATECATCHER_API_KEY", TEST_API_KEY)
    options = client_options(tmp_path)
    del options["api_key"]
    assert len(list(SpeechcatcherDataSource(any_server_url, **options).recordings("train"))) == 6
    monkeypatch.delenv("STATECATCHER_API_KEY")
    with pytest.raises(ValueError, match="no API key"):
        SpeechcatcherDataSource(any_server_url, **options)


def test_real_server_episode_fields_transcript_url_and_corrupted_flag():
    session_item = {"transcript_file": "/var/www/speechcatcher.example/transcripts/ep1.vtt"}
    assert transcript_url_of(session_item, "http://h") == "https://speechcatcher.example/transcripts/ep1.vtt"
    listed = {**session_item, "transcript_file_url": "https://cdn.example/t/ep1.vtt"}
    assert transcript_url_of(listed, "http://h") == "https://cdn.example/t/ep1.vtt"
    assert is_corrupted({"transcript_file": "/var/www/x/transcripts/corrupted/ep1.vtt"})
    assert not is_corrupted({"transcript_file": "/var/www/x/transcripts/ep1-corrupted.vtt"})


@pytest.fixture(scope="module")
def podcast_corpus(tmp_path_factory):
    """12 episodes of 4 shows; the manifest's own split is by episode (for split_by=server)."""
    recordings = make_recordings(12, min_duration=2.0, max_duration=3.0, seed=5)
    directory = write_local_corpus(tmp_path_factory.mktemp("podcasts"), recordings)
    manifest = directory / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for i, row in enumerate(rows):
        row.update(podcast=f"show-{i % 4}", split=("train", "dev", "test")[i % 3])
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return directory


def test_splits_are_by_podcast_and_deterministic(podcast_corpus, tmp_path):
    with running_server(podcast_corpus) as (url, _):
        options = client_options(tmp_path, dev_fraction=0.3, test_fraction=0.3)
        source = SpeechcatcherDataSource(url, **options)
        shows = {split: {r.meta["podcast"] for r in source.recordings(split)} for split in ("train", "dev", "test")}
        assert sum(len(s) for s in shows.values()) == 4  # every show in exactly one split
        assert set().union(*shows.values()) == {f"show-{i}" for i in range(4)}
        again = SpeechcatcherDataSource(url, **options, refresh_listing=True)
        assert [r.id for r in again.recordings("dev")] == [r.id for r in source.recordings("dev")]
        by_server = SpeechcatcherDataSource(url, **client_options(tmp_path, split_by="server"))
        assert sorted(r.meta["title"] for r in by_server.recordings("dev")) == [f"rec-{i:03d}" for i in (1, 4, 7, 10)]


def test_filters_and_duration_order(podcast_corpus, tmp_path):
    with running_server(podcast_corpus) as (url, _):
        source = SpeechcatcherDataSource(url, **client_options(tmp_path, podcasts="show-1|show-2", order="desc"))
        recordings = list(source.recordings("train"))
        assert {r.meta["podcast"] for r in recordings} == {"show-1", "show-2"} and len(recordings) == 6
        assert [r.duration for r in recordings] == sorted((r.duration for r in recordings), reverse=True)


@pytest.mark.parametrize("use_session", ["auto", "never"])
def test_a_filter_that_matches_nothing_is_a_clear_error(server_url, tmp_path, use_session):
    with pytest.raises(ListingError, match="no episode"):
        SpeechcatcherDataSource(server_url, **client_options(tmp_path, min_duration=1000, use_session=use_session))


def test_session_listing_falls_back_recovers_and_tolerates_a_failing_end(corpus, tmp_path):
    with running_server(corpus, with_sessions=False) as (url, _):
        source = SpeechcatcherDataSource(url, **client_options(tmp_path / "old"))
        assert source.listing_facts["listed_by"] == "episode lists" and len(list(source.recordings("train"))) == 6
        with pytest.raises(ListingError, match="no training session API"):
            SpeechcatcherDataSource(url, **client_options(tmp_path / "always", use_session="always"))
    faults = [Fault("next_batch", "vanish", times=1), Fault("end_session", "error500", times=0)]
    with running_server(corpus, faults) as (url, plan):
        source = SpeechcatcherDataSource(url, **client_options(tmp_path / "new", session_batch_size=4))
        assert source.listing_facts["listed_by"] == "training session"
        assert sorted(r.meta["title"] for r in source.recordings("train")) == [f"rec-{i:03d}" for i in range(6)]
        assert [action for _, action, _ in plan.hits] == ["vanish", "error500"]  # ending is tried once


def test_listing_is_cached_and_reused(any_server_url, tmp_path):
    first = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path))
    second = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path))
    assert second.client.counters["requests"] == 0 < first.client.counters["requests"]
    assert [r.id for r in second.recordings("train")] == [r.id for r in first.recordings("train")]


@pytest.fixture
def fake_200_server():
    """An old-style server whose listing route answers a bad key with 200 {"success": false}."""
    app = Flask("fake")

    @app.get("/apiv1/get_every_episode_list/<key>")
    def every(key):
        return jsonify(success=False, error="wrong api key")

    with serving(Server(app, port=0)) as url:
        yield url


def test_wrong_key_is_an_authentication_error_without_the_key(server_url, upstream, fake_200_server, tmp_path,
                                                               caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-key-42"
    for url, use_session in ((server_url, "auto"), (server_url, "never"), (fake_200_server, "never"),
                             (upstream.url, "auto"), (upstream.url, "never")):  # upstream: 401, and 200 {false}
        with pytest.raises(AuthenticationError, match="rejected the API key") as error:
            SpeechcatcherDataSource(url, **client_options(tmp_path, api_key=wrong, use_session=use_session))
        assert wrong not in str(error.value) and wrong not in repr(error.value)
    client_log = [r.getMessage() for r in caplog.records if r.name.startswith("statecatcher_speechcatcher_data.")]
    assert client_log and not [line for line in client_log if wrong in line]


def tone_mp3(path, seconds: float, frequency: float = 440.0) -> None:
    """A mono 44.1 kHz mp3 of a sine tone, encoded with PyAV."""
    import av

    rate = 44_100
    samples = (0.5 * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp3", rate=rate, layout="mono")
        for offset in range(0, len(samples), 1152):
            frame = av.AudioFrame.from_ndarray(samples[None, offset:offset + 1152], format="flt", layout="mono")
            frame.rate = rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_mp3_episode_decodes_to_16k_mono(tmp_path):
    corpus = tmp_path / "mp3"
    corpus.mkdir()
    tone_mp3(corpus / "tone.mp3", 3.0)
    (corpus / "tone.json").write_text(json.dumps({"segments": [{"start": 0.5, "end": 2.5, "text": "a tone"}]}))
    (corpus / "manifest.jsonl").write_text(json.dumps({"id": "tone", "audio": "tone.mp3", "transcript": "tone.json",
                                                       "duration": 3.0}) + "\n")
    with running_server(corpus) as (url, _):
        recording = next(SpeechcatcherDataSource(url, **client_options(tmp_path, language="")).recordings("train"))
        waveform = recording.load_audio().numpy()
    assert abs(len(waveform) / SAMPLE_RATE - 3.0) < 0.1 and waveform.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(waveform[SAMPLE_RATE // 2: SAMPLE_RATE * 5 // 2]))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / (2 * SAMPLE_RATE) - 440.0) < 2.0


def test_disk_cache_spares_later_epochs_and_no_cache_keeps_nothing(any_server_url, tmp_path):
    def two_epochs(source):
        for epoch in (0, 1):
            for recording in source.recordings("train", epoch=epoch):
                recording.load_audio()
        return source.client.counters["bytes"]

    cached = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path / "cached", cache_gb=1.0))
    uncached = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path / "uncached", cache_gb=0))
    assert 2 * two_epochs(cached) == two_epochs(uncached) > 0
    assert len(list((tmp_path / "cached" / "audio").iterdir())) == 6
    assert not list(uncached.fetcher.audio_dir.iterdir())
    capped = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path / "capped", cache_gb=400e3 / 1e9))
    two_epochs(capped)
    assert sum(p.stat().st_size for p in (tmp_path / "capped" / "audio").iterdir()) <= 400e3 + 300e3



def test_the_environment_is_read_once_per_host_and_still_reaches_every_request(any_server_url, tmp_path,
                                                                              monkeypatch):
    """requests reads proxies, CA bundle and netrc from the environment on every request (~1 ms each, a third
    of the client's CPU per short audio file); the client reads them once per scheme and host instead."""
    import requests

    reads = []
    original = requests.Session.merge_environment_settings

    def counted(self, url, *args):
        if self.trust_env:
            reads.append(url)
        return original(self, url, *args)

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counted)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    source = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path, cache_gb=0))
    for recording in source.recordings("train"):
        recording.load_segments()
        recording.load_audio()
    hosts = {urlsplit(url)[:2] for url in reads}  # the API's, and the media host's where it has one
    assert source.client.counters["requests"] >= 12 and len(reads) == len(hosts) <= 2
    assert source.client._environment(any_server_url)["proxies"] == {}  # NO_PROXY holds for this host
    proxied = source.client._environment("http://media.example/a.flac")
    assert proxied["proxies"]["http"] == "http://proxy.invalid:3128" and len(reads) == len(hosts) + 1
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    assert source.client._environment("https://media.example/a.flac")["verify"] == str(tmp_path / "ca.pem")

def test_api_key_is_in_no_cached_file_and_no_log(any_server_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    source = SpeechcatcherDataSource(any_server_url, **client_options(tmp_path))
    for recording in source.recordings("train"):
        recording.load_segments()
        recording.load_audio()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 13  # the listing, 6 transcripts, 6 audio files
    assert not [p for p in files if TEST_API_KEY.encode() in p.read_bytes()]
    assert TEST_API_KEY not in json.dumps(source.describe()) and TEST_API_KEY not in caplog.text
