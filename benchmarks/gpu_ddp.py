"""Group ``ddp``: DistributedDataParallel over NCCL on every GPU present (one rank if only one).

``ddp_nccl`` starts ``torchrun --standalone --nproc-per-node=N -m benchmarks.gpu_ddp --worker OUT``: each
rank builds the same LSTM + CTC model, wraps it as the training loop does (DDP around the model plus the
``0 * sum(parameters)`` term, ``statecatcher.train.distributed``), trains ``STEPS`` steps on its own random
lanes with the state carried, and rank 0 writes every rank's parameter digest.  Passing means the process
group came up on NCCL, every loss is finite and all ranks end with identical parameters (the gradients were
all-reduced).  A dry run uses gloo on the CPU with one rank.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.gpu_common import ROOT, Context, child_env

STEPS = 5
TIMEOUT_S = 120


def worker(out: Path) -> None:
    """One rank (started by torchrun): train a few DDP steps, rank 0 writes ``{backend, world_size, digests}``."""
    import torch
    import torch.distributed as dist

    from statecatcher.model import build_model
    from statecatcher.state import detach
    from statecatcher.train.distributed import _EveryParameterInGraph, parameter_digest

    rank, size, local_rank = (int(os.environ[key]) for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    torch.manual_seed(0)  # the same initial weights on every rank
    model = build_model(encoder="lstm", loss="ctc", vocab_size=16, encoder_options={"hidden_dim": 64}).to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(_EveryParameterInGraph(model),
                                                    device_ids=[device] if cuda else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(100 + rank)  # each rank its own lanes
    state, losses = model.init_state(2), []
    for _ in range(STEPS):
        feats = torch.randn(2, 200, 80, generator=generator).to(device)
        targets = torch.randint(1, 16, (2, 10), generator=generator).to(device)
        lengths, target_lens = torch.full((2,), 200, device=device), torch.full((2,), 10, device=device)
        per_lane, _, state = ddp(feats, lengths, targets, target_lens, state)
        loss = per_lane.sum() / target_lens.sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state = detach(state)
        losses.append(float(loss.detach()))
    digests = [None] * size
    dist.all_gather_object(digests, {"rank": rank, "digest": parameter_digest(model), "losses": losses})
    if rank == 0:
        out.write_text(json.dumps({"backend": dist.get_backend(), "world_size": size, "ranks": digests}))
    dist.destroy_process_group()


def ddp_nccl(ctx: Context) -> dict:
    import torch

    nproc = torch.cuda.device_count() if ctx.cuda else 1
    with tempfile.TemporaryDirectory(prefix="statecatcher-gpu-ddp-") as scratch:
        out = Path(scratch) / "ddp.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                   "-m", "benchmarks.gpu_ddp", "--worker", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT,
                              env=child_env(OMP_NUM_THREADS="1"))
        if done.returncode != 0 or not out.exists():
            return {"status": "fail", "reason": f"torchrun exited with status {done.returncode}",
                    "output_tail": (done.stdout + done.stderr)[-3000:]}
        report = json.loads(out.read_text())
    expected = "nccl" if ctx.cuda else "gloo"
    digests = {entry["digest"] for entry in report["ranks"]}
    finite = all(math.isfinite(x) for entry in report["ranks"] for x in entry["losses"])
    reasons = ([] if report["backend"] == expected else [f"backend {report['backend']}, expected {expected}"]) + (
        [] if len(digests) == 1 else [f"ranks end with {len(digests)} different parameter sets"]) + (
        [] if finite else ["a loss is not finite"])
    return {"status": "fail" if reasons else "pass", **({"reason": "; ".join(reasons)} if reasons else {}),
            **report}


CHECKS = {"ddp_nccl": ddp_nccl}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one rank of the ddp_nccl check (started by torchrun)")
    parser.add_argument("--worker", type=Path, required=True, help="rank 0 writes the JSON result here")
    worker(parser.parse_args().worker)
