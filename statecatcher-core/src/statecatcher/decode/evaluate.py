"""Long-form evaluation: WER/CER per segment (carried state, as in training) and per whole recording.

* per segment: every split recording is cut by the training segmenter and streamed through lanes exactly as
  in training; each segment's greedy hypothesis is scored against its own normalised text.  With
  ``stateless=True`` every lane is reset at every segment (what the carried state buys is the difference).
* whole recording: each recording is streamed end to end in chunks with carried state; the hypothesis is
  scored against the concatenation of its normalised transcript segments.

With a beam search (``search``, see :mod:`statecatcher.decode.beam`) instead of greedy decoding, the whole
recording mode decodes exactly as ``transcribe --decoder beam``; the per-segment mode keeps one beam per lane
and commits to its best hypothesis at every segment end (that segment's tokens become final; the LM context
and the predictor state run on), so each segment has its own hypothesis to score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.lanes import LaneBatcher
from ..data.segmenter import SegmenterConfig
from ..state import reset_lanes
from .beam import BeamState, best
from .pack import LoadedModel
from .streaming import Transcriber, transcribe_waveform
from .wer import ErrorCounts, char_errors, word_errors


@dataclass
class EvalReport:
    mode: str
    stateless: bool = False
    words: ErrorCounts = field(default_factory=ErrorCounts)
    chars: ErrorCounts = field(default_factory=ErrorCounts)
    recordings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def wer(self) -> float:
        return self.words.rate

    @property
    def cer(self) -> float:
        return self.chars.rate

    def add(self, recording_id: str, reference: str, hypothesis: str) -> None:
        w, c = word_errors(reference, hypothesis), char_errors(reference, hypothesis)
        self.words, self.chars = self.words + w, self.chars + c
        row = self.recordings.setdefault(recording_id, {"words": ErrorCounts(), "chars": ErrorCounts(),
                                                        "hypothesis": [], "reference": []})
        row["words"], row["chars"] = row["words"] + w, row["chars"] + c
        row["hypothesis"].append(hypothesis)
        row["reference"].append(reference)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "stateless": self.stateless, "wer": self.wer, "cer": self.cer,
            "words": self.words.to_dict(), "chars": self.chars.to_dict(),
            "recordings": {rid: {"wer": r["words"].rate, "cer": r["chars"].rate, "words": r["words"].to_dict(),
                                 "chars": r["chars"].to_dict(),
                                 "hypothesis": " ".join(r["hypothesis"]), "reference": " ".join(r["reference"])}
                           for rid, r in self.recordings.items()},
        }


@torch.no_grad()
def evaluate_segments(loaded: LoadedModel, source: Any, *, split: str = "dev", batch_size: int = 4,
                      segmenter: SegmenterConfig = SegmenterConfig(), stateless: bool = False,
                      device: str | torch.device = "cpu", search=None) -> EvalReport:
    model, tokenizer = loaded.model, loaded.tokenizer
    report = EvalReport(mode="segment", stateless=stateless)
    state = fresh_state = model.init_state(batch_size, torch.device(device))
    beams = [search.init_state() for _ in range(batch_size)] if search is not None else []
    with LaneBatcher(source, split=split, batch_size=batch_size, segmenter=segmenter, features=loaded.features,
                     normalizer=loaded.normalizer, num_workers=2) as batcher:
        for batch in batcher:
            batch = batch.to(device)
            reset = torch.ones_like(batch.reset) if stateless else batch.reset
            state = reset_lanes(state, reset, fresh_state)
            if search is None:
                tokens, _, _, state = model.decode_step(batch.feats, batch.lengths, state)
            else:
                tokens, state["encoder"] = _beam_segment_step(model, search, batch, reset, state["encoder"], beams)
            for b in range(batch_size):
                if batch.active[b] and batch.weight[b] > 0:
                    report.add(batch.recording_ids[b], batch.texts[b], loaded.normalizer(tokenizer.decode(tokens[b])))
    return report


def _beam_segment_step(model, search, batch, reset: torch.Tensor, encoder_state, beams: list[BeamState]):
    """Encode one segment per lane, search each lane's beam, commit it to its best hypothesis: the tokens of
    this segment per lane and the new encoder state (``beams`` is updated in place)."""
    out, out_lens, encoder_state = model.encode(batch.feats, batch.lengths, encoder_state)
    tokens = []
    for b, beam in enumerate(beams):
        if reset[b]:
            beam = search.init_state()
        before = len(best(beam).tokens)
        beam = search.step(out[b, :int(out_lens[b])], beam)
        beams[b] = BeamState((best(beam),), beam.frames_done)
        tokens.append(list(best(beam).tokens[before:]))
    return tokens, encoder_state


def evaluate_recordings(loaded: LoadedModel, source: Any, *, split: str = "dev", chunk_seconds: float = 16.0,
                        device: str | torch.device = "cpu", search=None) -> EvalReport:
    transcriber = Transcriber(loaded, device, search)
    report = EvalReport(mode="recording")
    for recording in source.recordings(split):
        reference = " ".join(t for t in (loaded.normalizer(s.text) for s in recording.load_segments()) if t)
        hypothesis = transcribe_waveform(transcriber, recording.load_audio(), chunk_seconds).text
        report.add(recording.id, reference, loaded.normalizer(hypothesis))
    return report


def write_report(reports: list[EvalReport], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.to_dict() for r in reports], indent=2))
