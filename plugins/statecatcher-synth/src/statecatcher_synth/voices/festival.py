"""festival (Debian ``festival`` plus ``festvox-*`` voices, e.g. kal_diphone, cmu_us_slt_arctic_hts).

Deterministic; 33-180x realtime.  ``speed`` maps to ``Duration_Stretch = 1 / speed`` for diphone voices and
to hts_engine's ``-r speed`` for HTS voices (``*_hts``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from statecatcher_synth.voices._program import on_path, run_to_wav

VOICES_DIRS = (Path("/usr/share/festival/voices/english"), Path("/usr/share/festival/voices/us"))


WEIGHT = 1.0


def available() -> bool:
    return on_path("text2wave") and bool(variants())


def variants() -> tuple[str, ...]:
    """The installed English voices, sorted (a ``festvox-*`` package adds one folder each)."""
    return tuple(sorted(
        path.name for folder in VOICES_DIRS if folder.is_dir() for path in folder.iterdir() if path.is_dir()
    ))


def synthesize(text: str, speed: float, seed: int, variant: str | None = None) -> tuple[np.ndarray, int]:
    variant = variant or variants()[0]
    if variant.endswith("_hts"):
        rate = f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {speed:.4f}))))'
    else:
        rate = f"(Parameter.set 'Duration_Stretch {1.0 / speed:.4f})"
    command = ["text2wave", "-eval", f"(voice_{variant})", "-eval", rate, "-o", "{wav}"]
    return run_to_wav(command, stdin=text)
