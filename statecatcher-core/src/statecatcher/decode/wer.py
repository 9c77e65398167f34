"""Word and character error rates with jiwer, on normalised text (see :mod:`statecatcher.text`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jiwer


@dataclass
class ErrorCounts:
    """Edit operations against ``ref_words`` reference words (or characters, for CER)."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    ref_words: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / self.ref_words if self.ref_words else float(self.errors > 0)

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(self.substitutions + other.substitutions, self.deletions + other.deletions,
                           self.insertions + other.insertions, self.ref_words + other.ref_words)

    def to_dict(self) -> dict:
        return asdict(self) | {"rate": self.rate}

    @classmethod
    def from_dict(cls, data: dict) -> ErrorCounts:
        """The counts of a :meth:`to_dict` (its ``rate`` is derived, so it is not read)."""
        return cls(data["substitutions"], data["deletions"], data["insertions"], data["ref_words"])


def word_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Word-level edit counts; empty reference and hypothesis give zero errors."""
    ref_words = reference.split()
    if not ref_words:
        return ErrorCounts(insertions=len(hypothesis.split()))
    if not hypothesis.split():
        return ErrorCounts(deletions=len(ref_words), ref_words=len(ref_words))
    out = jiwer.process_words(reference, hypothesis)
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(ref_words))


def char_errors(reference: str, hypothesis: str) -> ErrorCounts:
    """Character-level edit counts (spaces count as characters, as in jiwer's CER)."""
    if not reference:
        return ErrorCounts(insertions=len(hypothesis))
    if not hypothesis:
        return ErrorCounts(deletions=len(reference), ref_words=len(reference))
    out = jiwer.process_characters(reference, hypothesis)
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(reference))
