"""Run configuration: one dataclass whose fields mirror ``statecatcher run``'s flags.

A TOML file (``--config run.toml``) uses the same keys (``batch_size = 8``; plugin options as tables
``[encoder_options]``; the segmenter as the table ``[segmenter]``, whose flags ``--segment-seconds``,
``--min-segment-seconds``, ``--max-segment-seconds`` and ``--overlong-segments`` are aliases of its keys, as
are those flat names in a file or dict); command-line flags override it.  Unknown keys and wrong types are
errors naming the key and the file, raised before any data is fetched.  The resolved config is saved as
``RUN_DIR/config.toml`` and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..configfile import ConfigError, tomllib
from ..data.segmenter import SegmenterConfig
from ..data.speed_perturb import parse_factors
from .presets import PRESETS, preset_for

if TYPE_CHECKING:
    from ..data.speed_perturb import SpeedPerturbation
    from ..nn.spec_augment import SpecAugmentConfig


def opt(default: Any, help: str) -> Any:
    """A config field with its command-line help text."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class RunConfig:
    # ---- what to train
    preset: str = opt("", "start from a named recipe (flags and file keys override it): "
                          "cpu-demo, cpu-recipe, gpu-small, gpu-base")
    encoder: str = opt("lstm", "encoder plugin name (see `statecatcher list-plugins`)")
    loss: str = opt("ctc", "loss plugin name: ctc, rnnt, ...")
    tokenizer: str = opt("sentencepiece", "tokenizer plugin name")
    data: str = opt("local:corpus", "data source as NAME:SPEC, e.g. local:corpus/ or speechcatcher:http://host:6000")
    encoder_options: dict = opt({}, "encoder options as KEY=VALUE (value parsed as TOML), e.g. hidden_dim=256")
    loss_options: dict = opt({}, "loss options as KEY=VALUE, e.g. prune_range=5")
    tokenizer_options: dict = opt({}, "tokenizer options as KEY=VALUE, e.g. model_type=bpe")
    data_options: dict = opt({}, "data source options as KEY=VALUE")
    vocab_size: int = opt(256, "tokenizer vocabulary size, blank included")
    lowercase: bool = opt(True, "lower-case target text")
    strip_punctuation: bool = opt(True, "remove punctuation from target text")
    # ---- where
    run_dir: str = opt("runs/default", "run directory: config, metrics, checkpoints, tokenizer")
    device: str = opt("auto", "auto, cpu, cuda or cuda:N")
    precision: str = opt("auto", "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16")
    seed: int = opt(0, "seed for data order, initialisation and dropout")
    threads: int = opt(0, "torch CPU threads (0: torch's default)")
    # ---- data and lanes
    split: str = opt("train", "split of the data source to train on")
    batch_size: int = opt(8, "lanes: recordings streamed side by side")
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig, metadata={
        "help": "[segmenter] table: segment_seconds, min_seconds, max_seconds, overlong (flags below)"})
    num_workers: int = opt(2, "background threads decoding audio and computing features")
    # ---- features and augmentation
    frontend: str = opt("fbank", "input features: fbank (80 log-mel bins) or mfcc (40 cepstra)")
    feature_norm: bool = opt(True, "normalise features by a global per-bin mean/variance from the training split")
    feature_stats_seconds: float = opt(600.0, "audio seconds sampled from the training split for those statistics")
    spec_augment: bool = opt(False, "SpecAugment: frequency and time masks on every training segment")
    freq_masks: int = opt(2, "SpecAugment frequency masks per segment")
    freq_mask_width: int = opt(15, "SpecAugment: widest frequency mask, in mel bins")
    time_masks: int = opt(10, "SpecAugment: most time masks per segment")
    time_mask_width: int = opt(40, "SpecAugment: widest time mask, in frames (10 ms)")
    time_mask_ratio: float = opt(0.1, "SpecAugment: time masks cover up to this fraction of a segment")
    speed_perturb: str = opt("", "speed perturbation: each training recording at one of these speeds, drawn per "
                                 "epoch, e.g. 0.9,1.0,1.1 (empty: off)")
    # ---- label filters (hallucination detectors, docs/filters.md)
    label_filters: list = opt([], "label filters to apply (repeatable), e.g. compression_ratio, loss_outlier")
    filter_options: dict = opt({}, "per-filter options as FILTER.KEY=VALUE, e.g. compression_ratio.threshold=2.0")
    filter_dry_run: bool = opt(False, "score and report label filters without masking any loss")
    # ---- optimisation
    epochs: int = opt(1, "passes over the training recordings")
    max_steps: int = opt(0, "stop after this many segment steps (0: no limit)")
    optimizer: str = opt("adamw", "adamw, adam or lion (lion needs the lion-pytorch package)")
    lr: float = opt(1e-3, "peak learning rate")
    weight_decay: float = opt(0.01, "weight decay (decoupled for adamw and lion)")
    warmup_steps: int = opt(100, "linear warm-up, in optimizer steps")
    schedule: str = opt("cosine", "cosine, noam or constant after warm-up")
    grad_clip: float = opt(5.0, "clip the gradient norm to this")
    accumulate_segments: int = opt(1, "take one optimizer step per N segment steps")
    tbptt_segments: int = opt(1, "keep the graph over K consecutive segments before detaching the state")
    max_nan_skips: int = opt(20, "stop the run after this many steps in a row with a non-finite loss or gradient "
                                 "(each is skipped: weights and state kept); 0: never stop")
    stateless: bool = opt(False, "reset every lane at every segment (the baseline)")
    # ---- validation
    eval_every: int = opt(0, "decode the eval split every N steps and at --max-steps: dev WER/CER, best.pt (0: never)")
    eval_split: str = opt("dev", "split of the data source to validate on")
    early_stop_patience: int = opt(0, "stop after N validations without a better dev WER (0: never)")
    # ---- bookkeeping
    checkpoint_every: int = opt(100, "save a checkpoint every N steps")
    keep_checkpoints: int = opt(2, "how many step checkpoints to keep")
    log_every: int = opt(10, "log metrics every N steps")
    trackers: list = opt(["console", "jsonl"], "trackers to log to (repeatable)")
    tracker_options: dict = opt({}, "per-tracker options as TRACKER.KEY=VALUE")
    rank_log: bool = opt(False, "every rank appends RUN_DIR/ranks/rankR.jsonl: step, recordings, parameter digest")

    # ------------------------------------------------------------------
    def validate(self) -> RunConfig:
        speed_problem = _factors_problem(self.speed_perturb)
        checks = [
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.vocab_size >= 2, "vocab_size", "must be >= 2"),
            (self.tbptt_segments >= 1, "tbptt_segments", "must be >= 1"),
            (self.accumulate_segments >= 1, "accumulate_segments", "must be >= 1"),
            (self.accumulate_segments % self.tbptt_segments == 0, "accumulate_segments",
             f"must be a multiple of tbptt_segments ({self.tbptt_segments})"),
            (self.schedule in ("cosine", "noam", "constant"), "schedule", "must be cosine, noam or constant"),
            (self.precision in ("auto", "fp32", "bf16"), "precision", "must be auto, fp32 or bf16"),
            (":" in self.data, "data", "must look like NAME:SPEC, e.g. local:corpus/ or speechcatcher:http://..."),
            (self.epochs >= 1 or self.max_steps > 0, "epochs", "must be >= 1 (or set max_steps)"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.grad_clip > 0, "grad_clip", "must be > 0"),
            (self.weight_decay >= 0, "weight_decay", "must be >= 0"),
            (self.max_nan_skips >= 0, "max_nan_skips", "must be >= 0 (0: never stop)"),
            (re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device) is not None, "device",
             f"must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}"),
            (self.frontend in ("fbank", "mfcc"), "frontend", "must be fbank or mfcc"),
            (self.optimizer in ("adamw", "adam", "lion"), "optimizer", "must be adamw, adam or lion"),
            (self.eval_every >= 0 and self.early_stop_patience >= 0, "eval_every", "must be >= 0"),
            (self.early_stop_patience == 0 or self.eval_every > 0, "early_stop_patience", "needs eval_every > 0"),
            (self.feature_stats_seconds > 0, "feature_stats_seconds", "must be > 0"),
            (min(self.freq_masks, self.freq_mask_width, self.time_masks, self.time_mask_width) >= 0
             and 0 <= self.time_mask_ratio <= 1, "spec_augment", "mask counts/widths >= 0, time_mask_ratio in [0, 1]"),
            (speed_problem is None, "speed_perturb", speed_problem),
            (self.preset == "" or self.preset in PRESETS, "preset", f"must be one of {', '.join(PRESETS)}"),
        ]
        checks[:0] = [(math.isfinite(getattr(self, name)), name, f"must be a finite number, got {getattr(self, name)}")
                      for name, hint in _HINTS.items() if hint is float]
        for ok, key, message in checks:
            if not ok:
                raise ConfigError(f"config key {key!r}: {message}")
        return self

    def __post_init__(self):
        if isinstance(self.segmenter, dict):  # a [segmenter] table: SegmenterConfig is its one validation
            try:
                self.segmenter = SegmenterConfig(**self.segmenter)
            except ValueError as exc:
                raise ConfigError(f"config table [segmenter]: {exc}") from exc

    def spec_augment_config(self) -> SpecAugmentConfig | None:
        if not self.spec_augment:
            return None
        from ..nn.spec_augment import SpecAugmentConfig  # nn imports torch: not at `statecatcher --help`

        return SpecAugmentConfig(freq_masks=self.freq_masks, freq_width=self.freq_mask_width,
                                 time_masks=self.time_masks, time_width=self.time_mask_width,
                                 time_mask_ratio=self.time_mask_ratio)

    def speed_perturbation(self) -> SpeedPerturbation | None:
        """The training recordings' speed perturbation (``--speed-perturb``), ``None`` when off."""
        from ..data.speed_perturb import SpeedPerturbation

        factors = parse_factors(self.speed_perturb)
        return SpeedPerturbation(factors, seed=self.seed) if factors else None

    def to_dict(self) -> dict[str, Any]:
        """Every key, with secrets (``api_key``, ``*token*``...) redacted: safe to save and log."""
        from ..secrets import redact

        return redact(dataclasses.asdict(self))

    def save_toml(self, path: Path) -> None:
        """``path`` as TOML that :meth:`load` reads back; secrets are left out (an environment variable such as
        ``STATECATCHER_API_KEY`` supplies them again), never written as a placeholder that would be used."""
        from ..secrets import without_secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_toml(without_secrets(dataclasses.asdict(self))))

    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "config") -> RunConfig:
        """``values`` over the defaults, with the preset they name (``values["preset"]``, if any) in between."""
        return cls._over_preset(check_types(values, origin))

    @classmethod
    def _over_preset(cls, values: dict[str, Any]) -> RunConfig:
        preset = values.get("preset", "")
        if preset and preset not in PRESETS:
            raise ConfigError(f"config key 'preset': unknown preset {preset!r}; choose {', '.join(PRESETS)}")
        return cls(**merge(preset_for(preset, values), values)).validate()

    @classmethod
    def load(cls, toml_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
        """Defaults <- TOML file <- overrides (CLI flags); every layer is type-checked.  Option tables merge
        key by key (``[encoder_options] hidden_dim`` from the file survives ``--encoder-opt pattern=m``)."""
        values: dict[str, Any] = {}
        if toml_path is not None:
            path = Path(toml_path)
            from ..secrets import without_redacted

            try:
                values.update(check_types(without_redacted(tomllib.loads(path.read_text())), str(path)))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read config: {exc}") from exc
        return cls._over_preset(merge(values, check_types(overrides or {}, "command line")))


def _factors_problem(text: str) -> str | None:
    """What is wrong with the speed factors ``text`` (``--speed-perturb``), or None."""
    try:
        parse_factors(text)
    except ValueError as error:
        return str(error)
    return None


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_HINTS = typing.get_type_hints(RunConfig)
# flag / flat key -> key of the [segmenter] table (the flags --segment-seconds ... are aliases of the table)
SEGMENTER_ALIASES = {"segment_seconds": "segment_seconds", "min_segment_seconds": "min_seconds",
                     "max_segment_seconds": "max_seconds", "overlong_segments": "overlong"}
SEGMENTER_HELP = {
    "segment_seconds": "target training segment length (cut only between transcript segments)",
    "min_seconds": "shortest segment the segmenter aims for",
    "max_seconds": "longest segment the segmenter aims for",
    "overlong": "a transcript segment longer than the max: keep (whole) or skip (loss 0)",
}
_SEGMENTER_HINTS = typing.get_type_hints(SegmenterConfig)


def _segmenter_table(values: dict[str, Any], origin: str) -> dict[str, Any]:
    """``values`` with the flat segmenter aliases folded into one ``segmenter`` table, its keys type-checked."""
    values = dict(values)
    table = values.pop("segmenter", {})
    if isinstance(table, SegmenterConfig):
        table = dataclasses.asdict(table)
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: config key 'segmenter' must be a table, got {type(table).__name__}")
    table = dict(table) | {SEGMENTER_ALIASES[k]: values.pop(k) for k in list(values) if k in SEGMENTER_ALIASES}
    for key, value in table.items():
        if key not in SEGMENTER_HELP:
            raise ConfigError(f"{origin}: unknown key 'segmenter.{key}' (known: {', '.join(SEGMENTER_HELP)})")
        expected = float if key != "overlong" else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            table[key] = value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{origin}: config key 'segmenter.{key}' must be {expected.__name__}, "
                              f"got {type(value).__name__} {value!r}")
    return values | ({"segmenter": table} if table else {})


def check_types(values: dict[str, Any], origin: str) -> dict[str, Any]:
    out = {}
    for key, value in _segmenter_table(values, origin).items():
        if key == "segmenter":
            out[key] = value
            continue
        if key not in _FIELDS:
            close = [k for k in _FIELDS if k.startswith(key[:3])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"{origin}: unknown config key {key!r}{hint}")
        expected = _HINTS[key]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{origin}: config key {key!r} must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )
        out[key] = value
    return out


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``overrides``, merging nested dicts key by key (overrides win)."""
    out = dict(base)
    for key, value in overrides.items():
        both_dicts = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if both_dicts else value
    return out


def to_toml(values: dict[str, Any], table: tuple[str, ...] = ()) -> str:
    """Write ``values`` as TOML: dict values become tables (nested ones ``[tracker_options.aim]``); JSON
    literals are valid TOML for our scalar and list types, except non-finite floats (``nan``, ``inf``)."""
    header = f"\n[{'.'.join(map(_toml_key, table))}]\n" if table else ""
    lines = "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in values.items() if not isinstance(v, dict))
    return header + lines + "".join(to_toml(v, (*table, k)) for k, v in values.items() if isinstance(v, dict) and v)


def _toml_value(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
