"""Row ``encoders``: fwd + bwd frames/s of lstm, xlstm, rwkv7 and lucyrnn (chunkwise and recurrent) at ~2M params.

    python -m benchmarks encoders [--small]

One training step (forward + backward) from a carried state on the same random features [B=8, 10 s = 1000
frames, 80], one torch thread, best of ``repeats`` (the timing helpers of ``bench_encoders_xlstm``, shared
with ``bench_encoders_rwkv``).  Sizes: ``xlstm`` at its defaults (hidden 256, m,m,s,m: 1.96 M parameters),
m-only (m,m,m,m: 1.94 M) and l-only (two xLSTM-7B blocks, l,l at hidden 264: 1.97 M; both this row only),
``rwkv7`` with 2 layers (1.99 M), ``lucyrnn`` with 4 layers at
hidden 264 (1.98 M) (both also in ``mode="recurrent"``: the same weights, frame by frame) and ``lstm`` with
2 layers at the hidden width whose count is closest (312: 1.96 M).  Ratios are to lstm, plus chunkwise
over recurrent for each encoder that has both forms.  The kernels alone: row ``kernels``.
"""

from __future__ import annotations

from benchmarks.bench_encoders_xlstm import FRAMES_PER_SECOND, INPUT_DIM, frames_per_second, parameter_count

# (label, registry name, options) at ~2M parameters, compared with lstm at LSTM_HIDDEN
EQUAL_SIZE = (
    ("xlstm", "xlstm", {}),
    ("rwkv7 chunkwise", "rwkv7", {"num_layers": 2}),
    ("rwkv7 recurrent", "rwkv7", {"num_layers": 2, "mode": "recurrent"}),
    ("lucyrnn chunkwise", "lucyrnn", {"hidden_dim": 264}),
    ("lucyrnn recurrent", "lucyrnn", {"hidden_dim": 264, "mode": "recurrent"}),
)
LSTM_HIDDEN = 312  # 2 layers, 1.96 M parameters: the closest to xlstm's 1.96 M
# timed in this row only (not streamed by ``streaming``): xlstm without its sLSTM block, 4 mLSTM blocks (1.94 M);
# 2 xLSTM-7B mLSTM blocks (statecatcher_xlstm.large_block) at the width whose count is closest (264: 1.97 M)
THIS_ROW_ONLY = (("xlstm m-only", "xlstm", {"pattern": "m,m,m,m"}),
                 ("xlstm l-only", "xlstm", {"pattern": "l,l", "hidden_dim": 264}))


def equal_size_encoders() -> dict[str, tuple[str, dict]]:
    """``{label: (registry name, options)}`` of the compared encoders, lstm first (also used by ``streaming``)."""
    return {"lstm": ("lstm", {"hidden_dim": LSTM_HIDDEN, "num_layers": 2}),
            **{label: (name, options) for label, name, options in EQUAL_SIZE}}


def run(small: bool = False) -> list[dict]:
    """One result per encoder other than lstm: its frames/s over lstm's."""
    import torch

    import statecatcher

    seconds, batch, repeats = (1, 2, 1) if small else (10, 8, 2)
    torch.set_num_threads(1)
    feats = torch.randn(batch, int(seconds * FRAMES_PER_SECOND), INPUT_DIM)
    measured = {}
    encoders = {**equal_size_encoders(), **{label: (name, options) for label, name, options in THIS_ROW_ONLY}}
    for label, (name, options) in encoders.items():
        torch.manual_seed(0)
        encoder = statecatcher.get_encoder(name, INPUT_DIM, **options).train()
        measured[label] = {"frames_per_s": frames_per_second(encoder, feats, repeats),
                           "params": parameter_count(encoder)}
        print(f"encoders, {label}: {measured[label]['frames_per_s']:.0f} frames/s "
              f"({measured[label]['params'] / 1e6:.2f} M params)", flush=True)
    lstm = measured["lstm"]["frames_per_s"]
    over_lstm = [{"name": f"{label} / lstm", "ratio": numbers["frames_per_s"] / lstm,
                  "description": (f"fwd+bwd frames/s, {seconds:g} s x batch {batch}, 1 thread: "
                                  f"{numbers['frames_per_s']:.0f} vs {lstm:.0f}; "
                                  f"{numbers['params'] / 1e6:.2f} M params"),
                  **numbers} for label, numbers in measured.items() if label != "lstm"]
    return over_lstm + chunkwise_over_recurrent(measured)


def chunkwise_over_recurrent(measured: dict[str, dict]) -> list[dict]:
    """``"NAME chunkwise / recurrent"`` for every encoder measured in both forms (same weights, same size)."""
    results = []
    for label, numbers in measured.items():
        name, _, form = label.rpartition(" ")
        if form == "chunkwise" and f"{name} recurrent" in measured:
            recurrent = measured[f"{name} recurrent"]["frames_per_s"]
            results.append({"name": f"{name} chunkwise / recurrent", "ratio": numbers["frames_per_s"] / recurrent,
                            "description": f"fwd+bwd frames/s, same weights: {numbers['frames_per_s']:.0f} vs "
                                           f"{recurrent:.0f}", "params": numbers["params"]})
    return results
