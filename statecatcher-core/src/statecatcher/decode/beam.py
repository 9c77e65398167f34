"""Streaming beam search: its options, the carried hypothesis state, and what every search shares.

The loss plugin that owns the output side builds the search (``head.beam_search(options, fusion)``: CTC
prefix beam search in statecatcher-ctc, RNN-T modified beam search in statecatcher-rnnt), and it streams
like the encoder, one lane at a time::

    search = model.head.beam_search(BeamOptions(beam_size=8), fusion)   # fusion: WordLMFusion or None
    state = search.init_state()                     # a new stream
    state = search.step(enc_out, state)             # enc_out [T', D]: each chunk's valid encoder frames, in order
    state = search.finish(state)                    # end of stream: the LM scores the last word and </s>
    best(state).tokens, best(state).frames          # frames: output frames from the start of the stream

:class:`BeamState` is everything that crosses a chunk boundary (the hypotheses with their tokens, frames,
scores and LM state, for RNN-T each one's predictor state, and the frame counter), so the result does not
depend on how the audio was chunked.  It is a plain value, not tensors with a lane axis: a beam search
decodes one stream; a batch of streams holds one ``BeamState`` per lane.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .lm_fusion import LMState, WordLMFusion

NEG_INF = -math.inf


@dataclass(frozen=True)
class BeamOptions:
    """Beam width, pruning and LM fusion weights (``statecatcher transcribe --beam-size ...``)."""

    beam_size: int = 8
    token_prune: int | None = None  # tokens tried per hypothesis and frame (the top k); None: beam_size
    token_min_logp: float = -10.0  # CTC: tokens below this log-prob in a frame are not tried
    blank_skip: float = 1.0  # CTC: a frame with P(blank) >= this starts no new token; 1.0: never skip
    merge: str = "sum"  # CTC: a prefix's alignments are summed ("sum", prefix beam search) or maxed ("max")
    lm_weight: float = 0.5
    word_bonus: float = 0.0

    def __post_init__(self) -> None:
        checks = [(self.beam_size >= 1, "beam_size", "must be >= 1"),
                  (self.token_prune is None or self.token_prune >= 1, "token_prune", "must be >= 1"),
                  (0.0 < self.blank_skip <= 1.0, "blank_skip", "must be a probability in (0, 1]"),
                  (self.merge in ("sum", "max"), "merge", "must be 'sum' or 'max'")]
        for ok, name, rule in checks:
            if not ok:
                raise ValueError(f"beam option {name}={getattr(self, name)!r} {rule}")

    @property
    def tokens_per_frame(self) -> int:
        return self.token_prune or self.beam_size


class Prefix:
    """A token sequence as a node of a prefix tree: extending it, hashing it and comparing it cost O(1) however
    long the stream (a tuple of an hour's tokens would be copied and hashed for every candidate of every frame).

    Children are held weakly and found by token, so among the nodes alive at one time each sequence has exactly
    one: hypotheses with the same tokens have the same node, and ``is`` compares sequences.  Order (``<``, only
    used to break exact score ties) is the order of the token tuples.
    """

    __slots__ = ("parent", "token", "length", "_children", "__weakref__")

    def __init__(self, parent: Prefix | None = None, token: int = -1):
        self.parent, self.token = parent, token
        self.length = parent.length + 1 if parent is not None else 0
        self._children: weakref.WeakValueDictionary[int, Prefix] | None = None

    def child(self, token: int) -> Prefix:
        """The sequence with ``token`` appended."""
        if self._children is None:
            self._children = weakref.WeakValueDictionary()
        node = self._children.get(token)
        if node is None:
            node = self._children[token] = Prefix(self, token)
        return node

    @property
    def last(self) -> int | None:
        return self.token if self.length else None

    def tokens(self) -> tuple[int, ...]:
        node, backwards = self, []
        while node.length:
            backwards.append(node.token)
            node = node.parent
        return tuple(reversed(backwards))

    def _at_equal_length(self, other: Prefix) -> tuple[Prefix, Prefix]:
        """This sequence and ``other``, the longer one walked back to the shorter one's length."""
        a, b = self, other
        while a.length > b.length:
            a = a.parent
        while b.length > a.length:
            b = b.parent
        return a, b

    def shared_length(self, other: Prefix) -> int:
        """How many leading tokens this sequence and ``other`` share."""
        a, b = self._at_equal_length(other)
        while a is not b:
            a, b = a.parent, b.parent
        return a.length

    def __lt__(self, other: Prefix) -> bool:
        """``self.tokens() < other.tokens()``, walking back only to where the two sequences part."""
        a, b = self._at_equal_length(other)
        if a is b:  # one is a prefix of the other
            return self.length < other.length
        while a.parent is not b.parent:
            a, b = a.parent, b.parent
        return a.token < b.token


Emissions = tuple  # (frame, Emissions) | None: the frame of each token, last first (a linked list, O(1) to grow)


@dataclass(frozen=True, eq=False)
class Hypothesis:
    """One beam entry: its tokens, the output frame each was emitted at, its log-probs and LM state."""

    prefix: Prefix
    emissions: Emissions | None
    acoustic: float  # natural-log probability under the model (summed over this prefix's alignments for CTC)
    lm: LMState | None
    score: float  # what the beam ranks by: acoustic + the LM fusion's score

    @property
    def tokens(self) -> tuple[int, ...]:
        return self.prefix.tokens()

    @property
    def frames(self) -> tuple[int, ...]:
        cell, backwards = self.emissions, []
        while cell is not None:
            backwards.append(cell[0])
            cell = cell[1]
        return tuple(reversed(backwards))

    def tail(self, start: int) -> tuple[list[int], list[int]]:
        """The tokens after the first ``start`` and their frames; walks back only that far (O(length - start))."""
        node, cell, tokens, frames = self.prefix, self.emissions, [], []
        while node.length > start:
            tokens.append(node.token)
            frames.append(cell[0])
            node, cell = node.parent, cell[1]
        return tokens[::-1], frames[::-1]


@dataclass(frozen=True)
class BeamState:
    hyps: tuple[Any, ...]  # Hypothesis (or a subclass), best first
    frames_done: int = 0


def logaddexp(a: float, b: float) -> float:
    """``ln(e^a + e^b)`` for Python floats (``-inf`` allowed)."""
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))


def fused_score(acoustic: float, lm: LMState | None, fusion: WordLMFusion | None) -> float:
    return acoustic if fusion is None or lm is None else acoustic + fusion.score(lm)


def rank(hyps: Iterable[Any], beam_size: int) -> tuple[Any, ...]:
    """The best ``beam_size`` hypotheses, best first; ties go to the smaller token sequence (deterministic)."""
    return tuple(sorted(hyps, key=lambda h: (-h.score, h.prefix))[:beam_size])


def finish_hyps(state: BeamState, fusion: WordLMFusion | None, beam_size: int) -> BeamState:
    """End of stream: every hypothesis's LM scores its last word and ``</s>``; re-rank."""
    if fusion is None:
        return state
    finished = []
    for hyp in state.hyps:
        lm = fusion.finish(hyp.lm)
        finished.append(dataclasses.replace(hyp, lm=lm, score=fused_score(hyp.acoustic, lm, fusion)))
    return BeamState(rank(finished, beam_size), state.frames_done)


def best(state: BeamState) -> Hypothesis:
    return state.hyps[0]


def stable_length(state: BeamState) -> int:
    """How many leading tokens every hypothesis shares: those can no longer change."""
    first = state.hyps[0].prefix
    return min((first.shared_length(h.prefix) for h in state.hyps[1:]), default=first.length)


def final_length(state: BeamState) -> int:
    """How many leading tokens every hypothesis shares together with the frames they were emitted at (the same
    emission cells): every later hypothesis extends one of these, so neither tokens nor frames can change."""
    first = state.hyps[0]
    return min((_shared_emissions(first, h) for h in state.hyps[1:]), default=first.prefix.length)


def _shared_emissions(a: Hypothesis, b: Hypothesis) -> int:
    """The length of the common tail (by identity) of two emission lists, i.e. of the tokens emitted alike."""
    x, length_x, y, length_y = a.emissions, a.prefix.length, b.emissions, b.prefix.length
    while length_x > length_y:
        x, length_x = x[1], length_x - 1
    while length_y > length_x:
        y, length_y = y[1], length_y - 1
    while x is not y:
        x, y, length_x = x[1], y[1], length_x - 1
    return length_x
