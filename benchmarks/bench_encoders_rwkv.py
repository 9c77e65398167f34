"""RWKV encoders on CPU: chunkwise vs step-by-step WKV, and rwkv7 vs lstm at equal parameter count.

    python benchmarks/bench_encoders_rwkv.py            # 10 s segment (1000 frames), batch 8
    python benchmarks/bench_encoders_rwkv.py --small    # smoke test, seconds

Both rows time one training step (forward + backward) from a carried state on the same random features with
one torch thread, best of ``repeats``.  The encoders come from the registry at their defaults (``rwkv7`` /
``rwkv6``: hidden 256, 4 layers, head size 32, chunk 32; ``lstm``: 2 layers at the hidden width whose
parameter count is closest).  Timings on a shared machine are noisy: compare ratios within one run only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_encoders_xlstm import (  # noqa: E402  (shared timing helpers)
    FRAMES_PER_SECOND,
    INPUT_DIM,
    bench_vs_lstm,
    frames_per_second,
)


def bench_rwkv_chunkwise_vs_recurrent(seconds: float = 10, batch: int = 8, repeats: int = 2,
                                      threads: int = 1) -> dict:
    """Frames/s of ``mode="chunkwise"`` and ``mode="recurrent"`` (same weights) for rwkv7 and rwkv6."""
    import torch

    import statecatcher

    torch.set_num_threads(threads)
    feats = torch.randn(batch, int(seconds * FRAMES_PER_SECOND), INPUT_DIM)
    row: dict = {"segment_seconds": seconds, "batch": batch, "threads": threads}
    for name in ("rwkv7", "rwkv6"):
        torch.manual_seed(0)
        chunked = statecatcher.get_encoder(name, INPUT_DIM, backend="torch").train()
        stepwise = statecatcher.get_encoder(name, INPUT_DIM, backend="torch", mode="recurrent").train()
        stepwise.load_state_dict(chunked.state_dict())
        with torch.no_grad():
            lengths = torch.full((batch,), feats.shape[1])
            out_c = chunked(feats, lengths, chunked.init_state(batch))[0]
            out_r = stepwise(feats, lengths, stepwise.init_state(batch))[0]
        row[f"{name}_max_abs_diff"] = float((out_c - out_r).abs().max())
        row[f"{name}_chunkwise_frames_per_s"] = frames_per_second(chunked, feats, repeats)
        row[f"{name}_recurrent_frames_per_s"] = frames_per_second(stepwise, feats, repeats)
        row[f"{name}_chunkwise_over_recurrent"] = (
            row[f"{name}_chunkwise_frames_per_s"] / row[f"{name}_recurrent_frames_per_s"])
        print(f"{name} fwd+bwd, CPU, {threads} thread(s), {seconds:g} s segment x batch {batch}: "
              f"chunkwise {row[f'{name}_chunkwise_frames_per_s']:.0f} frames/s, "
              f"recurrent {row[f'{name}_recurrent_frames_per_s']:.0f} frames/s; "
              f"chunkwise/recurrent = {row[f'{name}_chunkwise_over_recurrent']:.2f} "
              f"(outputs differ by {row[f'{name}_max_abs_diff']:.1e})")
    return row


def bench_rwkv7_vs_lstm(seconds: float = 10, batch: int = 8, repeats: int = 2, threads: int = 1) -> dict:
    """Frames/s of ``rwkv7`` (chunkwise) and of an equal-size ``lstm`` (forward + backward, CPU), and their ratio."""
    return bench_vs_lstm("rwkv7", seconds, batch, repeats, threads, backend="torch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 1 s segment at batch 2, for a smoke test")
    args, _ = parser.parse_known_args()  # nox passes the same arguments to every benchmark
    options = {"seconds": 1, "batch": 2, "repeats": 1} if args.small else {}
    bench_rwkv_chunkwise_vs_recurrent(**options)
    bench_rwkv7_vs_lstm(**options)


if __name__ == "__main__":
    main()
