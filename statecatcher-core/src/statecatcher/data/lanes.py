"""The lane batcher: recordings -> segments -> lanes -> :class:`~statecatcher.data.batch.Batch` es.

Lane b streams one recording segment after segment; step k's batch is the next segment of every lane.
When a lane's recording ends it takes the next recording of the shard (``reset[b] = True`` on its first
segment); a lane with nothing left is inactive (``lengths 0, weight 0``) until every lane is done, which
ends the epoch.  See DESIGN.md for the picture and :mod:`statecatcher.data.lane_plan` for the rule.

Workers: a planner thread runs :class:`LanePlanner` ahead of the consumer, loading recordings (transcript,
then audio) a few recordings ahead in a pool of ``num_workers`` threads, and submits every lane's feature
extraction to that pool or, with ``feature_processes=N``, to N worker processes (kaldi-native-fbank holds
the GIL, so threads give about one core of features; processes scale).  At most ``prefetch`` steps are in
flight.  The consumer collects them strictly in plan order, so the batches never depend on timing.
``num_workers=0`` does everything in the consumer's thread.

Usage::

    with LaneBatcher(source, batch_size=8, epoch=epoch) as batches:
        batches.load_state_dict(saved)          # optional: resume exactly after the last batch handed out
        for batch in batches:
            ...
            checkpoint["data"] = batches.state_dict()
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, NamedTuple

import torch
from torch.nn.utils.rnn import pad_sequence

from statecatcher.data.batch import Batch
from statecatcher.data.fbank import FeatureConfig, span_samples, timed_fbank
from statecatcher.data.lane_plan import LaneItem, LanePlanner, load_recording
from statecatcher.data.segmenter import SegmenterConfig, TrainingSegment
from statecatcher.data.speed_perturb import SpeedPerturbation
from statecatcher.protocols import DataSource
from statecatcher.records import FRAME_SHIFT, Recording
from statecatcher.text import normalize


class _Pending(NamedTuple):
    """One lane of a planned step: its segment and the future of its features ``([T, F] numpy, seconds)``."""

    recording_id: str
    segment: TrainingSegment
    is_last: bool
    features: Future
    verdict: Any  # the label filter's Verdict (``reject``, ``rejections``), or None without a filter


class _Step(NamedTuple):
    lanes: list[_Pending | None]
    state: dict[str, Any]  # the plan's position after this step
    skipped: int  # recordings the planner had skipped when it planned this step


class _Failed(NamedTuple):
    error: BaseException


_END = None  # queue marker: the epoch is over


class _Inline(Executor):
    """Runs each task at once in the caller's thread (``num_workers=0``)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


class LaneBatcher:
    """Iterates one epoch of ``batch_size``-lane batches from shard ``rank``/``world_size`` of ``source``.

    ``normalizer`` turns transcript text into target text.  ``label_filter(recording, segment, waveform)``
    (e.g. :attr:`statecatcher.filters.FilterStage.text_filter`) judges each training segment when it is
    planned: a verdict with ``reject`` sets its weight to 0 (its audio is still in the batch), and every
    lane's ``rejections`` go to ``batch.info["filtered"]``.  A ``label_filter`` with ``state_dict`` /
    ``load_state_dict`` (a running reference) is snapshotted with every planned step, so ``state_dict()``
    resumes it as of the last batch handed out, not as of the steps planned ahead.  ``prefetch`` bounds the
    steps in flight, ``decode_ahead`` the recordings loaded (transcript, then audio) before a lane takes
    them.  ``speed_perturbation`` plays each recording at its speed for ``epoch`` (training only; see
    :mod:`statecatcher.data.speed_perturb`).  ``stats()`` reports, among others, ``wait_seconds``: how long
    the consumer blocked waiting for batches (``decode_seconds``: time spent loading recordings).
    """

    def __init__(self, source: DataSource, *, split: str = "train", batch_size: int,
                 segmenter: SegmenterConfig = SegmenterConfig(), features: FeatureConfig = FeatureConfig(),
                 rank: int = 0, world_size: int = 1, epoch: int = 0, normalizer: Callable[[str], str] = normalize,
                 num_workers: int = 2, prefetch: int = 4, decode_ahead: int = 2, feature_processes: int = 0,
                 label_filter: Callable[[Recording, TrainingSegment, torch.Tensor], Any] | None = None,
                 speed_perturbation: SpeedPerturbation | None = None):
        if abs(features.frame_shift - FRAME_SHIFT) > 1e-9:  # segment boundaries would fall between frames
            raise ValueError(f"features: frame_shift {features.frame_shift} s is not the shared frame grid "
                             f"FRAME_SHIFT = {FRAME_SHIFT} s (statecatcher.records)")
        if num_workers < 0 or prefetch < 1 or feature_processes < 0:
            raise ValueError("need num_workers >= 0, prefetch >= 1 and feature_processes >= 0, got "
                             f"{num_workers}, {prefetch} and {feature_processes}")
        self.features, self.normalizer, self.label_filter = features, normalizer, label_filter
        self.speed_perturbation = speed_perturbation
        self._threads: Executor = (ThreadPoolExecutor(num_workers, thread_name_prefix="statecatcher-lanes")
                                   if num_workers else _Inline())
        self._feature_pool: Executor = _process_pool(feature_processes) if feature_processes else self._threads
        self._background = num_workers > 0
        self._planner = LanePlanner(source, split=split, batch_size=batch_size, segmenter=segmenter, rank=rank,
                                    world_size=world_size, epoch=epoch, open_recording=self._open_recording,
                                    decode_ahead=decode_ahead)
        self._state = self._planner.state_dict()
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False
        self._skips_handed_out = 0  # recordings skipped up to the last batch handed out (or the epoch's end)
        self._skips_taken = 0  # of those, how many take_skips() returned
        self._lock = threading.Lock()
        self._stats = {"batches": 0, "wait_seconds": 0.0, "feature_seconds": 0.0, "decode_seconds": 0.0,
                       "audio_seconds": 0.0}

    # -- the consumer's side --------------------------------------------------------------------------------

    def __iter__(self) -> LaneBatcher:
        return self

    def __next__(self) -> Batch:
        if self._done:
            raise StopIteration
        waited_from = time.perf_counter()
        try:
            step = self._next_step()
            if step is _END:
                self._done = True
                self._state = {**self._state, "finished": True}
                self._skips_handed_out = len(self._planner.skipped)
                self.close()
                raise StopIteration
            if isinstance(step, _Failed):
                raise step.error
            batch, feature_seconds = self._collate(step.lanes)
        except StopIteration:
            raise
        except BaseException:
            self.close()
            raise
        finally:
            self._stats["wait_seconds"] += time.perf_counter() - waited_from
        self._state = step.state
        self._skips_handed_out = step.skipped
        self._stats["batches"] += 1
        self._stats["feature_seconds"] += feature_seconds
        self._stats["audio_seconds"] += batch.audio_seconds
        return batch

    def _next_step(self) -> _Step | _Failed | None:
        if not self._background:
            return self._plan_step()
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, name="statecatcher-lane-planner", daemon=True)
            self._thread.start()
        return self._queue.get()

    def take_skips(self) -> list[tuple[str, str]]:
        """``(recording id, reason)`` of every recording skipped up to the last batch handed out (all of the
        epoch's once it ended) that an earlier call did not return."""
        new = slice(self._skips_taken, self._skips_handed_out)
        self._skips_taken = self._skips_handed_out
        return list(zip(self._planner.skipped[new], self._planner.skip_reasons[new], strict=True))

    def state_dict(self) -> dict[str, Any]:
        """The position after the last batch handed out (epoch, next recording, each lane's segment)."""
        return {**self._state, "lanes": [None if lane is None else dict(lane) for lane in self._state["lanes"]]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly after the batch ``state`` was taken at; call before iterating."""
        if self._thread is not None or self._stats["batches"]:
            raise RuntimeError("LaneBatcher.load_state_dict must be called before the first batch")
        self._planner.load_state_dict(state)
        self._state = self._planner.state_dict()
        if state.get("label_filter") is not None and hasattr(self.label_filter, "load_state_dict"):
            self.label_filter.load_state_dict(state["label_filter"])
            self._state["label_filter"] = state["label_filter"]
        self._done = self._planner.finished

    def stats(self) -> dict[str, Any]:
        """Counters so far; ``recordings_*`` and ``decode_seconds`` include work done ahead of the consumer."""
        with self._lock:
            per_batch = self._stats["wait_seconds"] / max(self._stats["batches"], 1)
            return {**self._stats, "wait_seconds_per_batch": per_batch,
                    "recordings_started": self._planner.started,
                    "recordings_skipped": len(self._planner.skipped),
                    "skipped_ids": list(self._planner.skipped[:100])}

    def close(self) -> None:
        """Stop the planner and the workers (also done at the end of the epoch and by ``with``); a closed
        batcher yields nothing more, its ``state_dict()`` still resumes after the last batch handed out."""
        self._stop.set()
        self._done = True
        while self._thread is not None and self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)  # unblock a planner waiting to put
            except queue.Empty:
                pass
        for pool in {id(self._threads): self._threads, id(self._feature_pool): self._feature_pool}.values():
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LaneBatcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- the planning side (the planner thread, or the consumer with num_workers=0) --------------------------

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                step = self._plan_step()
                self._put(step)
                if step is _END:
                    return
        except BaseException as error:  # handed to the consumer, who re-raises it
            self._put(_Failed(error))

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _plan_step(self) -> _Step | None:
        plan = self._planner.next_plan()
        if plan is None:
            return _END
        lanes = [None if item is None else self._submit_features(item) for item in plan]
        state = self._planner.state_dict()
        if hasattr(self.label_filter, "state_dict"):
            state["label_filter"] = self.label_filter.state_dict()
        return _Step(lanes, state, len(self._planner.skipped))

    def _submit_features(self, item: LaneItem) -> _Pending:
        waveform = item.waveform.detach().to(torch.float32).numpy()
        samples = span_samples(waveform, self.features.frame_start_sample(item.segment.start),
                               self.features.frame_start_sample(item.segment.end), self.features)
        verdict = self.label_filter(item.recording, item.segment, item.waveform) if self.label_filter else None
        return _Pending(item.recording.id, item.segment, item.is_last,
                        self._feature_pool.submit(timed_fbank, samples, self.features), verdict)

    def _open_recording(self, recording: Recording) -> Future:
        return self._threads.submit(self._load, recording)

    def _load(self, recording: Recording) -> tuple[Recording, torch.Tensor]:
        started = time.perf_counter()
        try:
            loaded, waveform = load_recording(recording)
            if self.speed_perturbation is not None:
                loaded, waveform = self.speed_perturbation.apply(loaded, waveform, self._planner.epoch)
            return loaded, waveform
        finally:
            with self._lock:
                self._stats["decode_seconds"] += time.perf_counter() - started

    # -- collating one step --------------------------------------------------------------------------------

    def _collate(self, lanes: list[_Pending | None]) -> tuple[Batch, float]:
        """Waits for every lane's features and pads them into a :class:`Batch` (plus the feature seconds)."""
        feats, seconds = [], 0.0
        for lane in lanes:
            if lane is None:
                feats.append(torch.zeros(0, self.features.dim))
                continue
            try:
                frames, took = lane.features.result()
            except Exception as error:
                raise RuntimeError(f"recording {lane.recording_id!r}, segment {lane.segment.index}: feature "
                                   f"extraction failed: {error}") from error
            feats.append(torch.from_numpy(frames))
            seconds += took
        batch = Batch(
            feats=pad_sequence(feats, batch_first=True),
            lengths=torch.tensor([len(f) for f in feats], dtype=torch.int64),
            reset=torch.tensor([bool(lane and lane.segment.index == 0) for lane in lanes]),
            active=torch.tensor([lane is not None for lane in lanes]),
            weight=torch.tensor([float(lane is not None and not _masked(lane)) for lane in lanes]),
            texts=[self.normalizer(lane.segment.text) if lane else "" for lane in lanes],
            recording_ids=[lane.recording_id if lane else None for lane in lanes],
            segment_index=[lane.segment.index if lane else -1 for lane in lanes],
            start=[lane.segment.start if lane else 0.0 for lane in lanes],
            end=[lane.segment.end if lane else 0.0 for lane in lanes],
            is_last=[bool(lane and lane.is_last) for lane in lanes],
        )
        if self.label_filter is not None:
            batch.info["filtered"] = [lane.verdict.rejections if lane and lane.verdict else () for lane in lanes]
        return batch, seconds


def _masked(lane: _Pending) -> bool:
    """An overlong segment the segmenter skips, or one the label filter rejects: loss weight 0."""
    return lane.segment.skip or (lane.verdict is not None and lane.verdict.reject)


def _process_pool(processes: int) -> ProcessPoolExecutor:
    """Feature worker processes, started now from the calling thread (before any planner thread runs).

    Like torch's DataLoader, fork where the platform has it (no ``if __name__ == "__main__"`` needed in
    the training script; the workers only run numpy and kaldi-native-fbank), else spawn.
    """
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method))
    pool.submit(int).result()  # with fork, the first task starts every worker
    return pool
