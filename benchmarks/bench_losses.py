"""Row ``losses``: time and peak memory of one CTC and RNN-T (full and pruned) forward + backward, as ratios to CTC.

    python -m benchmarks losses [--small]

Each loss comes from the registry (``ctc``; ``rnnt`` with the backends of ``bench_losses_rnnt``: the torch
lattice, the pruned loss and, except with ``--small``, warprnnt_numba, which takes about two minutes on CPU)
and runs one forward + backward of the whole loss module (projection; for RNN-T predictor and joiner too)
on the same random encoder output [B=8, T'=400, 256] with U=60 targets over V=500, in its own spawned
process with one torch thread.  Peak memory is the growth of the process's resident set during the step:
the kernel's high-water mark (``VmHWM``, reset just before) minus the resident set before the step.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from benchmarks.bench_losses_rnnt import ENC_DIM, FULL, JOINER_DIM, PRED_DIM, ROWS, SMALL

RNNT_SIZES = {"pred_dim": PRED_DIM, "joiner_dim": JOINER_DIM}
NUMBA = "numba"


def losses(small: bool) -> list[tuple[str, str, dict]]:
    """``(label, registry name, options)``: ctc first, then the RNN-T backends (numba only at full size)."""
    rnnt = [(f"rnnt {label}", "rnnt", {**RNNT_SIZES, **options}) for label, options in ROWS
            if not (small and options.get("backend") == NUMBA)]
    return [("ctc", "ctc", {}), *rnnt]


def memory_kib(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process from /proc/self/status, KiB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1])


def measure(name: str, options: dict, sizes: dict) -> tuple[float, float]:
    """Seconds and peak extra MiB of one forward + backward of loss ``name`` (run inside a fresh process)."""
    import torch

    import statecatcher

    torch.set_num_threads(1)
    torch.manual_seed(0)
    loss_fn = statecatcher.get_loss(name, input_dim=ENC_DIM, vocab_size=sizes["vocab"], blank_id=0, **options)
    batch, frames, tokens = sizes["batch"], sizes["frames"], sizes["tokens"]
    enc_out = torch.randn(batch, frames, ENC_DIM, requires_grad=True)
    targets = torch.randint(1, sizes["vocab"], (batch, tokens))
    lengths, target_lens = torch.full((batch,), frames), torch.full((batch,), tokens)
    state = loss_fn.init_state(batch)
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current resident set
    before = memory_kib("VmRSS")
    start = time.perf_counter()
    nll, _ = loss_fn(enc_out, lengths, targets, target_lens, state)
    nll.sum().backward()
    seconds = time.perf_counter() - start
    return seconds, (memory_kib("VmHWM") - before) / 1024


def run(small: bool = False) -> list[dict]:
    """Per RNN-T backend: its time / CTC's and its peak memory / CTC's (the raw numbers in the description)."""
    sizes = SMALL if small else FULL
    shape = f"B={sizes['batch']}, T'={sizes['frames']}, U={sizes['tokens']}, V={sizes['vocab']}"
    context = multiprocessing.get_context("spawn")
    measured = {}
    for label, name, options in losses(small):
        with context.Pool(1) as pool:
            measured[label] = pool.apply(measure, (name, options, sizes))
        print(f"losses, {label}: {measured[label][0]:.2f} s, {measured[label][1]:.0f} MiB ({shape})", flush=True)
    ctc_seconds, ctc_mib = measured["ctc"]
    results = []
    for label, (seconds, peak_mib) in measured.items():
        if label == "ctc":
            continue
        results += [
            {"name": f"{label}: time / ctc", "ratio": seconds / ctc_seconds, "seconds": seconds,
             "description": f"fwd+bwd {seconds:.2f} s vs CTC {ctc_seconds:.2f} s, {shape}"
                            + (" (numba on CPU is slow)" if NUMBA in label else "")},
            {"name": f"{label}: memory / ctc", "ratio": peak_mib / max(ctc_mib, 0.1), "peak_mib": peak_mib,
             "description": f"peak extra {peak_mib:.0f} MiB vs CTC {ctc_mib:.1f} MiB"},
        ]
    return results
