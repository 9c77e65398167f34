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

Phases: setup (below), tokenizer/model/optimiser, resume (train/checkpoint.py), then epochs; what happens
after each step (log, validate, checkpoint) is train/epoch.py.
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

from ..data.fbank import FeatureConfig
from ..jsonl import drop_rows_after
from ..model import build_model
from ..options import PluginOptionError, check_plugin_options
from ..plugins import get
from ..text import TextNormalizer
from ..tokenizer_utils import tokenizer_payload
from .checkpoint import TrainingCheckpoint, resume_message
from .config import RunConfig
from .distributed import init_world
from .epoch import EpochRunner
from .feature_stats import apply_stats, load_or_estimate
from .guards import RunStopped, check_reached_end
from .optim import make_optimizer
from .schedule import make_scheduler
from .tokens import prepare_tokenizer


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
    check_model_builds(config)    # and a bad option value (hidden_dim not a multiple of head_size, ...)
    world = init_world(pick_device(config.device))  # under torchrun: this process's rank (docs/distributed.md)
    device, run_dir = world.device, prepare_run_dir(config, world)
    features = FeatureConfig(kind=config.frontend)
    normalizer = TextNormalizer(lowercase=config.lowercase, strip_punctuation=config.strip_punctuation)
    with world.main_first(per_node=True):  # one rank per machine first: it may fill a cache the others read
        source = open_source(config)

    # ------------------------------------------------------------------ tokenizer, model, optimiser
    with world.main_first():  # rank 0 trains the tokenizer and estimates the feature statistics first
        tokenizer, model = build_tokenizer_and_model(config, source, normalizer, features, run_dir, device)
    model.augment = config.spec_augment_config()  # SpecAugment in train mode only
    optimizer = make_optimizer(config.optimizer, model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = make_scheduler(optimizer, schedule=config.schedule, warmup_steps=config.warmup_steps,
                               total_steps=total_optimizer_steps(config, source, world.size))

    # ------------------------------------------------------------------ resume
    checkpoints = TrainingCheckpoint(run_dir, model=model, optimizer=optimizer, scheduler=scheduler, world=world,
                                     keep=config.keep_checkpoints,
                                     pack=inference_pack(config, normalizer, features, tokenizer, run_dir))
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
    epochs = EpochRunner(config=config, world=world, source=source, model=model, features=features,
                         normalizer=normalizer, summary=summary, checkpoints=checkpoints, scheduler=scheduler,
                         trackers=trackers if trackers is not None else make_trackers(config, run_dir, world))
    epochs.attach(tokenizer, optimizer, resumed, autocast=autocast_context(device, config.precision))
    log_params(epochs.trackers, config, model, world, resumed)

    # ------------------------------------------------------------------ the loop
    model.train()
    done, final_lanes = False, None
    try:
        while epoch < config.epochs and not done:
            done, state, final_lanes = epochs.run(epoch, state, lanes_state)
            lanes_state = None
            if not done:
                epoch += 1
                summary.epochs_done += 1
                state = model.init_state(config.batch_size, device)
        epochs.save(epoch=epoch, lanes=final_lanes if done else None, state=state)
        if not summary.stopped_early:
            check_reached_end(summary.steps, max_steps=config.max_steps, epochs=config.epochs)
    except RunStopped:  # the last metrics row says where and how the run stopped
        epochs.log({"nan_skips": summary.nan_skips, "skipped_recordings": epochs.skip_log.total})
        raise
    finally:
        epochs.close()
    world.close()
    if epochs.validator is not None and epochs.validator.best is not None:
        summary.best_dev = vars(epochs.validator.best).copy()
    summary.wall_seconds = time.perf_counter() - t_start
    return summary


# ---------------------------------------------------------------------- setup phases


def prepare_run_dir(config: RunConfig, world: Any) -> Path:
    """The run directory (rank 0 records ``config.toml`` there); torch's threads and seed set."""
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if world.is_main:
        config.save_toml(run_dir / "config.toml")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    return run_dir


def open_source(config: RunConfig) -> Any:
    """The data source ``NAME:SPEC`` of ``config.data``, with its plugin options."""
    data_name, _, data_spec = config.data.partition(":")
    return get("data_source", data_name).create(data_spec, seed=config.seed, **config.data_options)


def check_model_builds(config: RunConfig) -> None:
    """Build the model on the meta device (no memory, no data): an encoder or loss option value the factory
    refuses raises :class:`PluginOptionError` naming the plugins, before the data source is opened (or the
    embedded corpus synthesised)."""
    try:
        with torch.device("meta"):
            build_model(encoder=config.encoder, loss=config.loss, vocab_size=config.vocab_size,
                        encoder_options=config.encoder_options, loss_options=config.loss_options)
    except (ValueError, TypeError) as error:
        raise PluginOptionError(f"encoder {config.encoder!r} + loss {config.loss!r}: {error}") from None


def build_tokenizer_and_model(config: RunConfig, source: Any, normalizer: TextNormalizer, features: FeatureConfig,
                              run_dir: Path, device: torch.device) -> tuple[Any, Any]:
    """The tokenizer (trained once into ``RUN_DIR/tokenizer``) and the model on ``device``, its feature
    statistics estimated from the training split (or read from ``RUN_DIR``) when ``feature_norm`` is on."""
    tokenizer = prepare_tokenizer(config, source, normalizer, run_dir / "tokenizer")
    model = build_model(encoder=config.encoder, loss=config.loss, vocab_size=tokenizer.vocab_size,
                        blank_id=tokenizer.blank_id, encoder_options=config.encoder_options,
                        loss_options=config.loss_options, input_dim=features.dim).to(device)
    if config.feature_norm:
        apply_stats(model, load_or_estimate(run_dir, source, config.split, features, seed=config.seed,
                                            max_seconds=config.feature_stats_seconds))
    return tokenizer, model


def total_optimizer_steps(config: RunConfig, source: Any, world_size: int) -> int:
    """Optimizer steps the LR schedule spans: ``max_steps`` or an estimate, over ``accumulate_segments``."""
    return max(1, (config.max_steps or estimate_steps(config, source, world_size)) // config.accumulate_segments)


def inference_pack(config: RunConfig, normalizer: TextNormalizer, features: FeatureConfig, tokenizer: Any,
                   run_dir: Path) -> dict[str, Any]:
    """What every checkpoint carries besides the weights so that it is also a model pack."""
    return {"config": config.to_dict(), "normalizer": normalizer.to_dict(), "features": dataclasses.asdict(features),
            "tokenizer": tokenizer_payload(config.tokenizer, config.tokenizer_options, run_dir / "tokenizer"),
            "vocab_size": tokenizer.vocab_size, "blank_id": tokenizer.blank_id}


def make_trackers(config: RunConfig, run_dir: Path, world: Any) -> list[Any]:
    """The configured trackers on rank 0; none on the other ranks."""
    if not world.is_main:
        return []
    return [get("tracker", name).create(run_dir, **config.tracker_options.get(name, {}))
            for name in config.trackers]


def log_params(trackers: list[Any], config: RunConfig, model: torch.nn.Module, world: Any, resumed: Any) -> None:
    params = {**config.to_dict(), "total_steps": config.max_steps or None,
              "parameters": sum(p.numel() for p in model.parameters()), "device": str(world.device),
              "world_size": world.size, "resumed_from": str(resumed.path) if resumed else None}
    for tracker in trackers:
        tracker.log_params(params)


def estimate_steps(config: RunConfig, source: Any, world_size: int = 1) -> int:
    """A rough step count for the LR schedule: audio duration / segment length / lanes (of all ranks), times
    epochs."""
    seconds = sum(rec.duration for rec in source.recordings(config.split))
    lanes = config.batch_size * world_size
    return max(1, math.ceil(seconds / config.segmenter.segment_seconds / lanes) * config.epochs)
