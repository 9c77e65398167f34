"""Shared pieces of the GPU acceptance run (``benchmarks/gpu.py``): the run's context, outcomes, comparisons.

A *check* is ``fn(ctx: Context) -> dict``: it returns its numbers (and ``"status": "fail"`` with a
``"reason"`` when a criterion is not met; ``"pass"`` otherwise), raises :class:`Skipped` when it cannot run
here (the message says why), and any other exception makes it an ``"error"``.  A *group* is a module with
``CHECKS = {name: fn}``; :func:`run_group` runs one group inside its own process and appends one JSON line
per finished check, so a crash or a timeout loses only the check that was running.
"""

from __future__ import annotations

import gc
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATUSES = ("pass", "fail", "skipped", "error")
INPUT_DIM = 80
FRAMES_PER_SECOND = 100  # 10 ms feature hop


class Skipped(Exception):
    """This check cannot run on this machine; the message is the reason (reported, never silent)."""


@dataclass(frozen=True)
class Context:
    """Where and how big: ``device`` ``"cuda"`` or ``"cpu"``; ``dry_run`` = tiny sizes, CPU stand-ins."""

    device: str
    dry_run: bool

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def stand_in(self, cuda_backend: str, cpu_backend: str) -> tuple[str, dict]:
        """The backend a CUDA check compares against its reference: ``cuda_backend`` on CUDA; in a dry run on
        the CPU, ``cpu_backend`` (the reference against itself, plumbing only); otherwise :class:`Skipped`."""
        if self.cuda:
            return cuda_backend, {}
        if self.dry_run:
            return cpu_backend, {"stand_in": f"{cpu_backend} for {cuda_backend} (--dry-run on the CPU)"}
        raise Skipped(f"{cuda_backend} needs CUDA and this run is on the CPU")

    def pick(self, dry: object, full: object) -> object:
        """``dry`` in a dry run, else ``full`` (sizes)."""
        return dry if self.dry_run else full


Check = Callable[[Context], dict]


def relative_diff(candidate, reference) -> float:
    """``max |candidate - reference| / max |reference|`` in float64 (``inf`` for shape mismatch or NaN)."""
    if candidate.shape != reference.shape:
        return float("inf")
    a, b = candidate.detach().double(), reference.detach().double()
    scale = b.abs().max().clamp_min(1e-12)
    return float(((a - b).abs().max() / scale).nan_to_num(nan=float("inf")))


def verdict(numbers: dict, limits: dict[str, float]) -> dict:
    """``numbers`` plus ``status`` (``fail`` with a reason naming each number above its limit) and the limits."""
    over = [f"{key} {numbers[key]:.3g} > {limit:g}" for key, limit in limits.items() if not numbers[key] <= limit]
    return {**numbers, "limits": limits, "status": "fail" if over else "pass",
            **({"reason": "; ".join(over)} if over else {})}


def child_env(**extra: str) -> dict:
    """This process's environment with the repository root first on ``PYTHONPATH`` (for ``-m benchmarks.*``)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def synchronize(ctx: Context) -> None:
    if ctx.cuda:
        import torch

        torch.cuda.synchronize()


def one_check(name: str, fn: Check, ctx: Context) -> dict:
    """Run one check: ``{name, status, seconds, ...its numbers}``; never raises."""
    started = time.perf_counter()
    try:
        result = dict(fn(ctx))
        status = result.pop("status", "pass")
    except Skipped as why:
        result, status = {"reason": str(why)}, "skipped"
    except Exception as exc:  # a check's failure is its row's error, the other checks still run
        lines = (str(exc).strip() or type(exc).__name__).splitlines()
        result = {"reason": f"{type(exc).__name__}: {lines[0]}", "traceback": traceback.format_exc()[-3000:]}
        status = "error"
    finally:
        free_memory()
    return {"name": name, "status": status, "seconds": round(time.perf_counter() - started, 3), **result}


def free_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run_group(checks: dict[str, Check], ctx: Context, out: Path, only: set[str] | None = None) -> None:
    """Run ``checks`` (those in ``only``, if given) in order, appending each outcome to ``out`` as a JSON line."""
    for name, fn in checks.items():
        if only and name not in only:
            continue
        print(f"gpu: {name} ...", flush=True)
        outcome = one_check(name, fn, ctx)
        print(f"gpu: {name}: {outcome['status']} ({outcome['seconds']:.1f} s)"
              + (f": {outcome['reason']}" if "reason" in outcome else ""), flush=True)
        with out.open("a") as stream:
            stream.write(json.dumps(outcome, default=float) + "\n")
