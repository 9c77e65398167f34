"""Background downloads of audio and transcripts, an optional size-capped disk cache, and decoding.

Audio goes to disk, never to memory, until a lane needs it: :meth:`Fetcher.prefetch` starts downloads in a
pool of ``workers`` threads that share the client's keep-alive connections, and :meth:`Fetcher.load_audio`
waits for the file, decodes it (``statecatcher.data.audio``: soundfile, or PyAV's bundled ffmpeg for
mp3/m4a/opus; never a system binary) to float32 mono 16 kHz ``[num_samples]`` and hands it over; the
waveform lives only as long as the lane that trains it holds it.  With ``cache_bytes > 0`` files stay in
``cache_dir/audio`` (least recently used evicted beyond the cap); with 0 each file is deleted once decoded.
Transcripts (small) are always cached in ``cache_dir/vtt``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
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
        self._pool = ThreadPoolExecutor(max(workers, 1), thread_name_prefix="statecatcher-speechcatcher")
        self._lock = threading.Lock()
        self._downloads: dict[str, Future] = {}
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

    def prefetch(self, episode: Episode) -> None:
        """Start downloading the episode's audio in the background (no-op when started or cached)."""
        self._download(episode)

    def load_audio(self, episode: Episode) -> torch.Tensor:
        """The episode's waveform ``[num_samples]`` float32 16 kHz; raises ``AudioDecodeError`` / ``OSError``."""
        for attempt in (1, 2):
            download = self._download(episode)
            try:
                path = download.result()
            except OSError as error:
                self._drop_failed(episode, download)  # a later epoch downloads it again
                raise self._problem(episode, OSError, f"audio download: {self.client.scrub(error)}") from None
            try:
                waveform = load_audio(path)
                missing = episode.duration - len(waveform) / SAMPLE_RATE
                if missing > self.duration_tolerance:
                    raise AudioDecodeError(path.name, f"decoded {len(waveform) / SAMPLE_RATE:.2f} s, listed "
                                                      f"{episode.duration:.2f} s (truncated?)")
            except AudioDecodeError as error:
                self._forget(episode, path, delete=True)
                if attempt == 1:
                    log.warning("speechcatcher: episode %s: %s; downloading it again", episode.id, error.reason)
                    continue
                raise self._problem(episode, AudioDecodeError, error.reason, path=path.name) from None
            self._forget(episode, path, delete=self.cache_bytes <= 0)
            return waveform
        raise AssertionError("unreachable")  # pragma: no cover

    def _download(self, episode: Episode) -> Future:
        suffix = PurePosixPath(urlparse(episode.audio_url).path).suffix.lower()[:8] or ".audio"
        path = self.audio_dir / f"{_safe(episode.id)}-{_digest(episode.audio_url)}{suffix}"
        with self._lock:
            future = self._downloads.get(episode.id)
            if future is None:
                if path.is_file():
                    path.touch()  # least recently used goes first
                    future = Future()
                    future.set_result(path)
                else:
                    future = self._pool.submit(self._fetch, episode.audio_url, path)
                self._downloads[episode.id] = future
            return future

    def _fetch(self, url: str, path: Path) -> Path:
        self.client.download(url, path)
        if self.cache_bytes > 0:
            self._evict(keep=path)
        return path

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
            busy = {f.result() for f in self._downloads.values() if f.done() and f.exception() is None} | {keep}
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
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._temporary:
            shutil.rmtree(self._temporary, ignore_errors=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
