"""The recurrent kernels alone, forward + backward on CPU, at the shapes the ``encoders`` row runs them.

    python benchmarks/bench_kernels.py [--small]

* RWKV WKV (``statecatcher_rwkv.wkv7`` / ``wkv6``): ``chunkwise`` at several ``chunk_len`` against
  ``recurrent``, on ``B=8`` lanes x ``T=250`` frames (10 s after 4x subsampling) x 8 heads of 32, with
  RWKV-7's decay range (per-frame log decay in ``[-0.607, 0)``).
* sLSTM (``statecatcher_xlstm.slstm_loop``): the plugin's loop against the ``xlstm`` package's vanilla loop
  with the same step, ``S=250`` frames x ``B=8`` x 4 heads of 64.

One torch thread, best of ``repeats`` (5; the same for every form compared) after a warm-up; the loss reads
the outputs and the final state.  Part of the ``encoders`` row (``benchmarks/bench_encoders.py``), where the
whole encoders are timed too.
"""

from __future__ import annotations

import argparse
import time

CHUNK_LENS = (16, 32, 64)


def best_seconds(step, repeats: int) -> float:
    """Best wall time of ``step()`` over ``repeats`` runs after one warm-up run."""
    best = float("inf")
    for run in range(repeats + 1):
        start = time.perf_counter()
        step()
        if run:
            best = min(best, time.perf_counter() - start)
    return best


def wkv_inputs(version: int, batch: int, frames: int, heads: int = 8, size: int = 32):
    """Leaf tensors ``(r, k, v, log_w, u)`` (RWKV-6) or ``(r, k, v, log_w, a, b)`` (RWKV-7), float32."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    rand = lambda: torch.randn(batch, frames, heads, size, generator=g)  # noqa: E731
    r, k, v = rand(), rand(), rand()
    log_w = -torch.exp(rand() - 2.5).clamp(max=0.6065)          # RWKV-7's range: decay > exp(-exp(-0.5))
    if version == 6:
        extra = (torch.randn(heads, size, generator=g),)
    else:
        removal = F.normalize(rand(), dim=-1)
        extra = (-removal, removal * torch.rand(batch, frames, heads, size, generator=g))
    return [x.requires_grad_() for x in (r, k, v, log_w, *extra)]


def time_wkv(form, inputs, repeats: int) -> float:
    """Seconds of one forward + backward of ``form(*inputs, zero state)``."""
    import torch

    batch, _, heads, size = inputs[0].shape

    def step():
        out, state = form(*inputs, torch.zeros(batch, heads, size, size))
        (out.pow(2).mean() + state.pow(2).mean()).backward()

    return best_seconds(step, repeats)


def bench_wkv(version: int, batch: int, frames: int, repeats: int) -> dict:
    """``{"recurrent": s, "chunkwise": {chunk_len: s}}`` for one RWKV version."""
    import functools

    from statecatcher_rwkv import wkv6, wkv7

    module = {6: wkv6, 7: wkv7}[version]
    inputs = wkv_inputs(version, batch, frames)
    chunked = {chunk_len: time_wkv(functools.partial(module.chunkwise, chunk_len=chunk_len), inputs, repeats)
               for chunk_len in CHUNK_LENS}
    return {"recurrent": time_wkv(module.recurrent, inputs, repeats), "chunkwise": chunked}


def bench_slstm_loop(batch: int, frames: int, repeats: int, heads: int = 4, size: int = 64) -> dict:
    """Seconds of forward + backward of the plugin's sLSTM loop and of the package's, same step."""
    import torch
    from xlstm.blocks.slstm.src.vanilla import slstm_forward

    from statecatcher_xlstm.blocks import slstm_pointwise_lane_local
    from statecatcher_xlstm.slstm_loop import slstm_sequence

    g = torch.Generator().manual_seed(0)
    gates = torch.randn(frames, batch, 4 * heads * size, generator=g).requires_grad_()
    kernel = (torch.randn(heads, 4 * size, size, generator=g) / size ** 0.5).requires_grad_()
    bias = torch.randn(4 * heads * size, generator=g).requires_grad_()
    start = torch.zeros(4, batch, heads * size)
    package = lambda *a: slstm_forward(*a, slstm_pointwise_lane_local)[0]  # noqa: E731
    seconds = {}
    for label, loop in (("plugin", slstm_sequence), ("package", package)):
        seconds[label] = best_seconds(lambda loop=loop: loop(gates, start, kernel, bias)[0].pow(2).mean().backward(),
                                      repeats)
    return seconds


def run(small: bool = False) -> list[dict]:
    """Results: each RWKV version's best chunkwise over recurrent, and the sLSTM loop's speed-up."""
    import torch

    torch.set_num_threads(1)
    batch, frames, repeats = (2, 25, 1) if small else (8, 250, 5)
    results = []
    for version in (7, 6):
        seconds = bench_wkv(version, batch, frames, repeats)
        best_len = min(seconds["chunkwise"], key=seconds["chunkwise"].get)
        sweep = ", ".join(f"{n}: {s * 1e3:.0f} ms" for n, s in seconds["chunkwise"].items())
        print(f"kernels, wkv{version} fwd+bwd: recurrent {seconds['recurrent'] * 1e3:.0f} ms, chunkwise {sweep}",
              flush=True)
        results.append({"name": f"rwkv{version} WKV kernel chunkwise / recurrent",
                        "ratio": seconds["recurrent"] / seconds["chunkwise"][best_len],
                        "description": f"fwd+bwd, B={batch} x T={frames} x 8 heads of 32, 1 thread: recurrent "
                                      f"{seconds['recurrent'] * 1e3:.0f} ms; chunkwise by chunk_len {sweep}",
                        "best_chunk_len": best_len})
    loop = bench_slstm_loop(batch, frames, repeats)
    print(f"kernels, sLSTM loop fwd+bwd: plugin {loop['plugin'] * 1e3:.0f} ms, package {loop['package'] * 1e3:.0f} ms",
          flush=True)
    results.append({"name": "sLSTM loop: package / plugin (speed-up)", "ratio": loop["package"] / loop["plugin"],
                    "description": f"fwd+bwd, S={frames} x B={batch} x 4 heads of 64, 1 thread: package vanilla "
                                  f"loop {loop['package'] * 1e3:.0f} ms vs plugin loop {loop['plugin'] * 1e3:.0f} ms"})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny shapes, for a smoke test")
    args, _ = parser.parse_known_args()
    run(args.small)


if __name__ == "__main__":
    main()
