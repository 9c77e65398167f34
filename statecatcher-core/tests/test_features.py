import math

import numpy as np
import pytest
import torch

from statecatcher.data.fbank import FeatureConfig
from statecatcher.data.features import StreamingFeatures, features_for_span, recording_features

CONFIG = FeatureConfig()


@pytest.fixture(scope="module")
def waveform():
    return torch.from_numpy(np.random.default_rng(0).standard_normal(3 * 16000 + 77).astype(np.float32) * 0.1)


def test_a_recording_has_one_frame_per_started_hop(waveform):
    feats = recording_features(waveform, CONFIG)
    assert feats.shape == (math.ceil(len(waveform) / 160), 80) == (CONFIG.num_frames(len(waveform)), 80)
    assert feats.dtype == torch.float32


@pytest.mark.parametrize("start_frame, end_frame", [(0, 1), (0, 100), (1, 2), (37, 171), (250, 301)])
def test_span_features_equal_the_whole_recordings_frames(waveform, start_frame, end_frame):
    whole = recording_features(waveform, CONFIG)
    span = features_for_span(waveform, start_frame * 160, min(end_frame * 160, len(waveform)), CONFIG)
    torch.testing.assert_close(span, whole[start_frame:end_frame], atol=1e-5, rtol=0)


def test_frame_i_sees_only_its_hop_and_fifteen_ms_before(waveform):
    """Changing samples after frame i's hop, or more than 240 samples before it, leaves frame i alone."""
    i = 100
    changed = waveform.clone()
    changed[:i * 160 - 240] = 0.5
    changed[(i + 1) * 160:] = -0.5
    torch.testing.assert_close(recording_features(changed)[i], recording_features(waveform)[i], atol=0, rtol=0)
    changed[i * 160 - 240] = 0.9  # the first sample of its window
    assert not torch.equal(recording_features(changed)[i], recording_features(waveform)[i])


def test_streaming_equals_whole_for_random_feed_sizes(waveform):
    whole = recording_features(waveform, CONFIG)
    rng = np.random.default_rng(1)
    for _ in range(3):
        stream, pieces, position = StreamingFeatures(CONFIG), [], 0
        while position < len(waveform):
            size = int(rng.choice([0, 1, 159, 160, 161, int(rng.integers(1, 4000))]))
            pieces.append(stream.feed(waveform[position:position + size]))
            position += size
        pieces.append(stream.flush())
        torch.testing.assert_close(torch.cat(pieces), whole, atol=1e-5, rtol=0)
    again = stream.feed(waveform[:1600])  # flush reset it: a new recording starts from zeros
    torch.testing.assert_close(again, whole[:10], atol=1e-5, rtol=0)


def test_a_one_khz_sine_peaks_in_the_mel_bin_around_one_khz():
    t = torch.arange(16000) / 16000
    feats = recording_features(0.5 * torch.sin(2 * math.pi * 1000 * t))
    mel = lambda f: 1127 * math.log(1 + f / 700)  # Kaldi's mel scale, bins evenly spaced from 20 Hz to 8 kHz
    centres = [mel(20) + (k + 1) * (mel(8000) - mel(20)) / 81 for k in range(80)]
    expected = min(range(80), key=lambda k: abs(centres[k] - mel(1000)))
    assert set(feats[10:-10].argmax(dim=1).tolist()) == {expected}
    assert feats[50, expected] > feats[50].median() + 10  # log energy far above the other bins


def test_silence_is_the_log_floor_and_bad_spans_are_refused(waveform):
    assert torch.allclose(recording_features(torch.zeros(1600)), torch.tensor(math.log(np.finfo(np.float32).eps)))
    with pytest.raises(ValueError, match="multiple of 160"):
        features_for_span(waveform, 100, 1000)
    with pytest.raises(ValueError, match="mono"):
        recording_features(torch.zeros(2, 1600))
