"""The built-in data source ``local:PATH``: a folder of audio files with timed transcripts.

Format (docs/data-format.md): ``PATH/manifest.jsonl`` lists the recordings, or, without a manifest,
every audio file under ``PATH`` is paired with the transcript of the same stem (``.json`` = Whisper output,
or ``.jsonl``).  Order and sharding use only the list of ids (no I/O); transcripts and durations are read
when a recording is yielded.  A recording whose transcript is malformed (or whose audio header cannot be
read) is still yielded, with no segments, ``meta["problem"]`` saying why and a ``load_audio`` that raises
``OSError``: the lane planner skips and reports it like audio that does not decode, and the rest trains.
"""

from __future__ import annotations

import functools
import hashlib
import json
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
from statecatcher.records import Recording, Seconds

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

    # -- one recording (reads its transcript, and the audio header when the duration is unknown) ------------

    def _recording(self, entry: _Entry) -> Recording:
        try:
            segments, facts = read_transcript(entry.transcript)
            duration, sample_rate = (entry.duration, entry.extra.get("sample_rate")) if entry.duration is not None \
                else audio_duration(entry.audio)
        except (TranscriptError, AudioDecodeError) as error:
            return self._unusable(entry, str(error))
        # Whisper may stamp the last segment past the end of the audio: clamp every time to [0, duration]
        segments = tuple(replace(s, start=min(max(s.start, 0.0), duration), end=min(max(s.end, 0.0), duration))
                         for s in segments)
        return Recording(id=entry.id, duration=duration, segments=segments, sample_rate=sample_rate,
                         load_audio=functools.partial(load_audio, entry.audio),
                         meta={"split": entry.split, "audio": str(entry.audio), **facts, **entry.extra})

    def _unusable(self, entry: _Entry, problem: str) -> Recording:
        """``entry`` as a recording nothing can train on: no segments, ``meta["problem"]``, and a ``load_audio``
        that raises ``OSError(problem)`` (so the lane planner skips and reports it)."""
        warnings.warn(f"local data source {self.root}: recording {entry.id!r} cannot be used: {problem}",
                      stacklevel=4)
        return Recording(id=entry.id, duration=entry.duration or 0.0, segments=(), sample_rate=None,
                         load_audio=functools.partial(_raise_problem, problem),
                         meta={"split": entry.split, "audio": str(entry.audio), "problem": problem, **entry.extra})


def _raise_problem(problem: str) -> NoReturn:
    raise OSError(problem)
