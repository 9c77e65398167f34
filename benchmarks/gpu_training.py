"""Group ``training``: 200 stateful bf16 training steps of every encoder x loss on a synthetic corpus.

The corpus is learnable by construction: token ``k`` sounds like a fixed random 80-dim prototype held for
``frames_per_token`` frames, plus noise.  Each of the ``lanes`` streams a recording segment after segment;
the model's state (encoder and loss head) is carried and detached between steps, and a lane's state is
reset when its recording ends (every ``segments_per_recording`` steps, staggered over the lanes), as in the
real loop.  A check passes when every loss is finite and the last tenth of the losses averages below
``FALL_RATIO`` times the first tenth.
"""

from __future__ import annotations

import math
import time

from benchmarks.gpu_common import INPUT_DIM, Context, synchronize
from benchmarks.gpu_models import ENCODERS, encoder_options

LOSSES = ("ctc", "rnnt")
VOCAB = 24
FALL_RATIO = 0.8


def sizes(ctx: Context) -> dict:
    return ctx.pick({"steps": 20, "lanes": 2, "tokens": 4, "frames_per_token": 12, "segments_per_recording": 5},
                    {"steps": 200, "lanes": 16, "tokens": 20, "frames_per_token": 16, "segments_per_recording": 10})


def synthetic_segment(prototypes, lanes: int, tokens: int, frames_per_token: int, generator):
    """One step's batch: ``(feats [B, tokens * frames_per_token, 80], targets [B, tokens])`` on the CPU."""
    import torch

    targets = torch.randint(1, VOCAB, (lanes, tokens), generator=generator)
    feats = prototypes[targets].repeat_interleave(frames_per_token, dim=1)
    return feats + 0.3 * torch.randn(feats.shape, generator=generator), targets


def loss_options(ctx: Context, loss: str) -> dict:
    return {"pred_dim": 32, "joiner_dim": 32} if loss == "rnnt" and ctx.dry_run else {}


def train(ctx: Context, encoder: str, loss: str) -> dict:
    """Train ``encoder`` + ``loss`` for ``sizes(ctx)["steps"]`` steps under bf16 autocast; the losses."""
    import torch

    from statecatcher.model import build_model
    from statecatcher.state import cast_like, detach, reset_lanes

    s = sizes(ctx)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    prototypes = 2.0 * torch.randn(VOCAB, INPUT_DIM, generator=generator)
    model = build_model(encoder=encoder, loss=loss, vocab_size=VOCAB, encoder_options=encoder_options(ctx)[encoder],
                        loss_options=loss_options(ctx, loss)).to(ctx.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    lanes = s["lanes"]
    fresh = model.init_state(lanes)
    state = fresh
    lengths = torch.full((lanes,), s["tokens"] * s["frames_per_token"], device=ctx.device)
    target_lens = torch.full((lanes,), s["tokens"], device=ctx.device)
    losses = []
    synchronize(ctx)
    started = time.perf_counter()
    for step in range(s["steps"]):
        reset = (torch.arange(lanes) + step) % s["segments_per_recording"] == 0
        state = reset_lanes(state, reset.to(ctx.device), fresh)
        feats, targets = synthetic_segment(prototypes, lanes, s["tokens"], s["frames_per_token"], generator)
        with torch.autocast(ctx.device, dtype=torch.bfloat16):
            per_lane, _, state = model(feats.to(ctx.device, non_blocking=True), lengths,
                                       targets.to(ctx.device, non_blocking=True), target_lens, state)
        state = cast_like(state, fresh)  # as the training loop does: autocast returns bf16 leaves
        step_loss = per_lane.float().sum() / target_lens.sum()
        step_loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state = detach(state)
        losses.append(step_loss.detach())
    synchronize(ctx)
    seconds = time.perf_counter() - started
    backend = getattr(model.head, "backend_name", "")
    return {"losses": [float(x) for x in torch.stack(losses).cpu()], "steps_per_s": s["steps"] / seconds,
            **({"loss_backend": backend} if backend else {})}


def training_check(encoder: str, loss: str):
    def check(ctx: Context) -> dict:
        result = train(ctx, encoder, loss)
        losses = result["losses"]
        tenth = max(1, len(losses) // 10)
        first, last = sum(losses[:tenth]) / tenth, sum(losses[-tenth:]) / tenth
        finite = all(math.isfinite(x) for x in losses)
        reasons = ([] if finite else ["a loss is not finite"]) + (
            [] if last < FALL_RATIO * first else [f"loss did not fall: last tenth {last:.3g} vs first {first:.3g}"])
        return {"status": "fail" if reasons else "pass", **({"reason": "; ".join(reasons)} if reasons else {}),
                "first_tenth": first, "last_tenth": last, **result,
                "losses": losses[:: max(1, len(losses) // 20)]}  # every 10th step at full size
    return check


CHECKS = {f"train_{encoder}_{loss}": training_check(encoder, loss) for encoder in ENCODERS for loss in LOSSES}
