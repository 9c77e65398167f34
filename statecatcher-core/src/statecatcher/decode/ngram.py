"""A word n-gram language model: interpolated Kneser-Ney estimation, ARPA files, back-off queries.

Estimation follows KenLM's ``lmplz`` in its structure (adjusted counts, interpolation, unigrams interpolated
with the uniform distribution over the vocabulary plus ``<unk>``) with one discount per order instead of
three: ``D_k = n1 / (n1 + 2 n2)`` over that order's adjusted counts (Ney's estimate), clamped to
``[0.1, 0.9]``.  For an n-gram ``h w`` of order ``k`` with adjusted count ``a(h w)`` (the raw count at the
highest order and for n-grams that start with ``<s>``, else the number of distinct words seen before it)::

    p_k(w | h) = max(a(h w) - D_k, 0) / a(h .) + gamma(h) * p_{k-1}(w | h[1:])
    gamma(h)   = D_k * |{w : a(h w) > 0}| / a(h .)

The model is written as an ARPA file (``log10`` probabilities and back-off weights), so any ARPA model (for
example one built by KenLM's ``lmplz``) can be used in its place.  :meth:`NgramLM.log_prob` answers in
natural log.  Sentences are padded with ``<s>`` and ``</s>``; unknown words map to ``<unk>``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LN10 = math.log(10.0)
NO_PROB_LOG10 = -99.0  # ARPA's "never predicted" (the probability of <s>)

Ngram = tuple[str, ...]


class NgramLM:
    """Back-off n-gram tables: ``probs[ngram]`` and ``backoffs[ngram]`` in log10, as in an ARPA file."""

    def __init__(self, order: int, probs: dict[Ngram, float], backoffs: dict[Ngram, float]):
        if order < 1:
            raise ValueError(f"n-gram order must be >= 1, got {order}")
        self.order, self.probs, self.backoffs = order, probs, backoffs
        self.log_prob = lru_cache(maxsize=1 << 18)(self._log_prob)

    # ---------------------------------------------------------------- estimation
    @classmethod
    def estimate(cls, sentences: Iterable[Sequence[str]], order: int = 3,
                 discount: float | None = None) -> NgramLM:
        """Interpolated Kneser-Ney from word sequences (one per sentence); ``discount`` fixes every ``D_k``."""
        if order < 1:
            raise ValueError(f"n-gram order must be >= 1, got {order}")
        raw: Counter[Ngram] = Counter()
        for words in sentences:
            padded = (BOS, *words, EOS)
            for k in range(1, order + 1):
                raw.update(padded[i:i + k] for i in range(len(padded) - k + 1))
        if not any(len(g) == 1 and g[0] not in (BOS, EOS) for g in raw):
            raise ValueError("cannot estimate an n-gram model: the text has no words")
        adjusted = _adjusted_counts(raw, order)
        probs: dict[Ngram, float] = {}
        backoffs: dict[Ngram, float] = {}
        lower: dict[Ngram, float] = {}
        for k in range(1, order + 1):
            grams = {g: a for g, a in adjusted.items() if len(g) == k and g[-1] != BOS}
            d = discount if discount is not None else _ney_discount(grams.values())
            lower = _interpolate(grams, d, lower, backoffs)
            probs.update(lower)
        probs[(BOS,)] = NO_PROB_LOG10 * LN10  # natural log while estimating
        return cls(order, {g: p / LN10 for g, p in probs.items()}, {g: b / LN10 for g, b in backoffs.items()})

    # ---------------------------------------------------------------- queries
    def _log_prob(self, context: Ngram, word: str) -> float:
        """Natural-log ``P(word | context)`` with ARPA back-off; ``context`` may be longer than needed."""
        if (word,) not in self.probs:
            word = UNK
        context = context[len(context) - self.order + 1:] if self.order > 1 else ()
        penalty = 0.0
        for start in range(len(context) + 1):
            history = context[start:]
            found = self.probs.get((*history, word))
            if found is not None:
                return (found + penalty) * LN10
            penalty += self.backoffs.get(history, 0.0)
        return -math.inf  # only without an <unk> entry

    # ---------------------------------------------------------------- ARPA files
    def write_arpa(self, path: str | Path) -> Path:
        from ..files import write_atomically

        by_order: dict[int, list[Ngram]] = defaultdict(list)
        for gram in self.probs:
            by_order[len(gram)].append(gram)
        lines = ["", "\\data\\"] + [f"ngram {k}={len(by_order[k])}" for k in range(1, self.order + 1)]
        for k in range(1, self.order + 1):
            lines += ["", f"\\{k}-grams:"]
            for gram in sorted(by_order[k]):
                prob = max(self.probs[gram], NO_PROB_LOG10)
                backoff = self.backoffs.get(gram)
                lines.append(f"{prob:.7g}\t{' '.join(gram)}" + (f"\t{backoff:.7g}" if backoff is not None else ""))
        lines += ["", "\\end\\", ""]
        write_atomically(Path(path), "\n".join(lines))
        return Path(path)

    @classmethod
    def read_arpa(cls, path: str | Path) -> NgramLM:
        """Read an ARPA file; an unreadable one is a ``ValueError`` naming the file and the line."""
        return cls.parse_arpa(Path(path).read_text(encoding="utf-8"), str(path))

    @classmethod
    def parse_arpa(cls, text: str, source: str = "<arpa>") -> NgramLM:
        probs: dict[Ngram, float] = {}
        backoffs: dict[Ngram, float] = {}
        order, section = 0, 0
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line.startswith("ngram ") and "=" in line:
                order = max(order, int(line[6:].split("=")[0]))
                continue
            if not line or line in ("\\data\\", "\\end\\"):
                continue
            if line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:].split("-")[0])
                continue
            fields = line.split()
            if section == 0 or len(fields) not in (section + 1, section + 2):
                raise ValueError(f"{source}:{number}: not an ARPA n-gram line: {line[:60]!r}")
            gram = tuple(fields[1:section + 1])
            probs[gram] = float(fields[0])
            if len(fields) == section + 2:
                backoffs[gram] = float(fields[-1])
        if not probs:
            raise ValueError(f"{source}: no n-grams (not an ARPA file?)")
        return cls(order or section, probs, backoffs)


def _adjusted_counts(raw: Counter[Ngram], order: int) -> dict[Ngram, int]:
    """KenLM's adjusted counts: raw at the top order and for ``<s>``-initial n-grams, else left continuations."""
    adjusted: dict[Ngram, int] = {}
    continuations: Counter[Ngram] = Counter(g[1:] for g in raw if len(g) >= 2)
    for gram, count in raw.items():
        adjusted[gram] = count if len(gram) == order or gram[0] == BOS else continuations[gram]
    return adjusted


def _ney_discount(counts: Iterable[int]) -> float:
    histogram = Counter(counts)
    n1, n2 = histogram[1], histogram[2]
    return min(max(n1 / (n1 + 2 * n2), 0.1), 0.9) if n1 and n2 else 0.5


def _interpolate(grams: dict[Ngram, int], discount: float, lower: dict[Ngram, float],
                 backoffs: dict[Ngram, float]) -> dict[Ngram, float]:
    """Natural-log ``p_k`` for the order-``k`` n-grams ``grams``; writes ``gamma(h)`` into ``backoffs``."""
    totals: Counter[Ngram] = Counter()
    types: Counter[Ngram] = Counter()
    for gram, count in grams.items():
        totals[gram[:-1]] += count
        types[gram[:-1]] += 1
    gammas = {h: discount * types[h] / totals[h] for h in totals}
    if not lower:  # unigrams: interpolate with the uniform distribution over the words and <unk>
        vocab = list(dict.fromkeys([*grams, (UNK,)]))
        gamma = gammas[()]
        return {g: math.log(max(grams.get(g, 0) - discount, 0) / totals[()] + gamma / len(vocab)) for g in vocab}
    for history, gamma in gammas.items():
        backoffs[history] = math.log(gamma)
    return {g: math.log(max(count - discount, 0) / totals[g[:-1]]
                        + gammas[g[:-1]] * math.exp(lower[g[1:]]))
            for g, count in grams.items()}
