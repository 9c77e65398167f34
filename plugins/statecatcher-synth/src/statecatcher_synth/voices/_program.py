"""Run a command-line TTS program that writes a WAV file, and read the file back."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile


def on_path(program: str) -> bool:
    return shutil.which(program) is not None


def run_to_wav(command: list[str], *, stdin: str | None = None) -> tuple[np.ndarray, int]:
    """Run ``command`` with ``{wav}`` replaced by a temporary output path; return (float32 [T], Hz)."""
    with tempfile.TemporaryDirectory(prefix="statecatcher-synth-") as tmp:
        wav = str(Path(tmp) / "out.wav")
        command = [wav if part == "{wav}" else part.replace("{wav}", wav) for part in command]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True)
        if result.returncode != 0 or not Path(wav).exists():
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[:500]}")
        samples, sample_rate = soundfile.read(wav, dtype="float32", always_2d=True)
    return samples[:, 0], sample_rate
