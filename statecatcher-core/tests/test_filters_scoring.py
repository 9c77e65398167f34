"""Scoring a corpus with a trained model: tiles around the transcript segments, streamed with carried state."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from statecatcher.data.fbank import FeatureConfig
from statecatcher.data.features import recording_features
from statecatcher.filters.scoring import Tile, token_losses, transcript_tiles
from statecatcher.model import AsrModel
from statecatcher.records import Recording, Segment
from statecatcher.testing.broken import TinyGRUEncoder
from statecatcher.testing.dummies import make_recordings
from statecatcher.text import TextNormalizer


def recording(duration: float, *spans: tuple[float, float, str]) -> Recording:
    segments = tuple(Segment(start, end, text) for start, end, text in spans)
    return Recording("rec", duration, segments, load_audio=lambda: torch.randn(round(duration * 16000)) * 0.1)


def test_tiles_cover_the_recording_cut_mid_gap_and_group_overlapping_segments():
    rec = recording(10.0, (8.0, 9.0, "d"), (1.0, 2.0, "a"), (3.0, 4.0, "b"), (3.5, 5.0, "c"))
    assert transcript_tiles(rec) == [Tile(0.0, 2.5, (1,)), Tile(2.5, 6.5, (2, 3)), Tile(6.5, 10.0, (0,))]
    assert transcript_tiles(recording(4.0)) == []


class CtcHead(nn.Module):
    """Linear + log-softmax + summed CTC per lane (blank 0, ``zero_infinity``); no state."""

    def __init__(self, input_dim: int, vocab_size: int):
        super().__init__()
        self.proj = nn.Linear(input_dim, vocab_size)

    def init_state(self, batch_size, device=None):
        return {}

    def forward(self, enc_out, enc_lens, targets, target_lens, state):
        log_probs = self.proj(enc_out).log_softmax(-1).transpose(0, 1)
        loss = F.ctc_loss(log_probs, targets, enc_lens, target_lens, reduction="none", zero_infinity=True)
        return loss, state


class Letters:
    """Tokenizer: ``a``..``z`` -> 1..26, space -> 27 (0 is the blank)."""

    def encode(self, text: str) -> list[int]:
        return [27 if c == " " else ord(c) - ord("a") + 1 for c in text]


def loaded_model() -> SimpleNamespace:
    torch.manual_seed(0)
    model = AsrModel(TinyGRUEncoder(input_dim=80, hidden_dim=16), CtcHead(16, 28)).eval()
    return SimpleNamespace(model=model, tokenizer=Letters(), normalizer=TextNormalizer(), features=FeatureConfig())


@torch.no_grad()
def reference_losses(loaded, rec: Recording, *, carry: bool) -> dict[tuple[str, int], float]:
    """Whole-recording features sliced per tile, fed tile by tile (state carried, or fresh for every tile)."""
    feats, losses = recording_features(rec.load_audio()), {}
    state = loaded.model.init_state(1)
    for tile in transcript_tiles(rec):
        chunk = feats[round(tile.start * 100):round(tile.end * 100)][None]
        ids = loaded.tokenizer.encode(loaded.normalizer(rec.segments[tile.indices[0]].text))
        loss, _, new_state = loaded.model(chunk, torch.tensor([chunk.shape[1]]), torch.tensor([ids]),
                                          torch.tensor([len(ids)]), state if carry else loaded.model.init_state(1))
        state = new_state
        losses[(rec.id, tile.indices[0])] = float(loss[0]) / len(ids)
    return losses


def test_token_losses_stream_the_tiles_with_the_state_carried():
    loaded = loaded_model()
    (rec,) = make_recordings(1, min_duration=8.0, max_duration=8.0, seed=3)
    assert len(rec.segments) >= 3
    losses = token_losses(loaded, [rec])
    assert losses == pytest.approx(reference_losses(loaded, rec, carry=True), rel=1e-5)
    fresh = reference_losses(loaded, rec, carry=False)  # the state matters: from a fresh state, other losses
    first, *later = losses
    assert fresh[first] == pytest.approx(losses[first], rel=1e-5)
    assert all(fresh[key] != pytest.approx(losses[key], rel=1e-5) for key in later)


def test_infeasible_targets_score_nan_and_textless_segments_are_not_scored():
    rec = recording(1.0, (0.0, 0.3, "far too many letters for a third of a second"), (0.5, 0.9, " "))
    losses = token_losses(loaded_model(), [rec])
    assert list(losses) == [("rec", 0)] and math.isnan(losses[("rec", 0)])
