"""Checkpoints that resume exactly: model, optimizer, scheduler, RNG streams, lanes and carried states.

Files are written atomically (temporary file + rename), so a kill mid-write never leaves a broken
``last.pt``; a failed write (a full disk) removes its temporary and leaves ``last.pt`` as it was; older
``step-*.pt`` files are pruned to ``keep``.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint_io import BEST, LAST, find_checkpoint, load_checkpoint
from ..files import replacing, temporary_sibling
from ..state import detach, to_device
from .guards import check_finite_weights

__all__ = ["BEST", "LAST", "Resumed", "TrainingCheckpoint", "find_checkpoint", "load_checkpoint", "resume_message",
           "rng_state", "save_checkpoint", "set_rng_state"]


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


def resume_message(run_dir: Path, checkpoint: Path, *, epoch: int, step: int) -> str:
    """``resuming from checkpoints/step-00000150.pt: epoch 3, step 150`` (the step file ``last.pt`` points at,
    relative to ``run_dir`` when inside it)."""
    step_file = checkpoint.parent / f"step-{step:08d}.pt"
    shown = step_file if checkpoint.name == LAST and step_file.is_file() else checkpoint
    with contextlib.suppress(ValueError):
        shown = shown.resolve().relative_to(Path(run_dir).resolve())
    return f"resuming from {shown}: epoch {epoch}, step {step}"


@dataclass
class Resumed:
    """Where a restored run continues: this rank's lanes, carried state and filter references."""

    path: Path
    epoch: int
    lanes: dict[str, Any] | None
    state: Any
    filters: dict[str, Any] | None
    validation: dict[str, Any] | None


class TrainingCheckpoint:
    """Saves and restores one run's checkpoints (``RUN_DIR/checkpoints``), the two sides written side by side.

    ``pack`` holds the inference keys besides the weights (config, tokenizer files, text normaliser, feature
    config, vocabulary): every checkpoint is also a model pack, and ``best.pt`` is exactly a pack.
    """

    def __init__(self, run_dir: Path, *, model: torch.nn.Module, optimizer: Any, scheduler: Any, world: Any,
                 keep: int, pack: dict[str, Any]):
        self.dir = Path(run_dir) / "checkpoints"
        self.model, self.optimizer, self.scheduler, self.world = model, optimizer, scheduler, world
        self.keep, self.pack = keep, pack

    def restore(self, source: Any, summary: Any, *, batch_size: int, device: torch.device) -> Resumed | None:
        """Load ``last.pt`` if there is one: weights, optimiser, schedule, counters, this rank's RNG streams."""
        path = find_checkpoint(self.dir.parent)
        if path is None:
            return None
        ckpt = load_checkpoint(path, map_location=device)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        own = self.world.resume_entry(ckpt["ranks"], source, batch_size=batch_size)  # re-shards if W changed
        set_rng_state(own["rng"])
        for key in ("steps", "optimizer_steps", "audio_seconds", "nan_skips"):
            setattr(summary, key, ckpt["summary"][key])
        return Resumed(path=path, epoch=ckpt["epoch"], lanes=own["lanes"], state=own["state"],
                       filters=own.get("filters"), validation=ckpt.get("validation"))

    def save(self, *, summary: Any, epoch: int, lanes: dict[str, Any] | None, state: Any, filters: Any,
             validation: dict[str, Any] | None = None) -> None:
        """Every rank's lanes, carried state, RNG streams and filter references; rank 0 writes them all.
        Never with non-finite weights (:class:`~statecatcher.train.guards.RunStopped` instead)."""
        check_finite_weights(self.model.state_dict(), summary.steps)
        ranks = self.world.gather({"lanes": lanes, "state": to_device(detach(state), "cpu"), "rng": rng_state(),
                                   "filters": filters.state_dict()})
        if not self.world.is_main:
            return
        save_checkpoint(self.dir, summary.steps, {
            **self.pack, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "epoch": epoch, "world_size": self.world.size,
            "ranks": ranks, "summary": vars(summary).copy() | {"losses": []}, "validation": validation,
        }, keep=self.keep)

    def save_best(self, dev: dict[str, Any]) -> Path:
        """``best.pt``: the model pack of now, with the dev result that made it the best."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / BEST
        with replacing(path) as file:  # a full disk leaves the previous best.pt as it was
            torch.save({**self.pack, "format": "statecatcher-pack/1", "model": self.model.state_dict(), "dev": dev},
                       file)
        return path
