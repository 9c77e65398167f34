"""flite (Debian ``flite``): the CMU voices kal16, slt, awb, rms; 70-1650x realtime; deterministic.

``speed`` maps to flite's ``duration_stretch = 1 / speed``.
"""

from __future__ import annotations

import numpy as np

from statecatcher_synth.voices._program import on_path, run_to_wav

WEIGHT = 1.0


def available() -> bool:
    return on_path("flite")


def variants() -> tuple[str, ...]:
    return ("kal16", "slt", "awb", "rms")


def synthesize(text: str, speed: float, seed: int, variant: str | None = None) -> tuple[np.ndarray, int]:
    stretch = f"duration_stretch={1.0 / speed:.4f}"
    return run_to_wav(["flite", "-voice", variant or variants()[0], "--setf", stretch, "-t", text, "-o", "{wav}"])
