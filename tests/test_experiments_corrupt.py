"""The labelled corruptions behind the filter benchmark, and the run flags that choose the filters."""

import pytest
import torch

from experiments.corrupt import KINDS, OUTROS, corrupt_recordings, segment_labels
from statecatcher.cli.run_cmd import config_from_cli
from statecatcher.records import SAMPLE_RATE
from statecatcher.testing.dummies import make_recordings

RECORDINGS = make_recordings(4, min_duration=10.0, max_duration=20.0, seed=5)


def test_corruptions_change_only_what_their_labels_say():
    corrupted, corruptions = corrupt_recordings(RECORDINGS, share=0.5, seed=1)
    labels = segment_labels(corrupted, corruptions)
    assert {c.kind for c in corruptions} == set(KINDS) and len(labels) == sum(len(r.segments) for r in RECORDINGS)
    for clean, bad in zip(RECORDINGS, corrupted, strict=True):
        assert (bad.id, bad.duration) == (clean.id, clean.duration)
        audio_clean, audio_bad = clean.load_audio(), bad.load_audio()
        for i, (a, b) in enumerate(zip(clean.segments, bad.segments, strict=True)):
            kind = labels[(clean.id, i)]
            assert (a.start, a.end) == (b.start, b.end)
            assert (a.text == b.text) == (kind in ("clean", "silence"))
            span = slice(round(a.start * SAMPLE_RATE), round(a.end * SAMPLE_RATE))
            if kind == "silence":
                assert audio_bad[span].abs().max() < 1e-3 < audio_clean[span].abs().max()
            if kind == "outro":
                assert b.text.strip() in OUTROS
            if kind == "repeat":
                assert len(b.text.split()) >= 10 and len(set(b.text.split())) <= 4
        muted = [i for i in range(len(clean.segments)) if labels[(clean.id, i)] == "silence"]
        if not muted:
            assert torch.equal(audio_clean, audio_bad)
    again, _ = corrupt_recordings(RECORDINGS, share=0.5, seed=1)
    assert [r.segments for r in again] == [r.segments for r in corrupted]  # deterministic
    with pytest.raises(ValueError, match="kinds must be among"):
        corrupt_recordings(RECORDINGS, kinds=("typo",))


def test_run_flags_choose_filters_their_options_and_dry_run():
    config = config_from_cli(None, {"label_filters": ("char_rate", "loss_outlier"),
                                    "filter_options": ("char_rate.max_rate=25", "loss_outlier.warmup=50"),
                                    "filter_dry_run": True})
    assert config.label_filters == ["char_rate", "loss_outlier"] and config.filter_dry_run
    assert config.filter_options == {"char_rate": {"max_rate": 25}, "loss_outlier": {"warmup": 50}}
