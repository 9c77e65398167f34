"""Validation during training: per-segment WER/CER on a held-out split, the best checkpoint, early stopping.

Every ``eval_every`` steps the model (in eval mode: no SpecAugment) decodes the ``eval_split`` recordings
segment by segment with the state carried through lanes, exactly as training streams them
(:func:`statecatcher.decode.evaluate.evaluate_segments`).  The RNG streams are saved and restored around it,
so a run with validation draws the same SpecAugment masks and data order as one without.  When the dev
score (WER, then CER) improves, the caller writes ``checkpoints/best.pt``; after ``patience`` evaluations
without improvement :attr:`Validator.should_stop` turns true.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..data.segmenter import SegmenterConfig
from ..decode.evaluate import evaluate_segments
from ..decode.pack import LoadedModel
from .checkpoint import rng_state, set_rng_state


@dataclass
class DevResult:
    step: int
    wer: float
    cer: float

    @property
    def score(self) -> tuple[float, float]:
        return (self.wer, self.cer)


class Validator:
    """Decodes ``split`` of ``source`` with the training model; remembers the best result."""

    def __init__(self, source: Any, *, split: str, segmenter: SegmenterConfig, tokenizer: Any, normalizer: Any,
                 features: Any, device: torch.device, patience: int = 0, batch_size: int = 4):
        self.source, self.split, self.segmenter = source, split, segmenter
        self.tokenizer, self.normalizer, self.features = tokenizer, normalizer, features
        self.device, self.patience, self.batch_size = device, patience, batch_size
        self.best: DevResult | None = None
        self.since_best = 0

    def __call__(self, model: torch.nn.Module, step: int) -> tuple[DevResult, bool]:
        """Evaluate ``model`` now -> (result, whether it is the best so far).  The model is back in train mode."""
        saved = rng_state()
        was_training = model.training
        model.eval()
        try:
            loaded = LoadedModel(model=model, tokenizer=self.tokenizer, normalizer=self.normalizer,
                                 features=self.features, config={})
            report = evaluate_segments(loaded, self.source, split=self.split, batch_size=self.batch_size,
                                       segmenter=self.segmenter, device=self.device)
        finally:
            model.train(was_training)
            set_rng_state(saved)
        result = DevResult(step=step, wer=report.wer, cer=report.cer)
        improved = self.best is None or result.score < self.best.score
        if improved:
            self.best, self.since_best = result, 0
        else:
            self.since_best += 1
        return result, improved

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.since_best >= self.patience

    def state_dict(self) -> dict[str, Any]:
        best = None if self.best is None else vars(self.best).copy()
        return {"best": best, "since_best": self.since_best}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        self.best = DevResult(**state["best"]) if state.get("best") else None
        self.since_best = int(state.get("since_best", 0))


def dev_metrics(result: DevResult) -> dict[str, float]:
    """What the trackers log for one validation: ``dev_wer``, ``dev_cer`` (fractions)."""
    return {"dev_wer": result.wer, "dev_cer": result.cer} if math.isfinite(result.wer) else {}
