"""Group ``equivalence``: every CUDA backend against the PyTorch path on the same weights and inputs.

* ``<encoder>_<kernel>_vs_<reference>``: the same encoder weights run by the CUDA kernel and by the PyTorch
  path, two chunks with the state carried and padded lanes: relative max differences of the outputs, the
  final state, the gradient with respect to the input and the parameter gradients.
* ``bf16_step_vs_fp32_<encoder>``: one encoder + CTC training step under bf16 autocast against float32:
  the loss's relative difference and the cosine of the two gradients.
* ``chunked_equals_whole_<encoder>``: random chunkings against one whole call, on the device.

In a dry run (``--dry-run``, CPU) each CUDA kernel is replaced by the PyTorch path (``stand_in`` in the
outcome): the comparison runs against itself, which tests the plumbing, not the kernel.
"""

from __future__ import annotations

import copy

from benchmarks.gpu_common import Context, Skipped, relative_diff, verdict
from benchmarks.gpu_models import ENCODERS, FLA_ENCODERS, build_encoder, copy_weights, random_batch, stream_two_chunks

KERNEL_LIMIT = 2e-2  # relative max difference, CUDA kernel vs PyTorch path in float32 (Triton may use tf32)
SAME_CODE_LIMIT = 1e-6  # a dry run's stand-in is the reference itself


def compare_encoders(ctx: Context, reference, candidate, stand_in: dict) -> dict:
    """Relative differences of :func:`stream_two_chunks` between ``candidate`` and ``reference``."""
    lanes, frames = ctx.pick((2, 48), (4, 800))
    feats, lengths = random_batch(ctx, lanes, frames)
    ref, cand = stream_two_chunks(reference, feats, lengths), stream_two_chunks(candidate, feats, lengths)
    numbers = {key: relative_diff(cand[key], ref[key]) for key in ref}
    limit = SAME_CODE_LIMIT if stand_in else KERNEL_LIMIT
    return {**verdict(numbers, dict.fromkeys(numbers, limit)), **stand_in, "lanes": lanes, "frames": frames}


def rwkv_kernel(version: int):
    def check(ctx: Context) -> dict:
        backend, stand_in = ctx.stand_in("fla", "torch")
        reference = build_encoder(f"rwkv{version}", ctx, backend="torch")
        candidate = copy.deepcopy(reference)
        candidate.backend = backend
        return compare_encoders(ctx, reference, candidate, stand_in)
    return check


def mlstm_triton(ctx: Context) -> dict:
    backend, stand_in = ctx.stand_in("triton", "native")
    # both mLSTM block kinds: the package's (q/k/v of one width) and the xLSTM-7B one (q/k at half v's width)
    reference = build_encoder("xlstm", ctx, pattern="m,l", backend="native")
    candidate = copy.deepcopy(reference)
    candidate.backend = backend
    return compare_encoders(ctx, reference, candidate, stand_in)


def slstm_cuda(ctx: Context) -> dict:
    backend, stand_in = ctx.stand_in("cuda", "vanilla")
    if ctx.cuda:
        from torch.utils.cpp_extension import CUDA_HOME

        if CUDA_HOME is None:
            raise Skipped("the xlstm package compiles its CUDA sLSTM kernel with nvcc, and this machine has no "
                          "CUDA toolkit (CUDA_HOME unset, no nvcc on PATH)")
    reference = build_encoder("xlstm", ctx, pattern="s", slstm_backend="vanilla")
    candidate = build_encoder("xlstm", ctx, seed=1, pattern="s", slstm_backend=backend)  # compiles on CUDA
    copy_weights(reference, candidate)
    return compare_encoders(ctx, reference, candidate, stand_in)


def bf16_step(encoder: str):
    def check(ctx: Context) -> dict:
        import torch

        from benchmarks.gpu_models import encoder_options
        from statecatcher.model import build_model

        torch.manual_seed(0)
        model = build_model(encoder=encoder, loss="ctc", vocab_size=32,
                            encoder_options=encoder_options(ctx)[encoder]).to(ctx.device).train()
        lanes, frames, tokens = ctx.pick((2, 64, 4), (8, 1600, 40))
        feats, lengths = random_batch(ctx, lanes, frames)
        targets = torch.randint(1, 32, (lanes, tokens), generator=torch.Generator().manual_seed(1)).to(ctx.device)
        target_lens = torch.full((lanes,), tokens, device=ctx.device)
        runs = []
        for autocast in (False, True):
            model.zero_grad(set_to_none=True)
            with torch.autocast(ctx.device, dtype=torch.bfloat16, enabled=autocast):
                loss, _, _ = model(feats, lengths, targets, target_lens, model.init_state(lanes))
            loss.float().sum().backward()
            grads = torch.cat([p.grad.float().flatten() for p in model.parameters() if p.grad is not None])
            runs.append((loss.detach().float().sum(), grads))
        (fp32_loss, fp32_grad), (bf16_loss, bf16_grad) = runs
        cosine = float(torch.nn.functional.cosine_similarity(fp32_grad, bf16_grad, dim=0))
        numbers = {"loss_rel_diff": relative_diff(bf16_loss, fp32_loss), "grad_cosine_distance": 1.0 - cosine,
                   "fp32_loss": float(fp32_loss), "bf16_loss": float(bf16_loss)}
        return verdict(numbers, {"loss_rel_diff": 3e-2, "grad_cosine_distance": 2e-2})
    return check


def chunked_whole(encoder: str):
    def check(ctx: Context) -> dict:
        import torch

        from statecatcher.state import max_abs_diff
        from statecatcher.testing._streams import random_chunking, run_chunked

        model = build_encoder(encoder, ctx).eval()
        lanes, frames = ctx.pick((3, 40), (4, 600))
        feats, lengths = random_batch(ctx, lanes, frames)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            whole, whole_state = run_chunked(model, feats, lengths, [frames], model.init_state(lanes))
            worst = {"outputs": 0.0, "state": 0.0}
            for max_chunk in (7, 64, frames // 3):
                chunking = random_chunking(frames, max_chunk, generator)
                outs, state = run_chunked(model, feats, lengths, chunking, model.init_state(lanes))
                lane_diffs = [relative_diff(out, ref) for out, ref in zip(outs, whole, strict=True)]
                worst["outputs"] = max(worst["outputs"], *lane_diffs)
                worst["state"] = max(worst["state"], max_abs_diff(state, whole_state))
        return verdict(worst, {"outputs": 1e-3, "state": 1e-3})
    return check


# xlstm after the plain encoders: on CUDA its first model compiles the sLSTM kernel (about a minute), which every
# later xlstm check and the training group reuse.  The fla-backed RWKV checks last: their first call on a fresh
# machine autotunes fla's kernels for minutes (gpu_models.FLA_ENCODERS); a group that runs out of time loses
# only what comes after the check that was running.
PLAIN = [name for name in ENCODERS if name not in ("xlstm", *FLA_ENCODERS)]
CHECKS = {
    "mlstm_triton_vs_native": mlstm_triton,
    **{f"bf16_step_vs_fp32_{name}": bf16_step(name) for name in PLAIN},
    **{f"chunked_equals_whole_{name}": chunked_whole(name) for name in PLAIN},
    "slstm_cuda_vs_vanilla": slstm_cuda,
    "bf16_step_vs_fp32_xlstm": bf16_step("xlstm"),
    "chunked_equals_whole_xlstm": chunked_whole("xlstm"),
    **{f"{name}_fla_vs_torch": rwkv_kernel(int(name.removeprefix("rwkv"))) for name in FLA_ENCODERS},
    **{f"bf16_step_vs_fp32_{name}": bf16_step(name) for name in FLA_ENCODERS},
    **{f"chunked_equals_whole_{name}": chunked_whole(name) for name in FLA_ENCODERS},
}
