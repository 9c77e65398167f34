"""The stateful training loop, top to bottom.

Usage::

    statecatcher run --encoder lstm --loss ctc --data local:corpus/ --run-dir runs/demo --max-steps 300
    torchrun --nproc_per_node=2 -m statecatcher run --encoder xlstm --data speechcatcher:http://host:6000
    statecatcher run --nproc 2 ...          # the same, torchrun started for you (docs/distributed.md)

One step (see DESIGN.md): reset the lanes that start a recording; forward the next segment of every lane
with the carried state; weight the per-lane loss (0 for inactive or filtered lanes); backward; clip; step;
detach the state (every ``tbptt_segments`` segments).  A killed run resumes from ``RUN_DIR/checkpoints/``
with the same lanes, segments, states and RNG streams, so the losses continue exactly.  With several ranks
(train/distributed.py) each rank streams its own shard into its own lanes, the ranks step in lockstep and
the loss is normalised by the token count of all ranks, so the gradient is that of one process holding
every rank's lanes; rank 0 logs and writes checkpoints holding every rank's lanes and states.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.features import FeatureConfig
from ..data.lanes import LaneBatcher
from ..data.segmenter import SegmenterConfig
from ..decode.pack import tokenizer_payload
from ..filters import FilterStage
from ..jsonl import drop_rows_after
from ..model import build_model
from ..options import check_plugin_options
from ..plugins import get
from ..state import cast_like, detach, reset_lanes, state_norms, to_device
from ..text import TextNormalizer
from .checkpoint import find_checkpoint, load_checkpoint, resume_message, rng_state, save_checkpoint, set_rng_state
from .config import RunConfig
from .distributed import RankLog, init_world
from .guards import NonFiniteGuard, check_epoch_trained, check_finite_weights, check_reached_end
from .schedule import make_scheduler
from .skips import SkipLog
from .tokens import encode_batch, prepare_tokenizer


@dataclass
class TrainSummary:
    steps: int = 0
    optimizer_steps: int = 0
    epochs_done: int = 0
    audio_seconds: float = 0.0
    nan_skips: int = 0
    losses: list[float] = field(default_factory=list)  # per step, weighted per-token loss
    wall_seconds: float = 0.0
    data_wait_seconds: float = 0.0
    run_dir: str = ""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_context(device: torch.device, precision: str):
    """bf16 autocast on CUDA for ``precision`` ``auto`` or ``bf16``; none otherwise (the CPU trains in float32)."""
    if device.type == "cuda" and precision in ("auto", "bf16"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(config: RunConfig, *, trackers: list[Any] | None = None) -> TrainSummary:
    t_start = time.perf_counter()
    # ------------------------------------------------------------------ setup
    config.validate()
    check_plugin_options(config)  # before any data is touched: misspelt plugin options name the plugin
    world = init_world(pick_device(config.device))  # under torchrun: this process's rank (docs/distributed.md)
    device = world.device
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if world.is_main:
        config.save_toml(run_dir / "config.toml")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    features = FeatureConfig()
    normalizer = TextNormalizer(lowercase=config.lowercase, strip_punctuation=config.strip_punctuation)
    data_name, _, data_spec = config.data.partition(":")
    with world.main_first(per_node=True):  # one rank per machine first: it may fill a cache the others read
        source = get("data_source", data_name).create(data_spec, seed=config.seed, **config.data_options)

    # ------------------------------------------------------------------ tokenizer and model
    with world.main_first():  # rank 0 trains the tokenizer into the run dir, the others load it
        tokenizer = prepare_tokenizer(config, source, normalizer, run_dir / "tokenizer")
    model = build_model(encoder=config.encoder, loss=config.loss, vocab_size=tokenizer.vocab_size,
                        blank_id=tokenizer.blank_id, encoder_options=config.encoder_options,
                        loss_options=config.loss_options).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_optimizer_steps = max(1, (config.max_steps or estimate_steps(config, source, world.size))
                                // config.accumulate_segments)
    scheduler = make_scheduler(optimizer, schedule=config.schedule, warmup_steps=config.warmup_steps,
                               total_steps=total_optimizer_steps)
    autocast = autocast_context(device, config.precision)

    # ------------------------------------------------------------------ resume
    summary = TrainSummary(run_dir=str(run_dir))
    state = model.init_state(config.batch_size, device)
    fresh_state = model.init_state(config.batch_size, device)  # what a reset lane starts from; never mutated
    epoch, batcher_state = 0, None
    checkpoint_path = find_checkpoint(run_dir)
    if checkpoint_path is not None:
        ckpt = load_checkpoint(checkpoint_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        own = world.resume_entry(ckpt["ranks"], source, batch_size=config.batch_size)  # re-shards if W changed
        set_rng_state(own["rng"])
        state = state if own["state"] is None else own["state"]
        epoch, batcher_state = ckpt["epoch"], own["lanes"]
        for key in ("steps", "optimizer_steps", "audio_seconds", "nan_skips"):
            setattr(summary, key, ckpt["summary"][key])
        if world.is_main:
            print(resume_message(run_dir, checkpoint_path, epoch=epoch, step=summary.steps), file=sys.stderr)

    if world.is_main:  # a killed run logged steps past its last checkpoint (all of them, killed before the first)
        drop_rows_after(run_dir / "metrics.jsonl", summary.steps)
    trackers = trackers if trackers is not None else make_trackers(config, run_dir) if world.is_main else []
    rank_log = RankLog(run_dir, world.rank) if config.rank_log else None
    filters = FilterStage.from_config(config.label_filters, config.filter_options, dry_run=config.filter_dry_run,
                                      run_dir=run_dir, rank=world.rank)  # hallucination detectors; none by default
    if checkpoint_path is not None:
        if own.get("filters") is not None:  # running references; the batcher's snapshot refines the pipeline's
            filters.load_state_dict(own["filters"])
    filters.resume_report(summary.steps)
    skip_log = SkipLog(run_dir, world.rank, resume_step=summary.steps)  # RUN_DIR/skipped.jsonl
    guard = NonFiniteGuard(config.max_nan_skips)  # non-finite loss or gradient: skip the step, keep the weights
    params = {**config.to_dict(), "total_steps": config.max_steps or None,
              "parameters": sum(p.numel() for p in model.parameters()), "device": str(device),
              "world_size": world.size, "resumed_from": str(checkpoint_path) if checkpoint_path else None}
    for tracker in trackers:
        tracker.log_params(params)

    def checkpoint(lanes_state: dict | None) -> None:
        # every rank's lanes, carried states, RNG streams and filter references; rank 0 writes them all
        check_finite_weights(model.state_dict(), summary.steps)  # never a checkpoint with NaN/inf weights
        ranks = world.gather({"lanes": lanes_state, "state": to_device(detach(state), "cpu"), "rng": rng_state(),
                              "filters": filters.state_dict()})
        if not world.is_main:
            return
        save_checkpoint(run_dir / "checkpoints", summary.steps, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": epoch, "world_size": world.size, "ranks": ranks,
            "config": config.to_dict(), "summary": vars(summary).copy() | {"losses": []},
            "tokenizer": tokenizer_payload(config.tokenizer, config.tokenizer_options, run_dir / "tokenizer"),
            "normalizer": normalizer.to_dict(), "features": dataclasses.asdict(features),
            "vocab_size": tokenizer.vocab_size, "blank_id": tokenizer.blank_id,
        }, keep=config.keep_checkpoints)

    # ------------------------------------------------------------------ the loop
    model.train()
    forward = world.wrap(model)  # DistributedDataParallel over the ranks, or the model itself
    window: list[float] = []
    pending_loss: torch.Tensor | None = None
    t_window, wait_window = time.perf_counter(), 0.0
    audio_window, frames_window = summary.audio_seconds, 0  # throughput: audio seconds (all ranks), frames (this rank)
    done = False
    try:
        while epoch < config.epochs and not done:
            batcher = LaneBatcher(
                source, split=config.split, batch_size=config.batch_size, epoch=epoch,
                rank=world.rank, world_size=world.size,  # this rank's shard of the recordings
                segmenter=SegmenterConfig(segment_seconds=config.segment_seconds,
                                          min_seconds=config.min_segment_seconds,
                                          max_seconds=config.max_segment_seconds,
                                          overlong=config.overlong_segments),
                features=features, normalizer=normalizer, num_workers=config.num_workers,
                label_filter=filters.text_filter)
            wait_window = 0.0  # the new batcher's wait counter starts at zero
            epoch_steps, resumed = 0, batcher_state is not None
            if batcher_state is not None:
                batcher.load_state_dict(batcher_state)
                batcher_state = None
            with batcher:
                # every rank takes the same steps; one whose shard is done meanwhile gets all-inactive batches
                for batch in world.lockstep(batcher, batch_size=config.batch_size, feature_dim=features.num_mel_bins):
                    batch = batch.to(device)
                    epoch_steps += 1
                    # -- lanes that start a new recording (or every lane, for the stateless baseline)
                    reset = torch.ones_like(batch.reset) if config.stateless else batch.reset
                    state = reset_lanes(state, reset, fresh_state)
                    pre_step_state = detach(state)  # what a skipped step keeps
                    # -- forward with the carried state; per-token loss over the weighted lanes
                    targets, target_lens = encode_batch(tokenizer, batch.texts, device)
                    with autocast:
                        per_lane, _, new_state = forward(batch.feats, batch.lengths, targets, target_lens, state)
                    new_state = cast_like(new_state, fresh_state)  # autocast returns bf16 leaves: carry float32
                    weight = batch.weight.to(per_lane.dtype)
                    # -- label filters: a rejected segment keeps its forward (state) but gets weight 0
                    weight = filters.update(batch, per_lane, target_lens, weight, step=summary.steps + 1)
                    tokens = (target_lens.to(per_lane.dtype) * weight).sum()
                    lane_loss = (per_lane.float() * weight).sum()
                    # -- summed over every rank's lanes; DDP averages the ranks' gradients, hence * world.size
                    tokens, total_loss, audio_seconds = world.all_sum(
                        tokens, lane_loss, torch.tensor(batch.audio_seconds, dtype=torch.float64))
                    tokens = tokens.clamp(min=1.0)
                    loss = lane_loss * world.size / tokens
                    summary.steps += 1
                    skip_log.record(batcher.take_skips(), step=summary.steps, epoch=epoch)
                    if not guard.loss_is_finite(total_loss, summary.steps):  # the same verdict on every rank
                        summary.nan_skips += 1          # skip the step, keep the previous state
                        pending_loss = None
                        optimizer.zero_grad(set_to_none=True)
                        state = detach(state)
                    else:
                        state = new_state
                        pending_loss = loss if pending_loss is None else pending_loss + loss
                        summary.losses.append(float(total_loss / tokens))
                        window.append(summary.losses[-1])
                    # -- backward every tbptt_segments; optimizer step every accumulate_segments
                    if pending_loss is not None and summary.steps % config.tbptt_segments == 0:
                        if pending_loss.requires_grad:
                            (pending_loss / config.accumulate_segments).backward()
                        pending_loss = None
                        state = detach(state)
                    if summary.steps % config.accumulate_segments == 0:
                        if guard.gradients_are_finite(model.parameters(), config.grad_clip, summary.steps):
                            optimizer.step()
                            scheduler.step()
                            summary.optimizer_steps += 1
                        else:  # a non-finite gradient norm (same on every rank): keep the weights and the state
                            summary.nan_skips += guard.window_skipped
                            state = pre_step_state
                        optimizer.zero_grad(set_to_none=True)
                    summary.audio_seconds += float(audio_seconds)
                    frames_window += batch.feats.shape[0] * batch.feats.shape[1]  # [B, T] input frames, padding too
                    if rank_log:
                        rank_log.write(summary.steps, epoch, batch, model)
                    # -- log, checkpoint
                    if summary.steps % config.log_every == 0:
                        stats = batcher.stats()
                        now = time.perf_counter()
                        wait = stats["wait_seconds"] - wait_window
                        metrics = {
                            **({"loss": sum(window) / len(window)} if window else {}),  # none if all skipped
                            "lr": scheduler.get_last_lr()[0], "skipped_recordings": skip_log.total,
                            "audio_hours": summary.audio_seconds / 3600, "epoch": epoch,
                            "steps_per_s": config.log_every / max(1e-9, now - t_window),
                            "data_wait_pct": 100.0 * wait / max(1e-9, now - t_window),
                            "audio_seconds_per_s": (summary.audio_seconds - audio_window) / max(1e-9, now - t_window),
                            "frames_per_s": frames_window / max(1e-9, now - t_window),
                            "nan_skips": summary.nan_skips, **filters.metrics(),
                            **{f"state_norm/{k}": v for k, v in state_norms(state).items()},
                        }
                        for tracker in trackers:
                            tracker.log_metrics(summary.steps, metrics)
                        window, t_window, wait_window = [], now, stats["wait_seconds"]
                        audio_window, frames_window = summary.audio_seconds, 0
                    if summary.steps % config.checkpoint_every == 0 and pending_loss is None:
                        checkpoint(batcher.state_dict())
                    if config.max_steps and summary.steps >= config.max_steps:
                        done = True
                        break
                summary.data_wait_seconds += batcher.stats()["wait_seconds"]
                final_lanes = batcher.state_dict()
            skip_log.record(batcher.take_skips(), step=summary.steps + 1, epoch=epoch)
            if epoch_steps == 0 and not resumed:  # nothing could be loaded: an error, never a finished epoch
                if summary.steps:
                    checkpoint(None)  # resumes at the start of this epoch
                check_epoch_trained(epoch, epoch_steps, skip_log.epoch_skips, data=config.data, split=config.split)
            skip_log.end_epoch(epoch, epoch_steps, world.size)
            if not done:
                epoch += 1
                summary.epochs_done += 1
                state = model.init_state(config.batch_size, device)
        checkpoint(final_lanes if done else None)
        check_reached_end(summary.steps, max_steps=config.max_steps, epochs=config.epochs)
    finally:
        filters.close()
        skip_log.close()
        for tracker in trackers:
            tracker.close()
        if rank_log:
            rank_log.close()
    world.close()
    summary.wall_seconds = time.perf_counter() - t_start
    return summary


def make_trackers(config: RunConfig, run_dir: Path) -> list[Any]:
    return [get("tracker", name).create(run_dir, **config.tracker_options.get(name, {}))
            for name in config.trackers]


def estimate_steps(config: RunConfig, source: Any, world_size: int = 1) -> int:
    """A rough step count for the LR schedule: audio duration / segment length / lanes (of all ranks), times
    epochs."""
    seconds = sum(rec.duration for rec in source.recordings(config.split))
    return max(1, math.ceil(seconds / config.segment_seconds / (config.batch_size * world_size)) * config.epochs)
