"""Background downloads of audio and transcripts, an optional size-capped disk cache, and decoding.

Audio goes to disk, never to memory, until a lane needs it: :meth:`Fetcher.load_audio` downloads the file
(and, in the background, those of the episodes to be loaded next) in a pool of ``workers`` threads that share
the client's keep-alive connections, waits for it, decodes it (``statecatcher.data.audio``: soundfile, or
PyAV's bundled ffmpeg for mp3/m4a/opus; never a system binary) to float32 mono 16 kHz ``[num_samples]`` and
hands it over; the waveform lives only as long as the lane that trains it holds it.  With ``cache_bytes > 0``
files stay in ``cache_dir/audio`` (least recently used evicted beyond the cap); with 0 each file is deleted
once decoded.
Transcripts (small) are always cached in ``cache_dir/vtt``.

Downloads run one at a time until a load finds a file it asked for earlier still unfinished: then one more
runs at once, up to ``workers``.  Where one download keeps ahead of the decoding (a fast link) the second
thread stays idle instead of competing with the decoding thread for the CPU and the GIL; on a slow link the
pool reaches ``workers`` within a few recordings.  A file a load waits for starts at once, ahead of the queue.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import shutil
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import torch

from statecatcher.data.audio import AudioDecodeError, load_audio
from statecatcher.files import write_atomically
from statecatcher.records import SAMPLE_RATE, Segment
from statecatcher_speechcatcher_data.api import ApiClient, ApiError, TLSVerificationError
from statecatcher_speechcatcher_data.listing import Episode
from statecatcher_speechcatcher_data.vtt import VTTError, parse_vtt

log = logging.getLogger(__name__)


class TranscriptUnavailable(OSError):
    """The transcript of an episode cannot be fetched or parsed (an ``OSError``: the recording is skipped)."""


class Fetcher:
    """Downloads and decodes episodes' files; thread-safe; ``close()`` stops the pool and drops temp files.

    ``duration_tolerance`` (seconds): decoded audio shorter than the listed duration by more than this is
    treated as truncated: downloaded once more, then reported as undecodable.
    """

    def __init__(self, client: ApiClient, cache_dir: Path, *, cache_bytes: int = 0, workers: int = 2,
                 duration_tolerance: float = 1.0):
        self.client, self.cache_bytes, self.duration_tolerance = client, cache_bytes, duration_tolerance
        self.vtt_dir = cache_dir / "vtt"
        self.vtt_dir.mkdir(parents=True, exist_ok=True)
        if cache_bytes > 0:
            self.audio_dir, self._temporary = cache_dir / "audio", None
            self.audio_dir.mkdir(parents=True, exist_ok=True)
        else:
            self._temporary = tempfile.mkdtemp(prefix="statecatcher-speechcatcher-")
            self.audio_dir = Path(self._temporary)
            weakref.finalize(self, shutil.rmtree, self._temporary, True)
        self.workers = max(workers, 1)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="statecatcher-speechcatcher")
        self._lock = threading.Lock()
        self._downloads: dict[str, Future] = {}  # episode id -> its download (a future of the file's path)
        self._queued: deque[tuple[Future, str, Path]] = deque()  # not started: (future, url, path)
        self._running, self._closed = 0, False
        self.concurrency = 1  # downloads at once; raised up to ``workers`` by loads that wait (module docstring)
        self.problems: dict[str, str] = {}  # episode id -> why it was skipped

    # -- transcripts ---------------------------------------------------------------------------------------

    def transcript(self, episode: Episode) -> tuple[Segment, ...]:
        """The episode's cues (cached); raises :class:`TranscriptUnavailable` when it stays broken and
        :class:`~statecatcher_speechcatcher_data.api.TLSVerificationError` when its host's certificate fails."""
        path = self.vtt_dir / f"{_safe(episode.id)}-{_digest(episode.transcript_url)}.vtt"
        try:
            if path.is_file():
                text = path.read_text(encoding="utf-8")
            else:
                response = self.client.request("GET", episode.transcript_url)
                with response:
                    if response.status_code != 200:
                        raise ApiError(f"HTTP {response.status_code}", response.status_code)
                    response.encoding = "utf-8"
                    text = response.text
            segments = parse_vtt(text, name=f"transcript of episode {episode.id}")
        except TLSVerificationError:
            raise  # permanent and the same for every file of that host: the run must stop, not skip
        except (ApiError, VTTError, UnicodeDecodeError) as error:
            raise self._problem(episode, TranscriptUnavailable, f"transcript: {self.client.scrub(error)}") from None
        if not segments:
            raise self._problem(episode, TranscriptUnavailable, "transcript: no cue with text")
        if not path.is_file():
            write_atomically(path, text)
        return segments

    # -- audio ---------------------------------------------------------------------------------------------

    def prefetch(self, episode: Episode) -> Future:
        """Queues the episode's audio for a background download (no-op when queued, started or cached);
        returns the download, whose result is the file's path."""
        return self._download(episode)

    def load_audio(self, episode: Episode, ahead: Sequence[Episode] = ()) -> torch.Tensor:
        """The episode's waveform ``[num_samples]`` float32 16 kHz; raises ``AudioDecodeError`` / ``OSError``.

        ``ahead``: the episodes to be loaded next, queued for download (in order) behind this one: once the file
        is open and decoding when it is already here (see ``statecatcher.data.audio.load_audio``'s ``on_open``),
        at once when this load has to wait for it anyway."""
        queue_ahead = functools.partial(self._queue, ahead)
        try:
            return self._load(episode, queue_ahead)
        finally:
            queue_ahead()  # for a failed download or a file no decoder opened; a no-op otherwise

    def _load(self, episode: Episode, queue_ahead: Callable[[], None]) -> torch.Tensor:
        for attempt in (1, 2):
            with self._lock:
                asked_before = episode.id in self._downloads
            download = self._download(episode)
            if not download.done():
                queue_ahead()
                self._hurry(download, asked_before)
            try:
                path = download.result()
            except OSError as error:  # noted as a problem first, so that no other load queues it again meanwhile
                problem = self._problem(episode, OSError, f"audio download: {self.client.scrub(error)}")
                self._drop_failed(episode, download)  # a later epoch downloads it again
                raise problem from None
            try:
                waveform = load_audio(path, on_open=queue_ahead)
                missing = episode.duration - len(waveform) / SAMPLE_RATE
                if missing > self.duration_tolerance:
                    raise AudioDecodeError(path.name, f"decoded {len(waveform) / SAMPLE_RATE:.2f} s, listed "
                                                      f"{episode.duration:.2f} s (truncated?)")
            except AudioDecodeError as error:
                if attempt == 1:
                    self._forget(episode, path, delete=True)
                    log.warning("speechcatcher: episode %s: %s; downloading it again", episode.id, error.reason)
                    continue
                problem = self._problem(episode, AudioDecodeError, error.reason, path=path.name)
                self._forget(episode, path, delete=True)
                raise problem from None
            self._forget(episode, path, delete=self.cache_bytes <= 0)
            return waveform
        raise AssertionError("unreachable")  # pragma: no cover

    def _download(self, episode: Episode) -> Future:
        """The episode's download: the one asked for before, a finished one for a cached file, or a new one
        queued behind the others."""
        with self._lock:
            future = self._downloads.get(episode.id)
            if future is None:  # the path is built only here: every load asks again for the next episodes
                suffix = PurePosixPath(urlparse(episode.audio_url).path).suffix.lower()[:8] or ".audio"
                path = self.audio_dir / f"{_safe(episode.id)}-{_digest(episode.audio_url)}{suffix}"
                future = Future()
                if path.is_file():
                    path.touch()  # least recently used goes first
                    future.set_result(path)
                else:
                    self._queued.append((future, episode.audio_url, path))
                    self._start_queued()
                self._downloads[episode.id] = future
            return future

    def _queue(self, episodes: Sequence[Episode]) -> None:
        """Queues the downloads of ``episodes`` (those to be loaded next), but not of one found broken: only a
        load of it tries again."""
        for episode in episodes:
            if episode.id not in self.problems:
                self._download(episode)

    def _hurry(self, download: Future, asked_before: bool) -> None:
        """A load waits for ``download``: start it now if it is queued, and let one more download run at once
        if it was asked for before this load (the downloads did not keep ahead)."""
        with self._lock:
            if asked_before and self.concurrency < self.workers:
                self.concurrency += 1
                log.debug("speechcatcher: a load waited for its download; %d downloads at once", self.concurrency)
            for job in self._queued:
                if job[0] is download:
                    self._queued.remove(job)
                    if self._take(*job):
                        self._submit(job)
                    break
            self._start_queued()

    def _start_queued(self) -> None:
        """Starts queued downloads while fewer than ``concurrency`` run (the caller holds the lock)."""
        while self._running < self.concurrency and (job := self._next_queued()) is not None:
            self._submit(job)

    def _submit(self, job: tuple[Future, str, Path]) -> None:
        """Runs a started download on a pool thread (the caller holds the lock)."""
        self._running += 1
        self._pool.submit(self._run, *job)

    def _next_queued(self) -> tuple[Future, str, Path] | None:
        """The next queued download, marked started; None when none is left (the caller holds the lock)."""
        while self._queued:
            job = self._queued.popleft()
            if self._take(*job):
                return job
        return None

    def _take(self, future: Future, url: str, path: Path) -> bool:
        """Marks a queued download as started; False (and cancelled) once closed (the caller holds the lock)."""
        if self._closed or not future.set_running_or_notify_cancel():
            future.cancel()
            return False
        return True

    def _run(self, future: Future, url: str, path: Path) -> None:
        """Downloads on a pool thread, then goes on with the next queued file in the same thread (no other
        thread to wake) while no more than ``concurrency`` run; the next one starts before loads are told."""
        while True:
            try:
                if self._closed:  # started before close(), run after it: the loads waiting for it are told
                    raise CancelledError(f"download of {url} stopped: the fetcher is closed")
                self.client.download(url, path)
                if self.cache_bytes > 0:
                    self._evict(keep=path)
                outcome: BaseException | None = None
            except BaseException as error:  # noqa: BLE001 - handed to the loading thread, as the pool would
                outcome = error
            with self._lock:
                job = self._next_queued() if self._running <= self.concurrency else None
                if job is None:
                    self._running -= 1
                self._start_queued()
            if outcome is None:
                future.set_result(path)
            else:
                future.set_exception(outcome)
            if job is None:
                return
            future, url, path = job

    def _drop_failed(self, episode: Episode, download: Future) -> None:
        with self._lock:
            if self._downloads.get(episode.id) is download:
                del self._downloads[episode.id]

    def _forget(self, episode: Episode, path: Path, *, delete: bool) -> None:
        with self._lock:
            self._downloads.pop(episode.id, None)
        if delete:
            path.unlink(missing_ok=True)

    def _evict(self, keep: Path) -> None:
        """Delete the least recently used cached files until the cache fits ``cache_bytes``."""
        with self._lock:
            busy = {f.result() for f in self._downloads.values()
                    if f.done() and not f.cancelled() and f.exception() is None} | {keep}
            files = sorted((p for p in self.audio_dir.iterdir() if p.is_file() and p.suffix != ".part"),
                           key=lambda p: p.stat().st_mtime)
            total = sum(p.stat().st_size for p in files)
            for old in files:
                if total <= self.cache_bytes:
                    break
                if old not in busy:
                    total -= old.stat().st_size
                    old.unlink(missing_ok=True)

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def _problem(self, episode: Episode, kind: type, reason: str, path: str | None = None) -> Exception:
        with self._lock:
            first = episode.id not in self.problems
            self.problems[episode.id] = reason
        if first:
            log.warning("speechcatcher: skipping episode %s (%s): %s", episode.id, episode.title, reason)
        return kind(path or f"episode {episode.id}", reason) if kind is AudioDecodeError else kind(
            f"episode {episode.id}: {reason}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for future, _, _ in self._queued:
                future.cancel()
            self._queued.clear()
        self._pool.shutdown(wait=True)  # a started download finishes; one not begun fails at once (_run)
        if self._temporary:
            shutil.rmtree(self._temporary, ignore_errors=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
