"""Data-parallel training: one process per rank (torchrun), each streaming its own shard of recordings.

Usage (see docs/distributed.md)::

    torchrun --nproc_per_node=2 -m statecatcher run ...     # or: statecatcher run --nproc 2 ...

Every rank owns ``batch_size`` lanes and their carried states; only gradients travel between ranks
(DistributedDataParallel: nccl on CUDA, gloo on CPU).  Ranks step in lockstep: each step they agree whether any
rank still has a batch, and a rank whose shard is exhausted trains on an all-inactive batch (weight 0), so
every collective matches and the epoch ends on every rank at the same step.  Without torchrun's environment
(``WORLD_SIZE`` unset or 1) every helper here is a no-op and training is the plain single-process loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..data.batch import Batch
from ..data.lane_plan import reshard_state
from ..protocols import DataSource


@dataclass(frozen=True)
class World:
    """This process's place among the ranks; ``size == 1`` is single-process training."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # this World started the process group, so close() ends it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` itself, or for several ranks a DistributedDataParallel view of it (same parameters)."""
        if self.size == 1:
            return model
        device_ids = [self.device] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(_EveryParameterInGraph(model), device_ids=device_ids)

    def lockstep(self, batches: Iterable[Batch], *, batch_size: int, feature_dim: int) -> Iterator[Batch]:
        """``batches`` until every rank's are exhausted; meanwhile an exhausted rank gets all-inactive batches
        (``Batch.empty``), so all ranks take the same number of steps.  One all-reduce per step."""
        batches = iter(batches)
        while True:
            batch = next(batches, None)
            if not self._any(batch is not None):
                return
            yield batch if batch is not None else Batch.empty(batch_size, feature_dim)

    def all_sum(self, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Scalars summed over the ranks (one all-reduce, in float64), detached; for one rank, just detached."""
        if self.size == 1:
            return tuple(v.detach() for v in values)
        summed = torch.stack([v.detach().to(self.device, torch.float64) for v in values])
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        return tuple(s.to(v.dtype) for s, v in zip(summed, values, strict=True))

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` (pickled; keep tensors on the CPU) as a list on rank 0, ``None`` elsewhere."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    @contextmanager
    def main_first(self, *, per_node: bool = False) -> Iterator[None]:
        """Rank 0 (``per_node``: local rank 0 of every machine) runs the block first, then the other ranks:
        e.g. rank 0 trains the tokenizer into the shared run dir, or fills a machine's cache, that the others
        then read."""
        leader = self.local_rank == 0 if per_node else self.is_main
        if not leader:
            self.barrier()
        yield
        if leader:
            self.barrier()

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier(device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def close(self) -> None:
        """End the process group this World started (after a barrier: gloo aborts if a peer leaves early)."""
        if self.owns_group and dist.is_initialized():
            self.barrier()
            dist.destroy_process_group()

    def _any(self, flag: bool) -> bool:
        if self.size == 1:
            return flag
        value = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    # -- checkpoints ---------------------------------------------------------------------------------------

    def resume_entry(self, ranks: Sequence[dict[str, Any]], source: DataSource, *,
                     batch_size: int) -> dict[str, Any]:
        """This rank's ``{"lanes", "state", "rng"}`` from a checkpoint's ``ranks`` (one entry per old rank).

        Same world size and lanes: the rank's own entry, an exact continuation.  Otherwise the epoch is
        re-sharded at recording boundaries (:func:`~statecatcher.data.lane_plan.reshard_state`): finished
        recordings are not repeated, recordings in progress restart from their first segment, and their
        carried states are lost (``"state": None``: start from the initial state).
        """
        old_lanes = [entry["lanes"] for entry in ranks]
        if len(ranks) == self.size and all(lanes is None or lanes["batch_size"] == batch_size for lanes in old_lanes):
            return ranks[self.rank]
        fresh = {"lanes": None, "state": None, "rng": ranks[self.rank % len(ranks)]["rng"]}
        if old_lanes[0] is None:  # saved between epochs: nothing to re-shard
            return fresh
        if self.is_main:
            warnings.warn(f"checkpoint of {len(ranks)} rank(s) x {old_lanes[0]['batch_size']} lanes, resuming on "
                          f"{self.size} x {batch_size}: re-sharding the epoch at recording boundaries; recordings "
                          "in progress restart from their first segment with a fresh state", stacklevel=2)
        lanes = reshard_state(old_lanes, source, rank=self.rank, world_size=self.size, batch_size=batch_size)
        return fresh | {"lanes": lanes}


class _EveryParameterInGraph(nn.Module):
    """``model`` with ``0 * sum(parameters)`` added to its per-lane loss.

    Every parameter then gets a gradient at every backward on every rank, even when an encoder leaves
    inactive lanes out of its computation (the LSTM does: an exhausted rank's all-inactive batch would keep
    its weights out of the graph, and DDP's gradient all-reduce would wait for them forever).  DDP's
    ``find_unused_parameters=True`` is no alternative: it costs a graph traversal per forward and fails with
    several forwards per backward (``--tbptt-segments`` > 1: "Expected to mark a variable ready only once").
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args: Any) -> Any:
        per_lane, *rest = self.model(*args)
        untouched = sum(p.sum() for p in self.model.parameters()) * 0.0
        return per_lane + untouched, *rest


def init_world(device: torch.device) -> World:
    """The World from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``).

    With more than one rank, starts the process group (nccl on CUDA, gloo on CPU) unless one is running;
    a CUDA device without an index becomes ``cuda:LOCAL_RANK``.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(device=device)
    try:
        rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    except KeyError as missing:
        raise RuntimeError(f"WORLD_SIZE={size} but {missing} is not set: start the ranks with torchrun "
                           "(see docs/distributed.md)") from None
    if device.type == "cuda":
        if device.index is not None:
            raise ValueError(f"--device {device} with {size} ranks: use --device cuda (or auto), each rank "
                             "takes cuda:LOCAL_RANK")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    return World(rank, size, local_rank, device, owns_group)


def torchrun_command(nproc: int, run_args: Sequence[str]) -> list[str]:
    """The command that runs ``statecatcher run RUN_ARGS`` as ``nproc`` ranks on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "statecatcher", "run", *run_args]


def without_option(args: Sequence[str], option: str) -> list[str]:
    """``args`` without ``option VALUE`` / ``option=VALUE`` (e.g. ``--nproc`` before handing over to torchrun)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


class RankLog:
    """``RUN_DIR/ranks/rank{R}.jsonl`` (``--rank-log``): one line per step with the recordings this rank
    trained (``[recording id, segment index]`` per active lane) and a digest of its parameters after the
    step.  For tests and debugging: equal digests across ranks prove the replicas agree, the recordings that
    the shards are disjoint.  Lines of steps repeated after a resume are appended again."""

    def __init__(self, run_dir: Path, rank: int):
        path = Path(run_dir) / "ranks" / f"rank{rank}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a", encoding="utf-8")

    def write(self, step: int, epoch: int, batch: Batch, model: nn.Module) -> None:
        lanes = zip(batch.recording_ids, batch.segment_index, strict=True)
        recordings = [[rid, index] for rid, index in lanes if rid is not None]
        row = {"step": step, "epoch": epoch, "recordings": recordings, "params": parameter_digest(model)}
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def parameter_digest(model: nn.Module) -> str:
    """sha256 of every parameter's bytes, in order (16 hex digits): equal iff the parameters are bit-equal."""
    digest = hashlib.sha256()
    for p in model.parameters():
        digest.update(p.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
