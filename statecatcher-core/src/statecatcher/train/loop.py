"""The stateful training loop, top to bottom.

Usage::

    statecatcher run --preset cpu-demo --data local:corpus/ --run-dir runs/demo --max-steps 3000
    statecatcher run --encoder lstm --loss ctc --data local:corpus/ --run-dir runs/demo --max-steps 300
    torchrun --nproc_per_node=2 -m statecatcher run --encoder xlstm --data speechcatcher:http://host:6000
    statecatcher run --nproc 2 ...          # the same, torchrun started for you (docs/distributed.md)

One step (see DESIGN.md and train/step.py): reset the lanes that start a recording; forward the next segment
of every lane with the carried state (features normalised by the training split's statistics, SpecAugment
masks when on); weight the per-lane loss (0 for inactive or filtered lanes); backward; clip; step; detach
the state (every ``tbptt_segments`` segments).  Every ``eval_every`` steps the dev split is decoded with
carried state and the best model is kept as ``checkpoints/best.pt``.  A killed run resumes from
``RUN_DIR/checkpoints/`` with the same lanes, segments, states and RNG streams, so the losses continue
exactly.  With several ranks (train/distributed.py) each rank streams its own shard into its own lanes, the
ranks step in lockstep and the loss is normalised by the token count of all ranks, so the gradient is that
of one process holding every rank's lanes; rank 0 logs, validates and writes the checkpoints.
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
from ..decode.pack import tokenizer_payload
from ..filters import FilterStage
from ..jsonl import drop_rows_after
from ..model import build_model
from ..options import check_plugin_options
from ..plugins import get
from ..state import state_norms
from ..text import TextNormalizer
from .checkpoint import TrainingCheckpoint, resume_message
from .config import RunConfig
from .distributed import RankLog, init_world
from .feature_stats import apply_stats, load_or_estimate
from .guards import NonFiniteGuard, RunStopped, check_epoch_trained, check_reached_end
from .meter import ThroughputMeter
from .optim import make_optimizer
from .schedule import make_scheduler
from .skips import SkipLog
from .step import TbpttStep
from .tokens import prepare_tokenizer
from .validation import Validator, dev_metrics


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
    stopped_early: bool = False                   # early stopping on the dev WER
    best_dev: dict[str, float] | None = None      # {"step", "wer", "cer"} of checkpoints/best.pt


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
    device, run_dir = world.device, Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if world.is_main:
        config.save_toml(run_dir / "config.toml")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    features = FeatureConfig(kind=config.frontend)
    normalizer = TextNormalizer(lowercase=config.lowercase, strip_punctuation=config.strip_punctuation)
    data_name, _, data_spec = config.data.partition(":")
    with world.main_first(per_node=True):  # one rank per machine first: it may fill a cache the others read
        source = get("data_source", data_name).create(data_spec, seed=config.seed, **config.data_options)

    # ------------------------------------------------------------------ tokenizer, model, optimiser
    with world.main_first():  # rank 0 trains the tokenizer and estimates the feature statistics first
        tokenizer = prepare_tokenizer(config, source, normalizer, run_dir / "tokenizer")
        model = build_model(encoder=config.encoder, loss=config.loss, vocab_size=tokenizer.vocab_size,
                            blank_id=tokenizer.blank_id, encoder_options=config.encoder_options,
                            loss_options=config.loss_options, input_dim=features.dim).to(device)
        if config.feature_norm:
            apply_stats(model, load_or_estimate(run_dir, source, config.split, features, seed=config.seed,
                                                max_seconds=config.feature_stats_seconds))
    model.augment = config.spec_augment_config()  # SpecAugment in train mode only
    optimizer = make_optimizer(config.optimizer, model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total_optimizer_steps = max(1, (config.max_steps or estimate_steps(config, source, world.size))
                                // config.accumulate_segments)
    scheduler = make_scheduler(optimizer, schedule=config.schedule, warmup_steps=config.warmup_steps,
                               total_steps=total_optimizer_steps)

    # ------------------------------------------------------------------ resume
    checkpoints = TrainingCheckpoint(run_dir, model=model, optimizer=optimizer, scheduler=scheduler, world=world,
                                     keep=config.keep_checkpoints, pack={
        "config": config.to_dict(), "normalizer": normalizer.to_dict(), "features": dataclasses.asdict(features),
        "tokenizer": tokenizer_payload(config.tokenizer, config.tokenizer_options, run_dir / "tokenizer"),
        "vocab_size": tokenizer.vocab_size, "blank_id": tokenizer.blank_id})
    summary = TrainSummary(run_dir=str(run_dir))
    resumed = checkpoints.restore(source, summary, batch_size=config.batch_size, device=device)
    state = model.init_state(config.batch_size, device)
    if resumed is not None and resumed.state is not None:
        state = resumed.state
    epoch, lanes_state = (resumed.epoch, resumed.lanes) if resumed else (0, None)
    if resumed is not None and world.is_main:
        print(resume_message(run_dir, resumed.path, epoch=epoch, step=summary.steps), file=sys.stderr)
    if world.is_main:  # a killed run logged steps past its last checkpoint (all of them, killed before the first)
        drop_rows_after(run_dir / "metrics.jsonl", summary.steps)
    trackers = trackers if trackers is not None else make_trackers(config, run_dir) if world.is_main else []
    rank_log = RankLog(run_dir, world.rank) if config.rank_log else None
    filters = FilterStage.from_config(config.label_filters, config.filter_options, dry_run=config.filter_dry_run,
                                      run_dir=run_dir, rank=world.rank)  # hallucination detectors; none by default
    if resumed is not None and resumed.filters is not None:  # running references; refined by the batcher's
        filters.load_state_dict(resumed.filters)
    filters.resume_report(summary.steps)
    skip_log = SkipLog(run_dir, world.rank, resume_step=summary.steps)  # RUN_DIR/skipped.jsonl
    validator = make_validator(config, source, tokenizer, normalizer, features, device) if world.is_main else None
    if validator is not None and resumed is not None:
        validator.load_state_dict(resumed.validation)
    params = {**config.to_dict(), "total_steps": config.max_steps or None,
              "parameters": sum(p.numel() for p in model.parameters()), "device": str(device),
              "world_size": world.size, "resumed_from": str(resumed.path) if resumed else None}
    for tracker in trackers:
        tracker.log_params(params)
    autocast = autocast_context(device, config.precision)
    step = TbpttStep(forward=world.wrap(model), model=model, optimizer=optimizer, scheduler=scheduler,
                     world=world, filters=filters, tokenizer=tokenizer, config=config, autocast=autocast,
                     fresh_state=model.init_state(config.batch_size, device),
                     guard=NonFiniteGuard(config.max_nan_skips))  # non-finite loss or gradient: skip, keep weights

    # ------------------------------------------------------------------ the loop
    model.train()
    meter = ThroughputMeter(summary.audio_seconds)
    done = False
    try:
        while epoch < config.epochs and not done:
            batcher = LaneBatcher(
                source, split=config.split, batch_size=config.batch_size, epoch=epoch,
                rank=world.rank, world_size=world.size,  # this rank's shard of the recordings
                segmenter=config.segmenter(), features=features, normalizer=normalizer,
                num_workers=config.num_workers, label_filter=filters.text_filter)
            meter.restart_wait()  # the new batcher's wait counter starts at zero
            epoch_steps, resumed_epoch = 0, lanes_state is not None
            if lanes_state is not None:
                batcher.load_state_dict(lanes_state)
                lanes_state = None
            with batcher:
                # every rank takes the same steps; one whose shard is done meanwhile gets all-inactive batches
                for batch in world.lockstep(batcher, batch_size=config.batch_size, feature_dim=features.dim):
                    batch = batch.to(device)
                    result = step(batch, state, summary)
                    state, epoch_steps = result.state, epoch_steps + 1
                    skip_log.record(batcher.take_skips(), step=summary.steps, epoch=epoch)
                    summary.audio_seconds += result.audio_seconds
                    if result.loss is not None:
                        summary.losses.append(result.loss)
                    meter.add(result.loss, batch.feats.shape[0] * batch.feats.shape[1])
                    if rank_log:
                        rank_log.write(summary.steps, epoch, batch, model)
                    # -- log, validate, checkpoint
                    if summary.steps % config.log_every == 0:
                        metrics = meter.metrics(audio_seconds=summary.audio_seconds,
                                                wait_seconds=batcher.stats()["wait_seconds"])
                        log_metrics(trackers, summary, metrics | {
                            "lr": scheduler.get_last_lr()[0], "skipped_recordings": skip_log.total,
                            "audio_hours": summary.audio_seconds / 3600,
                            "epoch": epoch, "nan_skips": summary.nan_skips, **filters.metrics(),
                            **{f"state_norm/{k}": v for k, v in state_norms(state).items()}})
                    if config.eval_every and summary.steps % config.eval_every == 0:
                        done = validate(validator, model, checkpoints, trackers, summary, world)
                    if summary.steps % config.checkpoint_every == 0 and step.can_checkpoint:
                        checkpoints.save(summary=summary, epoch=epoch, lanes=batcher.state_dict(), state=state,
                                         filters=filters, validation=validator and validator.state_dict())
                    if done or (config.max_steps and summary.steps >= config.max_steps):
                        done = True
                        break
                summary.data_wait_seconds += batcher.stats()["wait_seconds"]
                final_lanes = batcher.state_dict()
            skip_log.record(batcher.take_skips(), step=summary.steps + 1, epoch=epoch)
            if epoch_steps == 0 and not resumed_epoch:  # nothing could be loaded: an error, never a finished epoch
                if summary.steps:  # resumes at the start of this epoch
                    checkpoints.save(summary=summary, epoch=epoch, lanes=None, state=state, filters=filters,
                                     validation=validator and validator.state_dict())
                check_epoch_trained(epoch, epoch_steps, skip_log.epoch_skips, data=config.data, split=config.split)
            skip_log.end_epoch(epoch, epoch_steps, world.size)
            if not done:
                epoch += 1
                summary.epochs_done += 1
                state = model.init_state(config.batch_size, device)
        checkpoints.save(summary=summary, epoch=epoch, lanes=final_lanes if done else None, state=state,
                         filters=filters, validation=validator and validator.state_dict())
        if not summary.stopped_early:
            check_reached_end(summary.steps, max_steps=config.max_steps, epochs=config.epochs)
    except RunStopped:  # the last metrics row says where and how the run stopped
        log_metrics(trackers, summary, {"nan_skips": summary.nan_skips, "skipped_recordings": skip_log.total})
        raise
    finally:
        filters.close()
        skip_log.close()
        for tracker in trackers:
            tracker.close()
        if rank_log:
            rank_log.close()
    world.close()
    if validator is not None and validator.best is not None:
        summary.best_dev = vars(validator.best).copy()
    summary.wall_seconds = time.perf_counter() - t_start
    return summary


def make_trackers(config: RunConfig, run_dir: Path) -> list[Any]:
    return [get("tracker", name).create(run_dir, **config.tracker_options.get(name, {}))
            for name in config.trackers]


def make_validator(config: RunConfig, source: Any, tokenizer: Any, normalizer: TextNormalizer,
                   features: FeatureConfig, device: torch.device) -> Validator | None:
    if not config.eval_every:
        return None
    return Validator(source, split=config.eval_split, segmenter=config.segmenter(), tokenizer=tokenizer,
                     normalizer=normalizer, features=features, device=device, patience=config.early_stop_patience)


def log_metrics(trackers: list[Any], summary: TrainSummary, metrics: dict[str, Any]) -> None:
    for tracker in trackers:
        tracker.log_metrics(summary.steps, metrics)


def validate(validator: Validator | None, model: torch.nn.Module, checkpoints: TrainingCheckpoint,
             trackers: list[Any], summary: TrainSummary, world: Any) -> bool:
    """Rank 0 decodes the dev split, logs ``dev_wer``/``dev_cer`` and keeps ``best.pt``; every rank learns
    whether early stopping says to stop (the return value)."""
    stop = False
    if validator is not None:
        result, improved = validator(model, summary.steps)
        if improved:
            checkpoints.save_best(vars(result).copy())
        log_metrics(trackers, summary, dev_metrics(result) | {"dev_best_wer": validator.best.wer})
        stop = validator.should_stop
    if world.size > 1:  # the same verdict on every rank
        (flag,) = world.all_sum(torch.tensor(float(stop), device=world.device))
        stop = bool(flag > 0)
    summary.stopped_early = summary.stopped_early or stop
    return stop


def estimate_steps(config: RunConfig, source: Any, world_size: int = 1) -> int:
    """A rough step count for the LR schedule: audio duration / segment length / lanes (of all ranks), times
    epochs."""
    seconds = sum(rec.duration for rec in source.recordings(config.split))
    return max(1, math.ceil(seconds / config.segment_seconds / (config.batch_size * world_size)) * config.epochs)
