"""The filter stage: runs the chosen label filters, masks what they reject, counts and reports it.

Granularity: detectors judge each *transcript* segment (one Whisper segment); a *training* segment, which
holds several, gets loss weight 0 when any of them is rejected.  Dropping only the bad text instead would
leave its audio without its words, i.e. a wrong label of another kind.  A masked segment is still fed
through the encoder, so the carried state stays true to the recording (DESIGN.md, invariant 4).

Two places, two kinds of detector:

* in the data pipeline (``LaneBatcher(label_filter=stage.text_filter)``), detectors that need only the text,
  its timing and the audio judge every transcript segment of a planned training segment;
* in the trainer (``weight = stage.update(batch, per_lane, target_lens, weight, step=...)``, after the
  forward and before the backward), detectors with ``needs_loss = True`` judge the training segment by its
  per-token loss.  ``update`` also counts and reports the pipeline's rejections, at the step that consumes
  them (the pipeline runs ahead of the trainer).

Every rejection is one JSON line in ``RUN_DIR/filter.jsonl`` (rank ``r > 0`` of a distributed run:
``filter.rank<r>.jsonl``): step, recording id, segment index, the time span and text of the judged segment,
detector, score, and whether it was masked (``False`` in a dry run).

Detectors that keep a running reference (``rate_outlier``, ``loss_outlier``) have ``state_dict`` /
``load_state_dict``; the trainer checkpoints them (:meth:`FilterStage.state_dict`), and the lane batcher
snapshots the pipeline detectors with every planned step (:attr:`FilterStage.text_filter` has
``state_dict`` too), so a resumed run judges exactly as the uninterrupted one, and its report holds every
rejection once (:meth:`FilterStage.resume_report`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from statecatcher.filters.detectors import frame_levels_db, speech_fraction
from statecatcher.jsonl import drop_rows_after
from statecatcher.records import Recording, Segment

REPORT_NAME = "filter.jsonl"  # rank 0's report; see report_name()
_LEVEL_CACHE = 32  # recordings whose frame levels the speech detector keeps
_REFERENCE_PERCENTILE = 95  # a recording's "speech level": this percentile of its frame levels


class Rejection(NamedTuple):
    """One detector's rejection of one segment: ``(detector, score, start, end, text)``, times in Seconds."""

    detector: str
    score: float
    start: float
    end: float
    text: str


class Verdict(NamedTuple):
    """The pipeline's judgement of one training segment: mask it (``reject``) and why (``rejections``)."""

    reject: bool
    rejections: tuple[Rejection, ...]


ACCEPT = Verdict(False, ())


def report_name(rank: int = 0) -> str:
    """The filter report's file name for ``rank``: ``filter.jsonl``, or ``filter.rank<r>.jsonl`` for r > 0."""
    return REPORT_NAME if rank == 0 else f"filter.rank{rank}.jsonl"


class PipelineJudge:
    """:meth:`FilterStage.judge` as the lane batcher's ``label_filter``, with the pipeline detectors' state
    (``state_dict`` / ``load_state_dict``), which the batcher snapshots with every step it plans."""

    def __init__(self, stage: FilterStage):
        self.stage = stage

    def __call__(self, recording: Recording, segment: Any, waveform: torch.Tensor | None = None) -> Verdict:
        return self.stage.judge(recording, segment, waveform)

    def state_dict(self) -> dict[str, Any]:
        return _detector_states(self.stage.pipeline_detectors)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _load_detector_states(self.stage.pipeline_detectors, state)


def _detector_states(detectors: Sequence[Any]) -> dict[str, Any]:
    return {d.name: d.state_dict() for d in detectors if hasattr(d, "state_dict")}


def _load_detector_states(detectors: Sequence[Any], states: Mapping[str, Any]) -> None:
    for detector in detectors:
        if detector.name in states and hasattr(detector, "load_state_dict"):
            detector.load_state_dict(states[detector.name])


class FilterStage:
    """Applies ``detectors`` (:class:`~statecatcher.protocols.LabelFilter` objects); with ``dry_run`` it
    scores, counts and reports but masks nothing.  ``report_path`` (``None``: no report) gets one JSON line
    per rejection."""

    def __init__(self, detectors: Sequence[Any] = (), *, dry_run: bool = False, report_path: Path | None = None):
        self.pipeline_detectors = [d for d in detectors if not getattr(d, "needs_loss", False)]
        self.loss_detectors = [d for d in detectors if getattr(d, "needs_loss", False)]
        # the detector whose levels (relative_db, floor_db) decide what counts as speech, if any needs audio
        self._audio_detector = next((d for d in self.pipeline_detectors if getattr(d, "needs_audio", False)), None)
        self.dry_run = dry_run
        self.counts: Counter[str] = Counter()
        self.segments_seen = 0
        self.segments_rejected = 0
        self._levels: dict[str, tuple[np.ndarray, float]] = {}
        self._report = None
        self.report_path = report_path
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            self._report = report_path.open("a", buffering=1)

    @classmethod
    def from_config(cls, names: Sequence[str], options: Mapping[str, Any], *, dry_run: bool = False,
                    run_dir: Path | None = None, rank: int = 0) -> FilterStage:
        """Build the detectors registered as ``label_filter:NAME`` with ``options[NAME]`` as keyword options;
        errors name the filter and the option (``filter_options.NAME``).  The report goes to ``run_dir`` under
        :func:`report_name` of ``rank``."""
        from statecatcher.plugins import get

        unused = sorted(set(options) - set(names))
        if unused:
            raise ValueError(f"filter_options: options given for {', '.join(unused)}, which is not among the "
                             f"label_filters {list(names)}")
        detectors = []
        for name in names:
            entry = get("label_filter", name)
            try:
                detectors.append(entry.create(**options.get(name, {})))
            except (TypeError, ValueError) as error:
                raise ValueError(f"filter_options.{name}: {error}") from error
        return cls(detectors, dry_run=dry_run,
                   report_path=run_dir / report_name(rank) if run_dir is not None and detectors else None)

    # -- in the data pipeline -------------------------------------------------------------------------------

    @property
    def text_filter(self):
        """The callable for ``LaneBatcher(label_filter=...)``, or ``None`` when no pipeline detector is chosen."""
        return PipelineJudge(self) if self.pipeline_detectors else None

    def judge(self, recording: Recording, segment: Any, waveform: torch.Tensor | None = None) -> Verdict:
        """Judge the transcript segments ``segment.transcript_indices`` of ``recording`` (a
        :class:`~statecatcher.data.segmenter.TrainingSegment`); ``waveform [num_samples]`` is the whole
        recording's 16 kHz audio, used by detectors with ``needs_audio``."""
        rejections = []
        for index in segment.transcript_indices:
            transcript = recording.segments[index]
            context = {"audio_seconds": transcript.duration, "recording_id": recording.id}
            if self._audio_detector is not None and waveform is not None:
                context["speech_fraction"] = self._speech_fraction(recording.id, waveform, transcript)
            for detector in self.pipeline_detectors:
                score, reject = detector.score(transcript, context)
                if reject:
                    rejections.append(Rejection(detector.name, float(score), transcript.start, transcript.end,
                                                transcript.text.strip()))
        if not rejections:
            return ACCEPT
        return Verdict(not self.dry_run, tuple(rejections))

    def _speech_fraction(self, recording_id: str, waveform: torch.Tensor, transcript: Segment) -> float:
        if recording_id not in self._levels:
            if len(self._levels) >= _LEVEL_CACHE:
                self._levels.pop(next(iter(self._levels)))
            levels = frame_levels_db(waveform.detach().cpu().numpy())
            reference = float(np.percentile(levels, _REFERENCE_PERCENTILE)) if levels.size else 0.0
            self._levels[recording_id] = (levels, reference)
        levels, reference = self._levels[recording_id]
        return speech_fraction(levels, transcript.start, transcript.end, reference_db=reference,
                               relative_db=getattr(self._audio_detector, "relative_db", 35.0),
                               floor_db=getattr(self._audio_detector, "floor_db", -60.0))

    # -- in the trainer -------------------------------------------------------------------------------------

    def update(self, batch: Any, per_lane: torch.Tensor, target_lens: torch.Tensor, weight: torch.Tensor, *,
               step: int) -> torch.Tensor:
        """Count and report the pipeline's rejections in ``batch.info["filtered"]``, then run the loss
        detectors on the lanes still weighted; returns the new ``weight [B]`` (a copy; unchanged in a dry run).

        per_lane [B] summed loss per lane (detached here), target_lens [B] tokens, weight [B] loss weights.
        """
        if not (self.pipeline_detectors or self.loss_detectors):
            return weight
        weight = weight.clone()
        per_token = ((per_lane.detach().float() / target_lens.clamp(min=1).to(per_lane.device).float()).tolist()
                     if self.loss_detectors else None)
        filtered = batch.info.get("filtered") or [()] * batch.batch_size
        for b in range(batch.batch_size):
            if not bool(batch.active[b]):
                continue
            self.segments_seen += 1
            rejections = list(filtered[b])
            if self.loss_detectors and float(weight[b]) > 0:
                segment = Segment(batch.start[b], batch.end[b], batch.texts[b])
                context = {"token_loss": per_token[b], "recording_id": batch.recording_ids[b]}
                for detector in self.loss_detectors:
                    score, reject = detector.score(segment, context)
                    if reject:
                        rejections.append(Rejection(detector.name, float(score), segment.start, segment.end,
                                                    segment.text))
                if rejections and not self.dry_run:
                    weight[b] = 0.0
            if rejections:
                self.segments_rejected += 1
                self._record(step, batch, b, rejections)
        return weight

    def _record(self, step: int, batch: Any, lane: int, rejections: list[Rejection]) -> None:
        for rejection in rejections:
            self.counts[rejection.detector] += 1
            if self._report is not None:
                self._report.write(json.dumps({
                    "step": step, "recording_id": batch.recording_ids[lane],
                    "segment_index": batch.segment_index[lane], **rejection._asdict(),
                    "masked": not self.dry_run}) + "\n")

    def metrics(self) -> dict[str, float]:
        """Counters for the trackers: ``filtered/NAME`` per detector, ``filtered/segments`` and its share."""
        if not (self.pipeline_detectors or self.loss_detectors):
            return {}
        names = [d.name for d in (*self.pipeline_detectors, *self.loss_detectors)]
        return {**{f"filtered/{name}": self.counts[name] for name in names},
                "filtered/segments": self.segments_rejected,
                "filtered/share": self.segments_rejected / max(self.segments_seen, 1)}

    # -- checkpoints ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Counters and every detector's running reference (the pipeline's as of the steps planned so far;
        the lane batcher's own snapshot, restored after this one, moves those back to the steps consumed)."""
        return {"counts": dict(self.counts), "segments_seen": self.segments_seen,
                "segments_rejected": self.segments_rejected,
                "detectors": _detector_states([*self.pipeline_detectors, *self.loss_detectors])}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.counts = Counter(state["counts"])
        self.segments_seen, self.segments_rejected = state["segments_seen"], state["segments_rejected"]
        _load_detector_states([*self.pipeline_detectors, *self.loss_detectors], state["detectors"])

    def resume_report(self, step: int) -> None:
        """Drop the report's rows after ``step`` (a killed run wrote them; the resumed run writes them again),
        and a last line cut by the kill."""
        if self.report_path is None:
            return
        self.close()
        drop_rows_after(self.report_path, step)
        self._report = self.report_path.open("a", buffering=1)

    def close(self) -> None:
        if self._report is not None:
            self._report.close()
            self._report = None
