"""Finding and reading checkpoint files (the trainer writes them: :mod:`statecatcher.train.checkpoint`).

A run directory keeps ``checkpoints/last.pt`` (the newest step checkpoint, what a resume continues from)
and, with validation on, ``checkpoints/best.pt`` (the model pack with the best dev WER so far).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"
BEST = "best.pt"


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint's payload; ``FileNotFoundError`` when missing, ``ValueError`` naming ``path`` when the
    file is not a statecatcher checkpoint."""
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a statecatcher checkpoint ({str(error).splitlines()[0]})") from error
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: not a statecatcher checkpoint (it holds a {type(payload).__name__})")
    return payload


def find_checkpoint(path: Path, which: str = "last") -> Path | None:
    """``path`` itself if it is a file; for a run dir or checkpoints dir, its ``last.pt`` (``which="last"``)
    or ``best.pt`` (``which="best"``) if present."""
    path = Path(path)
    if path.is_file():
        return path
    name = {"last": LAST, "best": BEST}[which]
    for candidate in (path / "checkpoints" / name, path / name):
        if candidate.exists():
            return candidate
    return None
