"""Streaming CTC prefix beam search (optionally with word n-gram shallow fusion).

Each hypothesis is a token prefix with two log-probabilities: of the alignments of the frames so far that
spell the prefix and end in blank (``blank``) or in its last token (``nonblank``).  Per frame, with
``lp = log P(symbol | frame)``::

    stay:    prefix p         blank'    += logaddexp(blank, nonblank) + lp[blank]
                              nonblank' += nonblank + lp[last(p)]                  (the last token repeated)
    extend:  prefix p + (c,)  nonblank' += (blank if c == last(p) else logaddexp(blank, nonblank)) + lp[c]

Prefixes reached twice are summed (a token's frame is where its most likely contribution emitted it); the
``beam_size`` best (acoustic + LM fusion score) survive.  Only the ``token_prune`` most likely tokens of a
frame are tried, none below ``token_min_logp`` (default -10: a trained model's confident blank frames try
nothing; greedy's token always has ``log P >= -ln V``), and a frame with ``P(blank) >= blank_skip`` starts no
new token (it still updates ``stay``, exactly).  Everything the next frame needs is in the
:class:`~statecatcher.decode.beam.BeamState`, so chunking never changes the result.

Beam width 1 is *not* greedy decoding: the best prefix (summed over its alignments) can beat the prefix of the
best single path, which is the point of the search (on the overfitted test model 4 of 339 tokens differ).
``merge="max"`` scores a prefix by its best alignment instead (a Viterbi beam search); beam width 1 is then
greedy decoding exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .beam import NEG_INF, BeamOptions, BeamState, Hypothesis, Prefix, finish_hyps, fused_score, logaddexp, rank
from .lm_fusion import WordLMFusion


@dataclass(frozen=True, eq=False)
class CTCHypothesis(Hypothesis):
    blank: float  # ln P(alignments of this prefix ending in blank)
    nonblank: float  # ln P(alignments ending in the prefix's last token)


class CTCPrefixBeamSearch:
    """Prefix beam search over the log-posteriors ``log_probs(enc_out [1, T', D]) -> [1, T', V]``."""

    def __init__(self, log_probs: Callable[[torch.Tensor], torch.Tensor], blank_id: int,
                 options: BeamOptions = BeamOptions(), fusion: WordLMFusion | None = None):
        self.log_probs, self.blank_id, self.options, self.fusion = log_probs, blank_id, options, fusion
        self.combine = logaddexp if options.merge == "sum" else max
        self.log_blank_skip = torch.tensor(options.blank_skip).log().item()

    def init_state(self) -> BeamState:
        lm = self.fusion.initial() if self.fusion is not None else None
        start = CTCHypothesis(Prefix(), None, 0.0, lm, fused_score(0.0, lm, self.fusion), blank=0.0, nonblank=NEG_INF)
        return BeamState((start,), 0)

    @torch.no_grad()
    def step(self, enc_out: torch.Tensor, state: BeamState) -> BeamState:
        """Search on the valid frames ``enc_out [T', D]`` of one chunk."""
        if enc_out.shape[0] == 0:
            return state
        log_probs = self.log_probs(enc_out[None])[0].double()  # [T', V]
        top = log_probs.topk(min(self.options.tokens_per_frame, log_probs.shape[1]), dim=-1)
        likely = top.values >= self.options.token_min_logp
        hyps = state.hyps
        for t, (row, tokens, keep) in enumerate(zip(log_probs.tolist(), top.indices.tolist(), likely.tolist(),
                                                    strict=True)):
            candidates = [token for token, kept in zip(tokens, keep, strict=True) if kept]
            hyps = self._frame(hyps, row, candidates, state.frames_done + t)
        return BeamState(hyps, state.frames_done + enc_out.shape[0])

    def finish(self, state: BeamState) -> BeamState:
        return finish_hyps(state, self.fusion, self.options.beam_size)

    def _frame(self, hyps: tuple[CTCHypothesis, ...], row: list[float], candidates: list[int],
               frame: int) -> tuple[CTCHypothesis, ...]:
        """One frame: ``row [V]`` log-probs, ``candidates`` the tokens to try -> the next beam."""
        blank_lp = row[self.blank_id]
        extend = blank_lp < self.log_blank_skip
        merged: dict[Prefix, _Merged] = {}  # Prefix nodes are unique per sequence: hashed by identity
        for hyp in hyps:
            total = self.combine(hyp.blank, hyp.nonblank)
            last = hyp.prefix.last
            stay = merged.get(hyp.prefix) or merged.setdefault(hyp.prefix, _Merged(hyp.lm, self.combine))
            stay.add(total + blank_lp, NEG_INF if last is None else hyp.nonblank + row[last], hyp.emissions)
            if not extend:
                continue
            for token in candidates:
                source = hyp.blank if token == last else total
                if token == self.blank_id or source == NEG_INF:
                    continue
                prefix = hyp.prefix.child(token)
                if prefix not in merged:
                    lm = self.fusion.extend(hyp.lm, token) if self.fusion is not None else None
                    merged[prefix] = _Merged(lm, self.combine)
                merged[prefix].add(NEG_INF, source + row[token], (frame, hyp.emissions))
        beam = []
        for prefix, m in merged.items():
            acoustic = self.combine(m.blank, m.nonblank)
            beam.append(CTCHypothesis(prefix, m.emissions, acoustic, m.lm, fused_score(acoustic, m.lm, self.fusion),
                                      blank=m.blank, nonblank=m.nonblank))
        return rank(beam, self.options.beam_size)


class _Merged:
    """The alignments of one prefix met in a frame: its two log-probs, its LM state and the emission frames
    of its most likely contribution."""

    __slots__ = ("blank", "nonblank", "emissions", "lm", "combine", "_top")

    def __init__(self, lm, combine: Callable[[float, float], float]):
        self.blank = self.nonblank = self._top = NEG_INF
        self.emissions: tuple | None = None
        self.lm, self.combine = lm, combine

    def add(self, blank: float, nonblank: float, emissions: tuple | None) -> None:
        """Add one predecessor's contribution (ending in blank / in the last token) and its emission frames."""
        self.blank = self.combine(self.blank, blank)
        self.nonblank = self.combine(self.nonblank, nonblank)
        contribution = self.combine(blank, nonblank)
        if contribution > self._top or self._top == NEG_INF:
            self._top, self.emissions = contribution, emissions
