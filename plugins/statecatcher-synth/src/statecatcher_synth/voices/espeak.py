"""espeak-ng (Debian ``espeak-ng``): formant synthesis, robotic but ~1000x realtime; many accents/variants.

Deterministic.  ``speed`` scales the default 175 words per minute.
"""

from __future__ import annotations

import numpy as np

from statecatcher_synth.voices._program import on_path, run_to_wav

WORDS_PER_MINUTE = 175
WEIGHT = 1.0


def available() -> bool:
    return on_path("espeak-ng")


def variants() -> tuple[str, ...]:
    return ("en-us", "en-us+m3", "en-us+f3", "en-gb+m1", "en-gb+f2", "en-gb-scotland")


def synthesize(text: str, speed: float, seed: int, variant: str | None = None) -> tuple[np.ndarray, int]:
    words_per_minute = str(round(WORDS_PER_MINUTE * speed))
    return run_to_wav(["espeak-ng", "-v", variant or variants()[0], "-s", words_per_minute, "-w", "{wav}", text])
