"""Checkpoints that resume exactly: model, optimizer, scheduler, RNG streams, lanes and carried states.

Files are written atomically (temporary file + rename), so a kill mid-write never leaves a broken
``last.pt``; older ``step-*.pt`` files are pruned to ``keep``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

LAST = "last.pt"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(checkpoint_dir: Path, step: int, payload: dict[str, Any], keep: int = 2) -> Path:
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint_dir / f"step-{step:08d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    last_tmp = checkpoint_dir / (LAST + ".tmp")
    if last_tmp.exists():
        last_tmp.unlink()
    os.link(path, last_tmp) if hasattr(os, "link") else torch.save(payload, last_tmp)
    os.replace(last_tmp, checkpoint_dir / LAST)
    for old in sorted(checkpoint_dir.glob("step-*.pt"))[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=False)


def find_checkpoint(path: Path) -> Path | None:
    """``path`` itself if it is a file; for a run dir or checkpoints dir, its ``last.pt`` if present."""
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / "checkpoints" / LAST, path / LAST):
        if candidate.exists():
            return candidate
    return None
