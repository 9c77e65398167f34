"""Group ``throughput``: training frames/s per encoder at ~30 M parameters, and peak GPU memory vs context.

* ``frames_per_s_<encoder>``: one forward + backward under bf16 autocast from a carried state on 32 lanes x
  16 s (1600 frames), best of 3 after a warm-up (the timing of ``bench_encoders_xlstm``, synchronised).
* ``memory_vs_context``: the ``memory`` row's LSTM + CTC training (``bench_memory_context``) on the GPU over
  1, 4 and 16 minutes of audio, stateful (16 s segments, state carried) and full-sequence (one step over
  the whole context): stateful must stay flat (longest / shortest context at most ``FLAT``) and
  full-sequence must need at least ``GROWS`` times stateful's peak at the longest context.
"""

from __future__ import annotations

from benchmarks.gpu_common import FRAMES_PER_SECOND, INPUT_DIM, Context, Skipped, verdict
from benchmarks.gpu_models import ENCODERS, FLA_ENCODERS

# ~30 M parameters each (counts in the report); xlstm's sLSTM compiles once more for this width
LARGE = {"lstm": {"hidden_dim": 1024, "num_layers": 3},
         "xlstm": {"hidden_dim": 768, "num_heads": 4, "pattern": "m,m,m,s,m,m,m,m"},
         "rwkv7": {"hidden_dim": 768, "num_layers": 4},
         "rwkv6": {"hidden_dim": 768, "num_layers": 3},
         "lucyrnn": {"hidden_dim": 1024, "num_layers": 4}}
FLAT, GROWS = 1.1, 2.0  # stateful peak longest/shortest context at most; full-sequence at least


def frames_per_s(encoder: str):
    def check(ctx: Context) -> dict:
        import torch

        import statecatcher
        from benchmarks.bench_encoders_xlstm import frames_per_second, parameter_count
        from benchmarks.gpu_models import encoder_options

        options = encoder_options(ctx)[encoder] if ctx.dry_run else LARGE[encoder]
        lanes, seconds, repeats = ctx.pick((2, 0.5, 1), (32, 16, 3))
        torch.manual_seed(0)
        model = statecatcher.get_encoder(encoder, INPUT_DIM, **options).to(ctx.device).train()
        feats = torch.randn(lanes, int(seconds * FRAMES_PER_SECOND), INPUT_DIM, device=ctx.device)
        with torch.autocast(ctx.device, dtype=torch.bfloat16):
            rate = frames_per_second(model, feats, repeats)
        peak = torch.cuda.max_memory_allocated() / 2**20 if ctx.cuda else None
        return {"frames_per_s": rate, "params": parameter_count(model), "lanes": lanes, "segment_seconds": seconds,
                "peak_mib": peak, "options": options}
    return check


def memory_vs_context(ctx: Context) -> dict:
    from benchmarks.bench_memory_context import FULL, SMALL, train_over_context

    sizes = (SMALL if ctx.dry_run else FULL).__dict__
    minutes = ctx.pick((0.25, 0.5), (1, 4, 16))
    stateful = {m: train_over_context(m * 60, sizes["segment_seconds"], sizes, ctx.device) for m in minutes}
    full = {m: train_over_context(m * 60, m * 60, sizes, ctx.device) for m in minutes}
    numbers = {"context_minutes": list(minutes), "stateful": list(stateful.values()),
               "full_sequence": list(full.values())}
    if not ctx.cuda:
        raise Skipped("peak GPU memory needs CUDA (the training loop ran on the CPU: "
                      f"{sum(r['segments'] for r in stateful.values())} stateful segments)")
    peak = lambda runs, m: runs[m]["peak_device_mib"]  # noqa: E731
    shortest, longest = minutes[0], minutes[-1]
    ratios = {"stateful_longest_over_shortest": peak(stateful, longest) / peak(stateful, shortest),
              "stateful_over_full_at_longest": peak(stateful, longest) / peak(full, longest)}
    return {**verdict(ratios, {"stateful_longest_over_shortest": FLAT, "stateful_over_full_at_longest": 1 / GROWS}),
            **numbers}

CHECKS = {**{f"frames_per_s_{name}": frames_per_s(name) for name in ENCODERS if name not in FLA_ENCODERS},
          "memory_vs_context": memory_vs_context,
          **{f"frames_per_s_{name}": frames_per_s(name) for name in FLA_ENCODERS}}  # autotuning fla: last
