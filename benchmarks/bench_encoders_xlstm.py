"""xLSTM vs LSTM encoder on CPU: input frames per second of forward + backward, at equal parameter count.

    python benchmarks/bench_encoders_xlstm.py            # 10 s segment (1000 frames), batch 8
    python benchmarks/bench_encoders_xlstm.py --small    # smoke test, seconds

Both encoders come from the registry (``xlstm`` at its defaults: hidden 256, pattern m,m,s,m; ``lstm`` with
2 layers and the hidden width whose parameter count is closest), run one training step from a carried state
on the same random features with one torch thread, best of ``repeats``.  Timings on a shared machine are
noisy: compare the ratio within one run only.
"""

from __future__ import annotations

import argparse
import time

FRAMES_PER_SECOND = 100  # 10 ms feature hop
INPUT_DIM = 80


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def lstm_matching(target: int, num_layers: int = 2):
    """The registry's ``lstm`` encoder whose parameter count is closest to ``target``."""
    import statecatcher

    def build(hidden: int):
        return statecatcher.get_encoder("lstm", INPUT_DIM, hidden_dim=hidden, num_layers=num_layers)

    hidden = min(range(32, 1025, 8), key=lambda h: abs(parameter_count(build(h)) - target))
    return build(hidden), hidden


def frames_per_second(encoder, feats, repeats: int, lengths=None) -> float:
    """Input frames per second of ``forward + backward`` on ``feats[B,T,F]`` (every lane ``T`` frames long, or
    ``lengths[B]``; padding counts as frames) from a carried state (on the encoder's and ``feats``' device; under
    the caller's autocast, if any)."""
    import torch

    from statecatcher.state import cast_like

    batch, frames, _ = feats.shape
    lengths = torch.full((batch,), frames, device=feats.device) if lengths is None else lengths.to(feats.device)
    sync = torch.cuda.synchronize if feats.is_cuda else (lambda: None)  # CUDA kernels run asynchronously
    fresh = encoder.init_state(batch)
    with torch.no_grad():  # a carried (non-initial) state, as in training (in its own dtype under autocast)
        state = cast_like(encoder(feats, lengths, fresh)[2], fresh)
    best = float("inf")
    for run in range(repeats + 1):  # run 0 warms up and is not counted
        sync()
        start = time.perf_counter()
        out, _, _ = encoder(feats, lengths, state)
        out.float().pow(2).mean().backward()
        sync()
        if run:
            best = min(best, time.perf_counter() - start)
        encoder.zero_grad()
    return batch * frames / best


def bench_vs_lstm(name: str, seconds: float = 10, batch: int = 8, repeats: int = 3, threads: int = 1,
                  **options) -> dict:
    """Frames/s of encoder ``name`` (built with ``options``) and of an equal-size ``lstm`` (forward +
    backward, CPU), and their ratio ``<name>_over_lstm``."""
    import torch

    import statecatcher

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    encoder = statecatcher.get_encoder(name, INPUT_DIM, **options).train()
    lstm, lstm_hidden = lstm_matching(parameter_count(encoder))
    lstm.train()
    feats = torch.randn(batch, int(seconds * FRAMES_PER_SECOND), INPUT_DIM)
    row = {
        "segment_seconds": seconds, "batch": batch, "threads": threads,
        f"{name}_params": parameter_count(encoder), "lstm_params": parameter_count(lstm), "lstm_hidden": lstm_hidden,
        f"{name}_frames_per_s": frames_per_second(encoder, feats, repeats),
        "lstm_frames_per_s": frames_per_second(lstm, feats, repeats),
    }
    row[f"{name}_over_lstm"] = row[f"{name}_frames_per_s"] / row["lstm_frames_per_s"]
    print(f"encoder fwd+bwd, CPU, {threads} thread(s), {seconds:g} s segment x batch {batch}: "
          f"{name} {row[f'{name}_frames_per_s']:.0f} frames/s ({row[f'{name}_params'] / 1e6:.2f} M params), "
          f"lstm {row['lstm_frames_per_s']:.0f} frames/s ({row['lstm_params'] / 1e6:.2f} M params, hidden "
          f"{lstm_hidden}); {name}/lstm = {row[f'{name}_over_lstm']:.3f}")
    return row


def bench_xlstm_vs_lstm(seconds: float = 10, batch: int = 8, repeats: int = 3, threads: int = 1) -> dict:
    """Frames/s of ``xlstm`` and of an equal-size ``lstm`` (forward + backward, CPU), and their ratio."""
    return bench_vs_lstm("xlstm", seconds, batch, repeats, threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 1 s segment at batch 2, for a smoke test")
    args, _ = parser.parse_known_args()  # nox passes the same arguments to every benchmark
    if args.small:
        bench_xlstm_vs_lstm(seconds=1, batch=2, repeats=1)
    else:
        bench_xlstm_vs_lstm()


if __name__ == "__main__":
    main()
