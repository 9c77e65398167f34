"""How the fetcher schedules audio downloads: one at a time while that keeps ahead of the loads, one more each
time a load waits for a file it asked for before (up to ``workers``), a waited-for file ahead of the queue,
and nothing left running or hanging after ``close()``.  The client is a double whose downloads write a short
WAV file and can be held, so every ordering below is forced, not timed."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import numpy as np
import pytest
import soundfile

from statecatcher.records import SAMPLE_RATE
from statecatcher_speechcatcher_data import fetch as fetch_module
from statecatcher_speechcatcher_data.fetch import Fetcher
from statecatcher_speechcatcher_data.listing import Episode

WAIT = 10.0  # seconds: only reached when the code under test is broken


class HeldDownloads:
    """An ``ApiClient`` double: ``download`` writes 0.1 s of audio, after waiting while its episode is held."""

    def __init__(self):
        self.started: list[str] = []  # episode ids, in the order their downloads started
        self.running = self.most_at_once = 0
        self._lock = threading.Lock()
        self._held: dict[str, threading.Event] = {}
        self._start_events: dict[str, threading.Event] = {}

    def hold(self, episode_id: str) -> None:
        self._held[episode_id] = threading.Event()

    def release(self, episode_id: str) -> None:
        self._held[episode_id].set()

    def release_all(self) -> None:
        for event in self._held.values():
            event.set()

    def wait_started(self, episode_id: str) -> None:
        assert self._start_event(episode_id).wait(WAIT), f"the download of {episode_id} never started"

    def _start_event(self, episode_id: str) -> threading.Event:
        with self._lock:
            return self._start_events.setdefault(episode_id, threading.Event())

    def download(self, url: str, destination: Path) -> Path:
        episode_id = url.rsplit("/", 1)[1].removesuffix(".wav")
        with self._lock:
            self.started.append(episode_id)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self._start_event(episode_id).set()
        try:
            if episode_id in self._held:
                assert self._held[episode_id].wait(WAIT), f"{episode_id} was held and never released"
            soundfile.write(destination, np.zeros(SAMPLE_RATE // 10, dtype=np.float32), SAMPLE_RATE)
        finally:
            with self._lock:
                self.running -= 1
        return destination


def episode(number: int) -> Episode:
    return Episode(id=f"e{number}", podcast="p", title=f"episode {number}", language="en", duration=0.1,
                   audio_url=f"http://server/audio/e{number}.wav", transcript_url=f"http://server/e{number}.vtt")


@pytest.fixture
def client_and_fetcher(tmp_path):
    client = HeldDownloads()
    fetcher = Fetcher(client, tmp_path, workers=2)
    yield client, fetcher
    client.release_all()
    fetcher.close()


def load_in_background(fetcher: Fetcher, item: Episode) -> tuple[threading.Thread, list]:
    loaded: list = []
    thread = threading.Thread(target=lambda: loaded.append(fetcher.load_audio(item)))
    thread.start()
    return thread, loaded


def test_downloads_that_keep_ahead_run_one_at_a_time(client_and_fetcher):
    client, fetcher = client_and_fetcher
    episodes = [episode(i) for i in range(6)]
    for position, item in enumerate(episodes):
        ahead = episodes[position + 1:position + 4]
        assert len(fetcher.load_audio(item, ahead=ahead)) == SAMPLE_RATE // 10
        for later in ahead:  # decoding outlasts the downloads: the next load finds its file there
            fetcher.prefetch(later).result(timeout=WAIT)
    assert client.started == [item.id for item in episodes]
    assert client.most_at_once == 1 and fetcher.concurrency == 1


def test_a_load_that_waits_for_a_file_asked_before_lets_one_more_download_run(client_and_fetcher):
    client, fetcher = client_and_fetcher
    client.hold("e1")
    fetcher.load_audio(episode(0), ahead=[episode(1), episode(2)])  # e1 starts (and is held), e2 is queued
    client.wait_started("e1")
    assert client.started == ["e0", "e1"] and fetcher.concurrency == 1
    thread, loaded = load_in_background(fetcher, episode(1))
    client.wait_started("e2")  # started beside the held e1: the load of e1 waited
    assert fetcher.concurrency == 2 and client.most_at_once == 2
    client.release("e1")
    thread.join(WAIT)
    assert len(loaded) == 1 and len(fetcher.load_audio(episode(2))) == SAMPLE_RATE // 10
    assert fetcher.concurrency == 2  # never more than workers
    fetcher.load_audio(episode(3), ahead=[episode(4)])
    assert fetcher.concurrency == 2


def test_a_file_that_a_load_waits_for_starts_ahead_of_the_queue(client_and_fetcher):
    client, fetcher = client_and_fetcher
    client.hold("e1")
    fetcher.load_audio(episode(0), ahead=[episode(1), episode(2), episode(3)])
    client.wait_started("e1")
    thread, loaded = load_in_background(fetcher, episode(3))  # e2 and e3 queued, in that order
    client.wait_started("e3")
    assert client.started == ["e0", "e1", "e3"]  # e3 first; the second slot is taken, so e2 still waits
    thread.join(WAIT)
    assert len(loaded) == 1
    client.release("e1")
    assert len(fetcher.load_audio(episode(2))) == SAMPLE_RATE // 10


def test_a_load_not_asked_for_before_does_not_raise_the_concurrency(client_and_fetcher):
    client, fetcher = client_and_fetcher
    for number in range(3):  # each load waits, but for a download it started itself (a pass's first file)
        fetcher.load_audio(episode(number))
    assert fetcher.concurrency == 1 and client.most_at_once == 1


def test_close_cancels_queued_downloads_and_a_waiting_load_does_not_hang(tmp_path):
    client = HeldDownloads()
    fetcher = Fetcher(client, tmp_path, workers=1)
    client.hold("e1")
    fetcher.load_audio(episode(0), ahead=[episode(1), episode(2)])
    client.wait_started("e1")  # workers=1: e2 waits behind the held e1
    failures: list[BaseException] = []

    def load_queued() -> None:
        try:
            fetcher.load_audio(episode(2))
        except BaseException as error:  # noqa: BLE001 - what the waiting load got
            failures.append(error)

    waiting = threading.Thread(target=load_queued)
    waiting.start()
    closing = threading.Thread(target=fetcher.close)
    closing.start()
    client.release("e1")  # close() lets a running download finish
    closing.join(WAIT)
    waiting.join(WAIT)
    assert not closing.is_alive() and not waiting.is_alive()
    assert client.started == ["e0", "e1"]
    assert len(failures) == 1 and isinstance(failures[0], CancelledError)
    with pytest.raises(CancelledError):
        fetcher.prefetch(episode(2)).result(timeout=WAIT)


def test_the_next_downloads_are_queued_once_a_file_already_here_is_open(client_and_fetcher, monkeypatch):
    """Their Python (requests, urllib3) then runs while libsndfile decodes, not while this thread opens the file."""
    client, fetcher = client_and_fetcher
    fetcher.prefetch(episode(0)).result(timeout=WAIT)
    queued_when: list[tuple[str, bool]] = []
    decode = fetch_module.load_audio

    def spying(path, on_open):
        queued_when.append(("called", "e1" in fetcher._downloads))
        return decode(path, on_open=lambda: (on_open(), queued_when.append(("open", "e1" in fetcher._downloads))))

    monkeypatch.setattr(fetch_module, "load_audio", spying)
    fetcher.load_audio(episode(0), ahead=[episode(1)])
    assert queued_when == [("called", False), ("open", True)]


def test_a_load_that_waits_queues_the_next_downloads_at_once(client_and_fetcher):
    client, fetcher = client_and_fetcher
    client.hold("e0")
    thread = threading.Thread(target=fetcher.load_audio, args=(episode(0),), kwargs={"ahead": [episode(1)]})
    thread.start()
    client.wait_started("e0")
    deadline = time.monotonic() + WAIT
    while "e1" not in fetcher._downloads and time.monotonic() < deadline:
        time.sleep(0.001)
    assert "e1" in fetcher._downloads  # queued while the load waits for e0: a slow link downloads both at once
    client.release("e0")
    thread.join(WAIT)
    assert not thread.is_alive()
