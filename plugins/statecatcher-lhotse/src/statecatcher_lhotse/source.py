"""The data source ``lhotse:SPEC``: long recordings from lhotse manifests, with their supervisions as timed
segments (nothing is re-cut into short utterances).

``SPEC`` is a comma-separated list of manifest files (``.jsonl.gz``, ``.jsonl``, ``.json``), each item
optionally prefixed by the split it holds (``train=cuts_train.jsonl.gz,dev=cuts_dev.jsonl.gz``):

* a ``CutSet``: one statecatcher recording per cut (times relative to the cut);
* a ``RecordingSet`` with its ``SupervisionSet`` (two items, in any order): one recording per lhotse
  recording, its supervisions as segments (``CutSet.from_manifests``).

Split of a recording: the item's ``SPLIT=`` prefix, else the cut's ``custom["split"]``, else a hash of the
lhotse recording id (:func:`statecatcher.data.local.hash_split`, so every cut of one recording lands in the
same split).  Audio is loaded through lhotse (``cut.load_audio()``), averaged over channels and resampled to
16 kHz with soxr.  Lhotse Shar folders are not read yet.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from statecatcher.data.local import hash_split
from statecatcher.data.sharding import check_recordings_args
from statecatcher.records import SAMPLE_RATE, Recording, Segment


class LhotseDataSource:
    """Recordings from lhotse manifests (see the module docstring); order and sharding as the ``local``
    source: a permutation seeded by ``(seed, epoch)`` when ``shuffle``, shard ``rank`` every
    ``world_size``-th recording."""

    def __init__(self, spec: str, *, seed: int = 0, shuffle: bool = True, dev_fraction: float = 0.05,
                 test_fraction: float = 0.05):
        if not (0 <= dev_fraction and 0 <= test_fraction and dev_fraction + test_fraction <= 1):
            raise ValueError("lhotse data source: dev_fraction and test_fraction must be >= 0 with sum <= 1")
        self.spec, self.seed, self.shuffle = spec, seed, shuffle
        self.dev_fraction, self.test_fraction = dev_fraction, test_fraction
        self._splits: dict[str, list[Any]] = {}
        for split, paths in _items(spec).items():
            for cut in _load_cuts(paths):
                name = split or (cut.custom or {}).get("split") or hash_split(
                    cut.recording_id, dev_fraction, test_fraction)
                self._splits.setdefault(str(name), []).append(cut)
        recording_ids = [cut.recording_id for cuts in self._splits.values() for cut in cuts]
        self._one_cut_per_recording = len(set(recording_ids)) == len(recording_ids)

    # -- the DataSource protocol -------------------------------------------------------------------------

    def recordings(self, split: str, *, rank: int = 0, world_size: int = 1, epoch: int = 0,
                   start: int = 0) -> Iterator[Recording]:
        check_recordings_args(f"lhotse data source {self.spec}", split, self._splits, rank=rank,
                              world_size=world_size, start=start)
        cuts = self._splits.get(split, [])
        order = self.order(len(cuts), epoch)
        return (self._recording(cuts[i], split) for i in islice(order[rank::world_size], start, None))

    def describe(self) -> dict[str, Any]:
        return {"source": "lhotse", "spec": self.spec, "seed": self.seed, "shuffle": self.shuffle,
                "dev_fraction": self.dev_fraction, "test_fraction": self.test_fraction,
                "recordings": {split: len(cuts) for split, cuts in sorted(self._splits.items())}}

    def order(self, n: int, epoch: int) -> list[int]:
        """Indices ``0..n-1`` in the order of ``epoch``."""
        if not self.shuffle:
            return list(range(n))
        return np.random.default_rng([self.seed, epoch]).permutation(n).tolist()

    # -- one cut -> one recording ----------------------------------------------------------------------------

    def _recording(self, cut: Any, split: str) -> Recording:
        """The cut as a listed recording; its segments are built when loaded (:func:`cut_segments`)."""
        return Recording(id=cut.recording_id if self._one_cut_per_recording else cut.id,
                         duration=float(cut.duration), segments=None, sample_rate=int(cut.sampling_rate),
                         load_audio=functools.partial(load_cut_audio, cut),
                         segments_loader=functools.partial(cut_segments, cut),
                         meta={"split": split, "lhotse_cut": cut.id, "lhotse_recording": cut.recording_id})


def cut_segments(cut: Any) -> tuple[Segment, ...]:
    """The cut's supervisions as segments sorted by start, clamped to ``[0, cut.duration]`` (seconds)."""
    duration = float(cut.duration)
    return tuple(sorted(
        (Segment(start=min(max(float(sup.start), 0.0), duration), end=min(max(float(sup.end), 0.0), duration),
                 text=sup.text or "", speaker=sup.speaker) for sup in cut.supervisions),
        key=lambda segment: (segment.start, segment.end)))


def load_cut_audio(cut: Any):
    """``[num_samples]`` float32 torch tensor at 16 kHz mono: lhotse reads the cut's samples, channels are
    averaged, another rate is resampled with soxr (as every statecatcher audio file; lhotse's own resampler
    needs scipy)."""
    import soxr
    import torch

    audio = np.asarray(cut.load_audio(), dtype=np.float32)  # [channels, samples] at cut.sampling_rate
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    if cut.sampling_rate != SAMPLE_RATE:
        mono = soxr.resample(mono, cut.sampling_rate, SAMPLE_RATE, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))


def _items(spec: str) -> dict[str, list[Path]]:
    """``"train=a.jsonl.gz,b.jsonl.gz"`` -> ``{"train": [a], "": [b]}`` (``""``: split from the manifest)."""
    items: dict[str, list[Path]] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        split, sep, path = item.partition("=")
        items.setdefault(split.strip() if sep else "", []).append(Path(path if sep else item).expanduser())
    if not items:
        raise ValueError("lhotse data source: give a manifest, e.g. --data lhotse:data/cuts_train.jsonl.gz")
    return items


def _load_cuts(paths: list[Path]) -> list[Any]:
    """The cuts of one item group: CutSets as they are, a RecordingSet with its SupervisionSet as one cut
    per recording."""
    from lhotse import CutSet, RecordingSet, SupervisionSet, load_manifest

    loaded = {CutSet: [], RecordingSet: [], SupervisionSet: []}
    for path in paths:
        if path.is_dir():
            raise ValueError(f"lhotse data source: {path} is a folder (Lhotse Shar is not supported yet); "
                             "give a CutSet or RecordingSet + SupervisionSet manifest file")
        if not path.is_file():
            raise ValueError(f"lhotse data source: manifest {path} does not exist")
        try:
            manifest = load_manifest(path)
        except Exception as exc:  # noqa: BLE001 - lhotse raises ValueError/KeyError/JSON errors alike
            raise ValueError(f"lhotse data source: cannot read manifest {path}: {exc}") from exc
        kind = next((k for k in loaded if isinstance(manifest, k)), None)
        if kind is None:
            raise ValueError(f"lhotse data source: {path} holds a {type(manifest).__name__}; expected a CutSet, "
                             "RecordingSet or SupervisionSet")
        loaded[kind].append(manifest)
    cuts = [cut for cut_set in loaded[CutSet] for cut in cut_set]
    if loaded[SupervisionSet] and not loaded[RecordingSet]:
        raise ValueError(f"lhotse data source: {', '.join(map(str, paths))}: a SupervisionSet needs its "
                         "RecordingSet in the same item list")
    for recordings in loaded[RecordingSet]:
        supervisions = SupervisionSet.from_segments(s for sups in loaded[SupervisionSet] for s in sups)
        cuts.extend(CutSet.from_manifests(recordings=recordings, supervisions=supervisions))
    return cuts
