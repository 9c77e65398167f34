import numpy as np
import pytest
import torch

from statecatcher.data.speed_perturb import SpeedPerturbation, parse_factors, perturbed_recording, speed_changed
from statecatcher.records import SAMPLE_RATE
from statecatcher.testing.dummies import make_recordings
from statecatcher.train.config import ConfigError, RunConfig

PERTURB = SpeedPerturbation((0.9, 1.0, 1.1), seed=5)
RECORDINGS = make_recordings(2, min_duration=3.0, max_duration=6.0, seed=4)


def peak_hz(waveform: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(waveform.numpy() * np.hanning(len(waveform))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(waveform))


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_a_faster_recording_is_shorter_and_higher_by_the_factor(factor):
    t = torch.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    tone = torch.sin(2 * torch.pi * 440.0 * t)
    changed = speed_changed(tone, factor)
    assert len(changed) == round(len(tone) / factor)
    assert changed.dtype == torch.float32
    assert peak_hz(changed) == pytest.approx(440.0 * factor, abs=1.0)


def test_the_transcript_times_follow_the_audio():
    recording = RECORDINGS[0]
    faster = perturbed_recording(recording, 1.25)
    assert faster.id == recording.id and faster.meta["speed"] == 1.25
    assert faster.duration == pytest.approx(recording.duration / 1.25)
    for original, scaled in zip(recording.load_segments(), faster.segments, strict=True):
        assert (scaled.start, scaled.end) == pytest.approx((original.start / 1.25, original.end / 1.25))
        assert scaled.text == original.text


def test_the_factor_depends_on_seed_epoch_and_recording_only():
    ids = [f"rec-{i}" for i in range(300)]
    draws = [PERTURB.factor(i, 0) for i in ids]
    torch.manual_seed(123)
    np.random.seed(7)
    assert [SpeedPerturbation((0.9, 1.0, 1.1), seed=5).factor(i, 0) for i in ids] == draws
    assert {f: draws.count(f) for f in (0.9, 1.0, 1.1)} == pytest.approx({0.9: 100, 1.0: 100, 1.1: 100}, abs=30)
    assert [PERTURB.factor(i, 1) for i in ids] != draws, "a new draw every epoch"
    assert [SpeedPerturbation((0.9, 1.0, 1.1), seed=6).factor(i, 0) for i in ids] != draws


def test_factor_one_leaves_the_recording_untouched():
    recording = RECORDINGS[1]
    waveform = recording.load_audio()
    same, audio = SpeedPerturbation((1.0,)).apply(recording, waveform, epoch=3)
    assert same is recording and audio is waveform


def test_the_run_config_parses_factors_and_names_the_key_when_they_are_wrong():
    assert parse_factors("0.9, 1.0,1.1") == (0.9, 1.0, 1.1) and parse_factors("") == ()
    config = RunConfig.from_dict({"speed_perturb": "0.9,1.1", "seed": 4})
    assert config.speed_perturbation() == SpeedPerturbation((0.9, 1.1), seed=4)
    assert RunConfig.from_dict({}).speed_perturbation() is None
    with pytest.raises(ConfigError, match=r"'speed_perturb': 'fast' is not a number"):
        RunConfig.from_dict({"speed_perturb": "0.9,fast"})
    with pytest.raises(ConfigError, match=r"'speed_perturb': factor 3 is outside \[0.5, 2\]"):
        RunConfig.from_dict({"speed_perturb": "3"})
