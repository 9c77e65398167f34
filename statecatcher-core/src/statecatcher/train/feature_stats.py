"""Global feature statistics for :class:`statecatcher.nn.normalize.FeatureNormalizer`, from the training split.

Before step 1 the trainer reads a bounded, seeded sample of the training recordings (at most
``per_recording_seconds`` from each, ``max_seconds`` in all), computes their features exactly as the lanes
do, and keeps the per-bin mean and standard deviation in ``RUN_DIR/feature_stats.json``.  A resumed run (or
another rank) reads that file instead of touching the data again; the statistics also live in every
checkpoint as buffers of the model.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import Any

import torch

from ..data.fbank import FeatureConfig
from ..data.features import features_for_span
from ..files import write_atomically

STATS_FILE = "feature_stats.json"


class FeatureStatsError(RuntimeError):
    """No training audio could be read to estimate the feature statistics."""


def estimate_feature_stats(source: Any, split: str, features: FeatureConfig, *, max_seconds: float = 600.0,
                           per_recording_seconds: float = 60.0, seed: int = 0) -> dict[str, Any]:
    """``{"mean": [F], "std": [F], "seconds": s, "recordings": n}`` over a seeded sample of ``split``."""
    recordings = sorted(source.recordings(split), key=lambda rec: rec.id)
    rng = random.Random(seed)
    rng.shuffle(recordings)
    total = torch.zeros(features.dim, dtype=torch.float64)
    squares = torch.zeros_like(total)
    frames, seconds, used, first_error = 0, 0.0, 0, None
    for recording in recordings:
        if seconds >= max_seconds:
            break
        try:
            waveform = recording.load_audio()
        except Exception as exc:  # noqa: BLE001 - a bad file is skipped here as the lanes skip it
            first_error = first_error or f"{recording.id}: {exc}"
            continue
        span = min(per_recording_seconds, max_seconds - seconds, waveform.numel() / features.sample_rate)
        start = features.frame_start_sample(rng.uniform(0.0, max(0.0, recording.duration - span)))
        end = min(waveform.numel(), start + int(span * features.sample_rate))
        if end <= start:
            continue
        feats = features_for_span(waveform, start, end, features).to(torch.float64)
        total += feats.sum(0)
        squares += (feats * feats).sum(0)
        frames += feats.shape[0]
        seconds += (end - start) / features.sample_rate
        used += 1
    if frames == 0:
        reason = f" (first failure: {first_error})" if first_error else ""
        raise FeatureStatsError(f"feature statistics: no audio could be read from split {split!r}{reason}")
    if first_error:
        warnings.warn(f"feature statistics: skipped unreadable recordings, first: {first_error}", stacklevel=2)
    mean = total / frames
    std = (squares / frames - mean * mean).clamp(min=0.0).sqrt()
    return {"mean": mean.tolist(), "std": std.tolist(), "seconds": seconds, "recordings": used, "frames": frames}


def load_or_estimate(run_dir: Path, source: Any, split: str, features: FeatureConfig, **kwargs: Any) -> dict:
    """The statistics cached in ``run_dir/feature_stats.json``, estimated (and cached) when absent."""
    path = Path(run_dir) / STATS_FILE
    if path.exists():
        return json.loads(path.read_text())
    stats = estimate_feature_stats(source, split, features, **kwargs)
    write_atomically(path, json.dumps(stats, indent=1).encode())
    return stats


def apply_stats(model: torch.nn.Module, stats: dict[str, Any]) -> None:
    """Load ``stats`` into the model's :class:`FeatureNormalizer` (``model.feature_norm``)."""
    model.feature_norm.set_stats(torch.tensor(stats["mean"]), torch.tensor(stats["std"]))
