"""The built-in data source ``local:PATH``: a folder of audio files with timed transcripts.

Format (docs/data-format.md): ``PATH/manifest.jsonl`` lists the recordings, or, without a manifest,
every audio file under ``PATH`` is paired with the transcript of the same stem (``.json`` = Whisper output,
or ``.jsonl``).  Listing reads no transcript: order and sharding use only the list of ids, and a recording's
transcript is read when it is loaded (:meth:`~statecatcher.records.Recording.load_segments`); a malformed
one raises ``OSError`` naming the file, the segment and the field, and the lane planner skips and reports
the recording like audio that does not decode.  The duration is the manifest's ``duration``; without one,
listing reads the audio file's header once (kept for the life of the source; the only I/O a listing does).
A recording whose header cannot be read is still listed, with duration 0, ``meta["problem"]`` saying why and
loaders that raise ``OSError``, so it is skipped and reported the same way and the rest trains.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from statecatcher.data.audio import AUDIO_SUFFIXES, AudioDecodeError, audio_duration, load_audio
from statecatcher.data.sharding import check_recordings_args
from statecatcher.data.transcripts import TranscriptError, read_transcript
from statecatcher.records import Recording, Seconds, Segment

MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class _Entry:
    """One recording as listed: paths are absolute; ``duration`` None means "read the audio header"."""

    id: str
    audio: Path
    transcript: Path
    split: str
    duration: Seconds | None = None
    extra: dict = field(default_factory=dict, compare=False)


def hash_split(recording_id: str, dev_fraction: float, test_fraction: float) -> str:
    """The split of a recording without one: ``u = first 8 hex digits of sha256(id) / 16**8``;
    ``u < dev_fraction`` -> dev, ``u < dev_fraction + test_fraction`` -> test, else train."""
    u = int(hashlib.sha256(recording_id.encode("utf-8")).hexdigest()[:8], 16) / 16**8
    return "dev" if u < dev_fraction else "test" if u < dev_fraction + test_fraction else "train"


class LocalDataSource:
    """Recordings from a folder (``spec`` is its path); see the module docstring and docs/data-format.md.

    ``seed`` and ``epoch`` fix the order (a permutation when ``shuffle``, else manifest / sorted-id order);
    shard ``rank`` of ``world_size`` is every ``world_size``-th recording of that order from ``rank``.
    """

    def __init__(self, spec: str, *, seed: int = 0, shuffle: bool = True, dev_fraction: float = 0.05,
                 test_fraction: float = 0.05):
        self.root = Path(spec).expanduser()
        if not self.root.is_dir():
            raise ValueError(f"local data source: {spec!r} is not a folder")
        if not (0 <= dev_fraction and 0 <= test_fraction and dev_fraction + test_fraction <= 1):
            raise ValueError("local data source: dev_fraction and test_fraction must be >= 0 with sum <= 1")
        self.seed, self.shuffle = seed, shuffle
        self.dev_fraction, self.test_fraction = dev_fraction, test_fraction
        manifest = self.root / MANIFEST
        entries = self._read_manifest(manifest) if manifest.is_file() else self._scan_folder()
        self._splits: dict[str, list[_Entry]] = {}
        self._headers: dict[str, tuple[Seconds, int | None] | str] = {}  # id -> (duration, rate), or the problem
        self._headers_lock = threading.Lock()
        for entry in entries:
            self._splits.setdefault(entry.split, []).append(entry)

    # -- the DataSource protocol -------------------------------------------------------------------------

    def recordings(self, split: str, *, rank: int = 0, world_size: int = 1, epoch: int = 0,
                   start: int = 0) -> Iterator[Recording]:
        check_recordings_args(f"local data source {self.root}", split, self._splits, rank=rank,
                              world_size=world_size, start=start)
        entries = self._splits.get(split, [])
        order = self.order(len(entries), epoch)
        return (self._recording(entries[i]) for i in islice(order[rank::world_size], start, None))

    def describe(self) -> dict[str, Any]:
        return {"source": "local", "path": str(self.root), "seed": self.seed, "shuffle": self.shuffle,
                "dev_fraction": self.dev_fraction, "test_fraction": self.test_fraction,
                "manifest": (self.root / MANIFEST).is_file(),
                "recordings": {split: len(entries) for split, entries in sorted(self._splits.items())}}

    def order(self, n: int, epoch: int) -> list[int]:
        """Indices ``0..n-1`` in the order of ``epoch`` (a permutation seeded by ``(seed, epoch)``)."""
        if not self.shuffle:
            return list(range(n))
        return np.random.default_rng([self.seed, epoch]).permutation(n).tolist()

    # -- listing (no audio or transcript is opened here) ---------------------------------------------------

    def _read_manifest(self, manifest: Path) -> list[_Entry]:
        entries, seen = [], set()
        for n, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{manifest}, line {n}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: invalid JSON ({error})") from error
            for key in ("id", "audio", "transcript"):
                if not isinstance(item.get(key), str) or not item[key]:
                    raise ValueError(f"{where}: field '{key}' must be a non-empty string")
            if item["id"] in seen:
                raise ValueError(f"{where}: duplicate id {item['id']!r}")
            seen.add(item["id"])
            duration = item.get("duration")
            if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                         or duration < 0):
                raise ValueError(f"{where}: field 'duration' must be a number of seconds >= 0")
            split = item.get("split") or hash_split(item["id"], self.dev_fraction, self.test_fraction)
            extra = {k: v for k, v in item.items() if k not in ("id", "audio", "transcript", "split", "duration")}
            entries.append(_Entry(item["id"], self.root / item["audio"], self.root / item["transcript"], str(split),
                                  None if duration is None else float(duration), extra))
        return entries

    def _scan_folder(self) -> list[_Entry]:
        entries, orphans = [], []
        for audio in sorted(p for p in self.root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
            stem = audio.with_suffix("")
            transcript = next((t for t in (stem.with_suffix(".json"), stem.with_suffix(".jsonl")) if t.is_file()),
                              None)
            if transcript is None:
                orphans.append(audio.name)
                continue
            rid = stem.relative_to(self.root).as_posix()
            entries.append(_Entry(rid, audio, transcript, hash_split(rid, self.dev_fraction, self.test_fraction)))
        if orphans:
            warnings.warn(f"local data source {self.root}: {len(orphans)} audio file(s) without a same-stem "
                          f".json/.jsonl transcript are ignored, e.g. {orphans[:3]}", stacklevel=3)
        if not entries:
            raise ValueError(f"local data source {self.root}: no {MANIFEST} and no audio file "
                             f"({'/'.join(AUDIO_SUFFIXES)}) with a same-stem transcript")
        return entries

    # -- one recording: listed without its transcript, loaded by Recording.load_segments() ------------------

    def _recording(self, entry: _Entry) -> Recording:
        header = self._header(entry)
        if isinstance(header, str):
            return self._unusable(entry, header)
        duration, sample_rate = header
        return Recording(id=entry.id, duration=duration, segments=None, sample_rate=sample_rate,
                         load_audio=functools.partial(load_audio, entry.audio),
                         segments_loader=functools.partial(load_local_segments, entry.transcript, duration),
                         meta={"split": entry.split, "audio": str(entry.audio), "transcript": str(entry.transcript),
                               **entry.extra})

    def _header(self, entry: _Entry) -> tuple[Seconds, int | None] | str:
        """``(duration, sample rate)`` from the manifest, else from the audio header (read once), or the
        reason the header cannot be read."""
        if entry.duration is not None:
            return entry.duration, entry.extra.get("sample_rate")
        with self._headers_lock:
            known = self._headers.get(entry.id)
        if known is None:
            try:
                known = audio_duration(entry.audio)
            except AudioDecodeError as error:
                known = str(error)
            with self._headers_lock:
                self._headers[entry.id] = known
        return known

    def _unusable(self, entry: _Entry, problem: str) -> Recording:
        """``entry`` as a recording nothing can train on: duration 0, ``meta["problem"]``, and loaders that
        raise ``OSError(problem)`` (so the lane planner skips and reports it)."""
        warnings.warn(f"local data source {self.root}: recording {entry.id!r} cannot be used: {problem}",
                      stacklevel=4)
        fail = functools.partial(_raise_problem, problem)
        return Recording(id=entry.id, duration=entry.duration or 0.0, segments=None, sample_rate=None,
                         load_audio=fail, segments_loader=fail,
                         meta={"split": entry.split, "audio": str(entry.audio), "transcript": str(entry.transcript),
                               "problem": problem, **entry.extra})


def load_local_segments(transcript: Path, duration: Seconds) -> tuple[Segment, ...]:
    """The segments of a transcript file, every time clamped to ``[0, duration]`` (Whisper may stamp the last
    segment past the end of the audio); raises ``OSError`` naming the file, segment and field when malformed."""
    try:
        segments, _ = read_transcript(transcript)
    except TranscriptError as error:
        raise OSError(str(error)) from None
    return tuple(replace(s, start=min(max(s.start, 0.0), duration), end=min(max(s.end, 0.0), duration))
                 for s in segments)


def _raise_problem(problem: str) -> NoReturn:
    raise OSError(problem)
