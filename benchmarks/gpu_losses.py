"""Group ``losses``: the CUDA RNN-T backends against the PyTorch lattice, and the time of every loss backend.

* ``rnnt_<backend>_vs_torch``: NLL and its gradient with respect to the logits, warp-rnnt and torchaudio
  against the pure-PyTorch lattice (relative max difference), padded lanes included.
* ``loss_time``: one forward + backward of each loss module from the registry (CTC; RNN-T with each
  full-lattice backend that runs here, and pruned) on the same encoder output [32 lanes, 16 s = 400 output
  frames, 256] with 60 targets over 500 tokens: milliseconds and peak GPU memory.

warp-rnnt is built from its sdist while the earlier groups run (``gpu_install``); this group runs after the
build has finished or failed, and a backend that cannot run says why (``skipped``).
"""

from __future__ import annotations

import time

from benchmarks.gpu_common import Context, Skipped, relative_diff, synchronize, verdict

ENC_DIM = 256


def rnnt_backend(name: str):
    def check(ctx: Context) -> dict:
        import torch

        from statecatcher_rnnt import backends

        device = torch.device(ctx.device)
        reason = backends.unavailable(name, device)
        if reason:
            raise Skipped(reason)
        generator = torch.Generator().manual_seed(0)
        lanes, frames, tokens, vocab = ctx.pick((2, 12, 4, 8), (8, 100, 20, 64))
        logits = torch.randn(lanes, frames, tokens + 1, vocab, generator=generator).to(device)
        targets = torch.randint(1, vocab, (lanes, tokens), generator=generator).to(device)
        enc_lens = torch.tensor([frames] + [frames - 1 - lane for lane in range(1, lanes)], device=device)
        target_lens = torch.tensor([tokens] + [tokens - 1] * (lanes - 1), device=device)
        results = []
        for backend in ("torch", name):
            x = logits.clone().requires_grad_(True)
            nll = backends.resolve(backend, device)[1](x, targets, enc_lens, target_lens, 0)
            nll.sum().backward()
            results.append((nll.detach(), x.grad))
        (ref_nll, ref_grad), (nll, grad) = results
        numbers = {"nll": relative_diff(nll, ref_nll), "logits_grad": relative_diff(grad, ref_grad)}
        return {**verdict(numbers, dict.fromkeys(numbers, 1e-4)), "shape": [lanes, frames, tokens, vocab]}
    return check


def loss_variants(ctx: Context) -> dict[str, tuple[str, dict]]:
    """``{label: (registry name, options)}``: CTC, RNN-T per full-lattice backend that runs here, pruned."""
    import torch

    from statecatcher_rnnt import backends

    device = torch.device(ctx.device)
    sizes = {"pred_dim": 32, "joiner_dim": 32} if ctx.dry_run else {}
    rnnt = {f"rnnt {name}": ("rnnt", {**sizes, "backend": name}) for name in ("torch", "torchaudio", "warp")
            if backends.unavailable(name, device) is None}
    return {"ctc": ("ctc", {}), **rnnt, "rnnt pruned": ("rnnt", {**sizes, "pruned": True})}


def time_loss(ctx: Context, name: str, options: dict, shape: tuple[int, int, int, int]) -> dict:
    """Milliseconds (best of 3 after a warm-up) and peak device memory of one loss forward + backward."""
    import torch

    import statecatcher

    lanes, frames, tokens, vocab = shape
    torch.manual_seed(0)
    loss_fn = statecatcher.get_loss(name, input_dim=ENC_DIM, vocab_size=vocab, blank_id=0, **options).to(ctx.device)
    enc_out = torch.randn(lanes, frames, ENC_DIM, device=ctx.device, requires_grad=True)
    targets = torch.randint(1, vocab, (lanes, tokens), device=ctx.device)
    lengths, target_lens = (torch.full((lanes,), n, device=ctx.device) for n in (frames, tokens))
    best = float("inf")
    for repeat in range(4):
        if ctx.cuda:
            torch.cuda.reset_peak_memory_stats()
        synchronize(ctx)
        started = time.perf_counter()
        nll, _ = loss_fn(enc_out, lengths, targets, target_lens, loss_fn.init_state(lanes))
        nll.sum().backward()
        synchronize(ctx)
        if repeat:
            best = min(best, time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / 2**20 if ctx.cuda else None
    return {"ms": 1000 * best, "peak_mib": peak}


def loss_time(ctx: Context) -> dict:
    shape = ctx.pick((2, 40, 8, 50), (32, 400, 60, 500))
    rows = {label: time_loss(ctx, name, options, shape) for label, (name, options) in loss_variants(ctx).items()}
    for label, row in rows.items():
        print(f"gpu: loss_time {label}: {row['ms']:.1f} ms", flush=True)
    return {"shape_B_T_U_V": list(shape), "rows": rows}


CHECKS = {
    "rnnt_warp_vs_torch": rnnt_backend("warp"),
    "rnnt_torchaudio_vs_torch": rnnt_backend("torchaudio"),
    "loss_time": loss_time,
}
