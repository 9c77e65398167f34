"""Rebuild ``src/statecatcher_synth/data/sentences.txt`` from Debian's public-domain texts.

Needs the Debian packages ``bible-kjv`` (King James Bible) and ``dict-devil`` (Ambrose Bierce's Devil's
Dictionary, 1911).  Run from the plugin folder::

    apt-get install -y bible-kjv dict-devil
    python scripts/make_sentences.py > src/statecatcher_synth/data/sentences.txt

Only sentences a TTS engine reads exactly as written survive (see ``is_readable``); the output is
deterministic (a fixed stride through the Bible, every readable Devil's Dictionary sentence).
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys

ALLOWED = re.compile(r"^[A-Z][A-Za-z ,;:'!?]*[a-z][.?!]$")
SENTENCE_END = re.compile(r"(?<=[a-z][.?!])\s+(?=[A-Z])")
ABBREVIATIONS = {"mr", "mrs", "dr", "st", "vs", "viz", "etc", "ie", "eg", "jr", "sr", "co", "no", "n", "v", "adj"}
SINGLE_LETTER_WORDS = {"I", "a", "A", "O"}
BIBLE_STRIDE = 4
MIN_WORDS, MAX_WORDS, MAX_CHARS = 4, 25, 250


def is_readable(sentence: str) -> bool:
    """True when a TTS engine reads ``sentence`` exactly as written.

    Letters and ``, ; : ' ! ?`` only, one final ``. ? !``, no digits, no all-caps tokens, no one-letter
    tokens other than I/a/O, no abbreviations, 4-25 words and at most 250 characters.
    """
    if len(sentence) > MAX_CHARS or not ALLOWED.match(sentence):
        return False
    words = re.findall(r"[A-Za-z']+", sentence)
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    for word in words:
        bare = word.strip("'")
        if len(bare) == 1 and bare not in SINGLE_LETTER_WORDS:
            return False
        if len(bare) > 1 and bare.isupper():
            return False
        if bare.lower() in ABBREVIATIONS or word.startswith("'") or "''" in word:
            return False
    return "  " not in sentence and " ," not in sentence


def split_sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text).strip()
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def bible_sentences() -> list[str]:
    """KJV chapters joined verse by verse, split into sentences; ``LORD`` is written ``Lord``."""
    raw = subprocess.run(["bible", "-l100000", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True)
    chapters, verses = [], []
    for line in raw.stdout.splitlines():
        match = re.match(r"^\s+\d+ (.*)$", line)
        if match:
            verses.append(match.group(1))
        elif line.strip() and verses:
            chapters.append(" ".join(verses))
            verses = []
    chapters.append(" ".join(verses))
    out = []
    for chapter in chapters:
        chapter = re.sub(r"\bLORD\b", "Lord", re.sub(r"\bGOD\b", "God", chapter))
        out.extend(split_sentences(chapter))
    return out


def devil_sentences(path: str = "/usr/share/dictd/devil.dict.dz") -> list[str]:
    """Definition prose of the Devil's Dictionary (headwords, indented verse and quotes dropped)."""
    with gzip.open(path, "rt", encoding="latin-1") as f:
        text = f.read()
    text = text[text.index("ABASEMENT, n."):]
    out = []
    for entry in re.split(r"\n\s*\n", text):
        prose = [line for line in entry.splitlines() if line and not line.startswith(" ")]
        body = re.sub(r"^[A-Z][A-Z' -]*, [a-z.]+\s+", "", " ".join(prose))
        out.extend(split_sentences(body.replace("_", "")))
    return out


def main() -> None:
    bible = [s for s in bible_sentences() if is_readable(s)]
    devil = [s for s in devil_sentences() if is_readable(s)]
    seen, kept = set(), []
    for sentence in bible[::BIBLE_STRIDE] + devil:
        if sentence not in seen:
            seen.add(sentence)
            kept.append(sentence)
    print(f"bible {len(bible)} (kept every {BIBLE_STRIDE}th), devil {len(devil)}, total {len(kept)}",
          file=sys.stderr)
    sys.stdout.write("\n".join(kept) + "\n")


if __name__ == "__main__":
    main()
