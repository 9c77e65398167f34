"""CPU RNN-T loss backends: time and peak memory of one forward + backward, as ratios against warprnnt_numba.

    python benchmarks/bench_losses_rnnt.py            # B=8, T=400, U=60, V=500 (minutes: numba is slow)
    python benchmarks/bench_losses_rnnt.py --small    # smoke test, seconds

Each row runs the whole ``RNNTLoss`` step (predictor, joiner, loss, backward) on the same random encoder
output in its own spawned process with one torch thread; peak memory is the growth of the process's maximum
resident set size (``ru_maxrss``) during the step, so it counts torch's allocations that tracemalloc misses.
Timings on a shared machine are noisy: compare ratios within one run only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

FULL = {"batch": 8, "frames": 400, "tokens": 60, "vocab": 500}
SMALL = {"batch": 2, "frames": 40, "tokens": 8, "vocab": 50}
ROWS = [  # (label, RNNTLoss options)
    ("warprnnt_numba (full)", {"backend": "numba"}),
    ("torch lattice (full)", {"backend": "torch"}),
    ("pruned, prune_range=5", {"pruned": True, "prune_range": 5}),
]
ENC_DIM, PRED_DIM, JOINER_DIM = 256, 256, 256


def measure(options: dict, sizes: dict) -> tuple[float, float]:
    """Seconds and peak extra MiB of one RNN-T forward + backward (run inside a fresh process)."""
    import torch

    from statecatcher_rnnt.loss import RNNTLoss

    torch.set_num_threads(1)
    torch.manual_seed(0)
    loss_fn = RNNTLoss(ENC_DIM, sizes["vocab"], pred_dim=PRED_DIM, joiner_dim=JOINER_DIM, **options)
    batch, frames, tokens = sizes["batch"], sizes["frames"], sizes["tokens"]
    enc_out = torch.randn(batch, frames, ENC_DIM, requires_grad=True)
    targets = torch.randint(1, sizes["vocab"], (batch, tokens))
    enc_lens = torch.full((batch,), frames)
    target_lens = torch.full((batch,), tokens)
    state = loss_fn.init_state(batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    nll, _ = loss_fn(enc_out, enc_lens, targets, target_lens, state)
    nll.sum().backward()
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return seconds, peak_kib / 1024


def run(small: bool = False) -> list[dict]:
    """One row per CPU backend: seconds, peak MiB and both as ratios against warprnnt_numba."""
    sizes = SMALL if small else FULL
    context = multiprocessing.get_context("spawn")
    rows = []
    for label, options in ROWS:
        with context.Pool(1) as pool:
            seconds, peak_mib = pool.apply(measure, (options, sizes))
        rows.append({"backend": label, "seconds": seconds, "peak_mib": peak_mib})
    base = rows[0]
    for row in rows:
        row["time_ratio"] = row["seconds"] / base["seconds"]
        row["memory_ratio"] = row["peak_mib"] / max(base["peak_mib"], 1e-9)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes for a smoke test")
    args, _ = parser.parse_known_args()  # nox passes the same arguments to every benchmark
    sizes = SMALL if args.small else FULL
    print("RNN-T loss, CPU, 1 thread, forward+backward incl. predictor and joiner: "
          + ", ".join(f"{k}={v}" for k, v in sizes.items()))
    print(f"{'backend':<24}{'seconds':>10}{'peak MiB':>10}{'time x':>9}{'memory x':>10}")
    for row in run(small=args.small):
        print(f"{row['backend']:<24}{row['seconds']:>10.2f}{row['peak_mib']:>10.0f}"
              f"{row['time_ratio']:>9.3f}{row['memory_ratio']:>10.3f}")


if __name__ == "__main__":
    main()
