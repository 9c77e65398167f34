"""Text normalisation for training targets and WER (recorded in checkpoints so decoding matches).

Default: lower-case, apostrophes inside words kept, every other punctuation mark removed, whitespace
collapsed.  Digits are kept as written (the transcripts spell numbers the way they were spoken).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

_PUNCT = re.compile(r"[^\w\s']|_")
_LOOSE_APOSTROPHE = re.compile(r"(?<!\S)'+|'+(?!\S)")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class TextNormalizer:
    lowercase: bool = True
    strip_punctuation: bool = True

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        if self.lowercase:
            text = text.lower()
        if self.strip_punctuation:
            text = _PUNCT.sub(" ", text)
            text = _LOOSE_APOSTROPHE.sub(" ", text)
        return _SPACES.sub(" ", text).strip()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TextNormalizer:
        return cls(**d)


normalize = TextNormalizer()
