"""Checkpoints that resume exactly: model, optimizer, scheduler, RNG streams, lanes and carried states.

Files are written atomically (temporary file + rename), so a kill mid-write never leaves a broken
``last.pt``; a failed write (a full disk) removes its temporary and leaves ``last.pt`` as it was; older
``step-*.pt`` files are pruned to ``keep``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..files import replacing, temporary_sibling

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
    """Writes ``step-<step>.pt`` and points ``last.pt`` at it; on failure (a full disk: ``DiskFullError``
    naming the file) no temporary is left and ``last.pt`` is untouched."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for stale in checkpoint_dir.glob(".*.tmp"):  # left by a process killed while writing
        stale.unlink(missing_ok=True)
    path = checkpoint_dir / f"step-{step:08d}.pt"
    with replacing(path) as file:
        torch.save(payload, file)
    last = checkpoint_dir / LAST
    last_tmp = temporary_sibling(last)
    try:
        os.link(path, last_tmp)
        os.replace(last_tmp, last)
    except OSError:
        last_tmp.unlink(missing_ok=True)  # no hard links here: a copy, written the same safe way
        with replacing(last) as file, open(path, "rb") as source:
            shutil.copyfileobj(source, file)
    for old in sorted(checkpoint_dir.glob("step-*.pt"))[:-keep]:
        old.unlink()
    return path


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


def resume_message(run_dir: Path, checkpoint: Path, *, epoch: int, step: int) -> str:
    """``resuming from checkpoints/step-00000150.pt: epoch 3, step 150`` (the step file ``last.pt`` points at,
    relative to ``run_dir`` when inside it)."""
    step_file = checkpoint.parent / f"step-{step:08d}.pt"
    shown = step_file if checkpoint.name == LAST and step_file.is_file() else checkpoint
    with contextlib.suppress(ValueError):
        shown = shown.resolve().relative_to(Path(run_dir).resolve())
    return f"resuming from {shown}: epoch {epoch}, step {step}"


def find_checkpoint(path: Path) -> Path | None:
    """``path`` itself if it is a file; for a run dir or checkpoints dir, its ``last.pt`` if present."""
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / "checkpoints" / LAST, path / LAST):
        if candidate.exists():
            return candidate
    return None
