"""One epoch of the training loop: stream this rank's lanes, step, and every N steps log, validate, checkpoint.

:class:`EpochRunner` holds the parts that live across epochs (step, meter, filters, validator, trackers); the
epoch loop itself stays in ``train()`` (train/loop.py).  Per step, in this order: the TBPTT step
(train/step.py), the throughput meter, the rank log, then every ``log_every`` steps the metrics, every
``eval_every`` steps validation (``best.pt``, early stopping), every ``checkpoint_every`` steps a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..data.fbank import FeatureConfig
from ..data.lanes import LaneBatcher
from ..filters import FilterStage
from ..state import state_norms
from ..text import TextNormalizer
from .checkpoint import Resumed, TrainingCheckpoint
from .config import RunConfig
from .distributed import RankLog
from .guards import NonFiniteGuard, check_epoch_trained
from .meter import ThroughputMeter
from .skips import SkipLog
from .step import TbpttStep
from .validation import Validator, dev_metrics


@dataclass
class EpochRunner:
    config: RunConfig
    world: Any
    source: Any
    model: Any
    features: FeatureConfig
    normalizer: TextNormalizer
    summary: Any                      # TrainSummary: counters the steps advance
    checkpoints: TrainingCheckpoint
    scheduler: Any
    trackers: list[Any]
    filters: Any = None               # FilterStage: hallucination detectors (none by default)
    validator: Validator | None = None
    rank_log: RankLog | None = None
    step: TbpttStep | None = None
    skip_log: SkipLog | None = None   # RUN_DIR/skipped.jsonl: recordings that could not be loaded
    meter: ThroughputMeter = field(init=False)

    def __post_init__(self):
        self.meter = ThroughputMeter(self.summary.audio_seconds)

    def attach(self, tokenizer: Any, optimizer: Any, resumed: Resumed | None, *, autocast: Any = None) -> None:
        """Build the rank log, label filters, skip log, validator and TBPTT step (its forward under
        ``autocast``); restore the resumed ones' state."""
        config, world, device = self.config, self.world, self.world.device
        run_dir = self.checkpoints.dir.parent
        self.rank_log = RankLog(run_dir, world.rank) if config.rank_log else None
        self.filters = FilterStage.from_config(config.label_filters, config.filter_options,
                                               dry_run=config.filter_dry_run, run_dir=run_dir, rank=world.rank)
        if resumed is not None and resumed.filters is not None:  # running references; refined by the batcher's
            self.filters.load_state_dict(resumed.filters)
        self.filters.resume_report(self.summary.steps)  # a fresh start drops an unfinished attempt's rows too
        self.skip_log = SkipLog(run_dir, world.rank, resume_step=self.summary.steps)
        if world.is_main and config.eval_every:
            self.validator = Validator(self.source, split=config.eval_split, segmenter=config.segmenter,
                                       tokenizer=tokenizer, normalizer=self.normalizer, features=self.features,
                                       device=device, patience=config.early_stop_patience)
            if resumed is not None:
                self.validator.load_state_dict(resumed.validation)
        self.step = TbpttStep(forward=world.wrap(self.model), model=self.model, optimizer=optimizer,
                              scheduler=self.scheduler, world=world, filters=self.filters, tokenizer=tokenizer,
                              config=config, autocast=autocast,
                              fresh_state=self.model.init_state(config.batch_size, device),
                              guard=NonFiniteGuard(config.max_nan_skips))  # non-finite: skip, keep weights

    def run(self, epoch: int, state: Any, lanes_state: dict[str, Any] | None) -> tuple[bool, Any, dict[str, Any]]:
        """Train on epoch ``epoch`` (from ``lanes_state`` when resuming) -> (done, carried state, lanes' state).

        ``done``: ``max_steps`` reached or early stopping; otherwise the epoch ran out of recordings.  An epoch
        that loaded nothing raises :class:`~statecatcher.train.guards.RunStopped` (checkpointed first).
        """
        config, world = self.config, self.world
        batcher = LaneBatcher(
            self.source, split=config.split, batch_size=config.batch_size, epoch=epoch,
            rank=world.rank, world_size=world.size,  # this rank's shard of the recordings
            segmenter=config.segmenter, features=self.features, normalizer=self.normalizer,
            num_workers=config.num_workers, label_filter=self.filters.text_filter,
            speed_perturbation=config.speed_perturbation())
        self.meter.restart_wait()  # the new batcher's wait counter starts at zero
        if lanes_state is not None:
            batcher.load_state_dict(lanes_state)
        done, epoch_steps = False, 0
        with batcher:
            # every rank takes the same steps; one whose shard is done meanwhile gets all-inactive batches
            for batch in world.lockstep(batcher, batch_size=config.batch_size, feature_dim=self.features.dim):
                batch = batch.to(world.device)
                result = self.step(batch, state, self.summary)
                state, epoch_steps = result.state, epoch_steps + 1
                self.skip_log.record(batcher.take_skips(), step=self.summary.steps, epoch=epoch)
                self.summary.audio_seconds += result.audio_seconds
                if result.loss is not None:
                    self.summary.losses.append(result.loss)
                self.meter.add(result.loss, batch.feats.shape[0] * batch.feats.shape[1])
                if self.rank_log:
                    self.rank_log.write(self.summary.steps, epoch, batch, self.model)
                done = self.after_step(batcher, epoch, state)
                if done:
                    break
            self.summary.data_wait_seconds += batcher.stats()["wait_seconds"]
            final_lanes = batcher.state_dict()
        self.end_epoch(batcher, epoch, epoch_steps, resumed_epoch=lanes_state is not None, state=state)
        return done, state, final_lanes

    def end_epoch(self, batcher: LaneBatcher, epoch: int, epoch_steps: int, *, resumed_epoch: bool,
                  state: Any) -> None:
        """Record the epoch's last skips and its summary line; an epoch that trained no step (and did not resume
        midway) stops the run, checkpointed so that a resume starts at this epoch."""
        self.skip_log.record(batcher.take_skips(), step=self.summary.steps + 1, epoch=epoch)
        if epoch_steps == 0 and not resumed_epoch:  # nothing could be loaded: an error, never a finished epoch
            if self.summary.steps:
                self.save(epoch=epoch, lanes=None, state=state)
            check_epoch_trained(epoch, epoch_steps, self.skip_log.epoch_skips, data=self.config.data,
                                split=self.config.split)
        self.skip_log.end_epoch(epoch, epoch_steps, self.world.size)

    def after_step(self, batcher: LaneBatcher, epoch: int, state: Any) -> bool:
        """Log, validate and checkpoint when their step comes; True when training should stop."""
        config, summary = self.config, self.summary
        done = False
        if summary.steps % config.log_every == 0:
            metrics = self.meter.metrics(audio_seconds=summary.audio_seconds,
                                         wait_seconds=batcher.stats()["wait_seconds"])
            self.log(metrics | {
                "lr": self.scheduler.get_last_lr()[0], "skipped_recordings": self.skip_log.total,
                "audio_hours": summary.audio_seconds / 3600,
                "epoch": epoch, "nan_skips": summary.nan_skips, **self.filters.metrics(),
                **{f"state_norm/{k}": v for k, v in state_norms(state).items()}})
        last = bool(config.max_steps and summary.steps >= config.max_steps)
        if config.eval_every and (summary.steps % config.eval_every == 0 or last):  # the final model too
            done = self.validate()
        if summary.steps % config.checkpoint_every == 0 and self.step.can_checkpoint:
            self.save(epoch=epoch, lanes=batcher.state_dict(), state=state)
        return done or last

    def validate(self) -> bool:
        """Rank 0 decodes the dev split, logs ``dev_wer``/``dev_cer`` and keeps ``best.pt``; every rank learns
        whether early stopping says to stop (the return value)."""
        stop = False
        if self.validator is not None:
            result, improved = self.validator(self.model, self.summary.steps)
            if improved:
                self.checkpoints.save_best(vars(result).copy())
            self.log(dev_metrics(result) | {"dev_best_wer": self.validator.best.wer})
            stop = self.validator.should_stop
        if self.world.size > 1:  # the same verdict on every rank
            (flag,) = self.world.all_sum(torch.tensor(float(stop), device=self.world.device))
            stop = bool(flag > 0)
        self.summary.stopped_early = self.summary.stopped_early or stop
        return stop

    def save(self, *, epoch: int, lanes: dict[str, Any] | None, state: Any) -> None:
        self.checkpoints.save(summary=self.summary, epoch=epoch, lanes=lanes, state=state, filters=self.filters,
                              validation=self.validator and self.validator.state_dict())

    def log(self, metrics: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log_metrics(self.summary.steps, metrics)

    def close(self) -> None:
        """Flush the filter report, the skip log, the trackers and the rank log (also after an error)."""
        if self.filters is not None:
            self.filters.close()
        if self.skip_log is not None:
            self.skip_log.close()
        for tracker in self.trackers:
            tracker.close()
        if self.rank_log:
            self.rank_log.close()
