"""Streaming RNN-T modified beam search (icefall's ``modified_beam_search``): at most one symbol per frame.

Per frame every hypothesis scores the joiner's log-softmax over the vocabulary; its ``token_prune`` best
symbols become candidates (blank keeps the tokens, a token appends itself and consumes the frame), candidates
with the same tokens are merged (log-add), and the ``beam_size`` best (acoustic + LM fusion score) survive.
Each hypothesis carries its own predictor state (one lane of the predictor's state pytree) and the projected
predictor output that scores its next frame, so the search continues exactly across chunk boundaries.  With
``beam_size=1`` it is greedy decoding with one symbol per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from statecatcher.decode import beam as beam_lib
from statecatcher.decode.beam import BeamOptions, BeamState, Hypothesis, Prefix, fused_score
from statecatcher.decode.lm_fusion import WordLMFusion
from statecatcher.state import select_lanes, stack_lanes


@dataclass(frozen=True, eq=False)
class RNNTHypothesis(Hypothesis):
    pred_state: Any  # the predictor's state after ``tokens`` (one lane)
    pred_out: torch.Tensor  # [J] the projected predictor output that scores the next frame


class _Candidate(NamedTuple):
    score: float
    prefix: Prefix
    acoustic: float
    lm: Any
    parent: RNNTHypothesis
    token: int | None  # the emitted token; None for blank


class ModifiedBeamSearch:
    def __init__(self, predictor: nn.Module, joiner: nn.Module, blank_id: int, options: BeamOptions = BeamOptions(),
                 fusion: WordLMFusion | None = None):
        self.predictor, self.joiner, self.blank_id = predictor, joiner, blank_id
        self.options, self.fusion = options, fusion

    @torch.no_grad()
    def init_state(self) -> BeamState:
        device = next(self.joiner.parameters()).device
        pred_state = self.predictor.init_state(1, device)
        pred_out = self.joiner.pred_proj(self.predictor.step(pred_state))[0]
        lm = self.fusion.initial() if self.fusion is not None else None
        start = RNNTHypothesis(Prefix(), None, 0.0, lm, fused_score(0.0, lm, self.fusion), pred_state=pred_state,
                               pred_out=pred_out)
        return BeamState((start,), 0)

    @torch.no_grad()
    def step(self, enc_out: torch.Tensor, state: BeamState) -> BeamState:
        """Search on the valid frames ``enc_out [T', D]`` of one chunk."""
        enc = self.joiner.enc_proj(enc_out)  # [T', J]
        hyps = state.hyps
        for t in range(enc.shape[0]):
            hyps = self._frame(hyps, enc[t], state.frames_done + t)
        return BeamState(hyps, state.frames_done + enc.shape[0])

    def finish(self, state: BeamState) -> BeamState:
        return beam_lib.finish_hyps(state, self.fusion, self.options.beam_size)

    def _frame(self, hyps: tuple[RNNTHypothesis, ...], enc: torch.Tensor, frame: int) -> tuple[RNNTHypothesis, ...]:
        log_probs = self.joiner.join(enc[None], torch.stack([h.pred_out for h in hyps])).log_softmax(dim=-1)
        top = log_probs.double().topk(min(self.options.tokens_per_frame, log_probs.shape[1]), dim=-1)
        merged: dict[Prefix, list] = {}  # prefix -> [acoustic, parent hyp, token or None (blank)]
        for hyp, values, tokens in zip(hyps, top.values.tolist(), top.indices.tolist(), strict=True):
            for log_prob, token in zip(values, tokens, strict=True):
                emitted = None if token == self.blank_id else token
                key = hyp.prefix if emitted is None else hyp.prefix.child(emitted)
                entry = merged.get(key)
                if entry is None:
                    merged[key] = [hyp.acoustic + log_prob, hyp, emitted]
                    continue
                entry[0] = beam_lib.logaddexp(entry[0], hyp.acoustic + log_prob)
                if emitted is None:  # same tokens either way; the blank path needs no predictor step
                    entry[1:] = [hyp, None]
        candidates = []
        for key, (acoustic, parent, emitted) in merged.items():
            lm = parent.lm if emitted is None or self.fusion is None else self.fusion.extend(parent.lm, emitted)
            candidates.append(_Candidate(fused_score(acoustic, lm, self.fusion), key, acoustic, lm, parent, emitted))
        candidates.sort(key=lambda c: (-c.score, c.prefix))
        return beam_lib.rank(self._build(candidates[:self.options.beam_size], frame), self.options.beam_size)

    def _build(self, kept: list[_Candidate], frame: int) -> list[RNNTHypothesis]:
        """Hypotheses for the kept candidates; those that emitted a token advance the predictor in one batch."""
        emitting = [c for c in kept if c.token is not None]
        advanced: dict[Prefix, tuple[Any, torch.Tensor]] = {}
        if emitting:
            states = stack_lanes([c.parent.pred_state for c in emitting])
            tokens = torch.tensor([c.token for c in emitting], device=emitting[0].parent.pred_out.device)
            states = self.predictor.advance(states, tokens, torch.ones_like(tokens, dtype=torch.bool))
            outs = self.joiner.pred_proj(self.predictor.step(states))  # [N, J]
            for i, c in enumerate(emitting):
                advanced[c.prefix] = (select_lanes(states, [i]), outs[i])
        hyps = []
        for c in kept:
            blank = c.token is None
            pred_state, pred_out = (c.parent.pred_state, c.parent.pred_out) if blank else advanced[c.prefix]
            emissions = c.parent.emissions if blank else (frame, c.parent.emissions)
            hyps.append(RNNTHypothesis(c.prefix, emissions, c.acoustic, c.lm, c.score, pred_state=pred_state,
                                       pred_out=pred_out))
        return hyps
