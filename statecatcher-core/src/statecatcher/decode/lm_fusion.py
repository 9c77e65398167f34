"""Shallow fusion of a word n-gram LM into a token-level beam search.

The beam searches (CTC prefix, RNN-T modified) extend hypotheses one token at a time; :class:`WordLMFusion`
turns those tokens back into words with the tokenizer's pieces (sentencepiece marks a word start with
``▁``) and scores a word when it is complete, i.e. when the next word starts or the stream ends.  A
hypothesis ranks by::

    score = acoustic log-prob + lm_weight * (ln P_LM of its completed words + oov) + word_bonus * (completed words)

where ``oov`` is the LM's ``<unk>`` unigram log-prob while the word being spelled is no prefix of any LM word,
else 0 (it already scores as the out-of-vocabulary word it will be, as pyctcdecode's ``unk_score_offset``
does); without it, a hypothesis that never starts a new word would never pay for its words, and the beam
fills with long run-on non-words.

The LM context runs on across chunks and segments of one stream (it is part of the carried hypothesis
state) and starts from ``<s>`` after ``reset()``; ``</s>`` is scored once, at the end of the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ngram import BOS, EOS, UNK, NgramLM

WORD_START = "\u2581"


@dataclass(frozen=True)
class LMState:
    """One hypothesis's view of the LM: last ``order - 1`` words, the word being spelled, its scores."""

    context: tuple[str, ...] = (BOS,)
    partial: str = ""
    log_prob: float = 0.0  # natural log, completed words (and </s> once finished); no weight applied
    words: int = 0


class WordLMFusion:
    """A word n-gram LM over the words that token ids spell.

    Args:
        lm: the n-gram model.  pieces: ``pieces[id]`` is token ``id``'s sentencepiece piece (blank's is
            ignored).  weight: the LM weight (0 switches the LM's influence off).  word_bonus: added per word.
        source: where the LM came from, for messages.
    """

    def __init__(self, lm: NgramLM, pieces: Sequence[str], weight: float = 0.5, word_bonus: float = 0.0,
                 source: str = ""):
        self.lm, self.weight, self.word_bonus, self.source = lm, float(weight), float(word_bonus), source
        self.pieces = list(pieces)
        self.starts_word = [p.startswith(WORD_START) for p in self.pieces]
        self.keep = max(lm.order - 1, 0)
        words = [g[0] for g in lm.probs if len(g) == 1 and g[0] not in (BOS, EOS, UNK)]
        self.word_prefixes = {word[:i] for word in words for i in range(1, len(word) + 1)}
        self.oov_log_prob = lm.log_prob((), UNK)

    @classmethod
    def from_tokenizer(cls, lm: NgramLM, tokenizer, weight: float = 0.5, word_bonus: float = 0.0,
                       source: str = "") -> WordLMFusion:
        if not hasattr(tokenizer, "id_to_piece"):
            raise ValueError(f"LM fusion needs a tokenizer with id_to_piece(); {type(tokenizer).__name__} has none")
        pieces = [tokenizer.id_to_piece(i) if i != tokenizer.blank_id else "" for i in range(tokenizer.vocab_size)]
        return cls(lm, pieces, weight, word_bonus, source)

    def initial(self) -> LMState:
        return LMState()

    def score(self, state: LMState) -> float:
        """What the LM adds to a hypothesis's acoustic log-prob."""
        if not self.weight:  # weight 0: no LM, even for a -inf word
            return self.word_bonus * state.words
        oov = self.oov_log_prob if state.partial and state.partial not in self.word_prefixes else 0.0
        return self.weight * (state.log_prob + oov) + self.word_bonus * state.words

    def extend(self, state: LMState, token: int) -> LMState:
        """The state after ``token``: a word-starting piece completes the word spelled so far."""
        piece = self.pieces[token]
        if not self.starts_word[token]:
            return LMState(state.context, state.partial + piece, state.log_prob, state.words)
        completed = self._complete(state)
        return LMState(completed.context, piece[len(WORD_START):], completed.log_prob, completed.words)

    def finish(self, state: LMState) -> LMState:
        """End of stream: complete the last word and score ``</s>``."""
        completed = self._complete(state)
        return LMState(completed.context, "", completed.log_prob + self.lm.log_prob(completed.context, EOS),
                       completed.words)

    def _complete(self, state: LMState) -> LMState:
        if not state.partial:
            return state
        log_prob = state.log_prob + self.lm.log_prob(state.context, state.partial)
        context = (*state.context, state.partial)[len(state.context) + 1 - self.keep:] if self.keep else ()
        return LMState(context, "", log_prob, state.words + 1)
