"""Row ``lstm_lanes``: the LSTM encoder's forward + backward time with lanes of unequal length vs equal length.

    python -m benchmarks lstm_lanes [--small]

Lanes of a training batch end where their segments end, so their lengths differ.  The encoder runs a staircase
of dense ``nn.LSTM`` calls (one per distinct length) instead of packed sequences; the ratio says what unequal
lengths cost: 4 lanes of 800/790/780/770 frames over 4 lanes of 800 (goal <= 1.3), and 4 equal lanes over
one lane (what batching buys on a CPU).  Default lstm (hidden 256, 2 layers), one torch thread, best of N.
"""

from __future__ import annotations

from benchmarks.bench_encoders_xlstm import frames_per_second


def step_seconds(encoder, feats, lengths, repeats: int) -> float:
    """Best wall time of ``forward + backward`` over ``feats[B,T,F]`` with ``lengths[B]`` from a carried state."""
    return feats.shape[0] * feats.shape[1] / frames_per_second(encoder, feats, repeats, lengths)


def run(small: bool = False) -> list[dict]:
    import torch

    import statecatcher

    torch.set_num_threads(1)
    torch.manual_seed(0)
    frames, repeats = (200, 1) if small else (800, 5)
    encoder = statecatcher.get_encoder("lstm", 80).train()
    feats = torch.randn(4, frames, 80)
    unequal = torch.tensor([frames, frames - 10, frames - 20, frames - 30])
    seconds = {
        "unequal": step_seconds(encoder, feats, unequal, repeats),
        "equal": step_seconds(encoder, feats, torch.full((4,), frames), repeats),
        "one lane": step_seconds(encoder, feats[:1], torch.tensor([frames]), repeats),
    }
    print("lstm_lanes: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in seconds.items()), flush=True)
    return [
        {"name": "unequal / equal lanes", "ratio": seconds["unequal"] / seconds["equal"],
         "description": f"fwd+bwd s, 4 lanes {unequal.tolist()} vs 4 x {frames} frames: "
                        f"{seconds['unequal']:.3f} vs {seconds['equal']:.3f} (goal <= 1.3)", **seconds},
        {"name": "4 lanes / 1 lane", "ratio": seconds["equal"] / seconds["one lane"],
         "description": f"fwd+bwd s, 4 x {frames} frames vs 1 x {frames}: {seconds['equal']:.3f} vs "
                        f"{seconds['one lane']:.3f} (4 = no gain from batching)", **seconds},
    ]
