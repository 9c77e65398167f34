"""80-dim log-mel filterbank features (Kaldi-compatible, kaldi-native-fbank), exact under chunking.

Framing (hop = 160 samples = 10 ms, window = 400 samples = 25 ms at 16 kHz)::

    frame i covers samples [i*hop - (window - hop), i*hop + hop)        # LEFT context only
    samples before the recording start (negative indices) are zeros

so frame i "belongs" to the hop ``[i*hop, (i+1)*hop)`` and sees 15 ms of the past.  A recording of
``num_samples`` has ``T = ceil(num_samples / hop)`` frames; the last, partial hop is padded with zeros.
Kaldi processes every frame on its own (DC removal, pre-emphasis, window, FFT, mel, log), so the frames of
a span ``[start_sample, end_sample)`` (``start_sample`` a multiple of hop) are exactly frames
``start_sample/hop .. ceil(end_sample/hop)-1`` of the whole recording, provided the span is computed with
its ``window - hop`` samples of left context.  That is what :func:`features_for_span` and
:class:`StreamingFeatures` do; the tests check both against :func:`recording_features`.

Waveforms are float32 in [-1, 1]; ``log`` is floored at float32 epsilon (digital silence = -15.94).
"""

from __future__ import annotations

import numpy as np
import torch

from statecatcher.data.fbank import FeatureConfig, fbank, span_samples

__all__ = ["StreamingFeatures", "features_for_span", "recording_features"]


def _fbank(samples: np.ndarray, config: FeatureConfig) -> torch.Tensor:
    return torch.from_numpy(fbank(samples, config))


def _as_numpy(waveform: torch.Tensor) -> np.ndarray:
    if waveform.dim() != 1:
        raise ValueError(f"waveform must be mono [num_samples], got shape {tuple(waveform.shape)}")
    return waveform.detach().to(torch.float32).cpu().numpy()


def features_for_span(waveform: torch.Tensor, start_sample: int, end_sample: int,
                      config: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """Frames ``start_sample/hop .. ceil(end_sample/hop)-1`` of ``recording_features(waveform)``: ``[T, F]``.

    ``waveform`` is the whole recording ``[num_samples]``; the left context comes from it (zeros before
    sample 0, zeros after its end).  ``start_sample`` must be a multiple of hop.
    """
    return _fbank(span_samples(_as_numpy(waveform), start_sample, end_sample, config), config)


def recording_features(waveform: torch.Tensor, config: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """All ``ceil(num_samples / hop)`` frames of a recording ``[num_samples]``: ``[T, F]``."""
    return features_for_span(waveform, 0, int(waveform.shape[0]), config)


class StreamingFeatures:
    """Features of a recording fed piece by piece, equal to :func:`recording_features` of the whole.

    ``feed(samples[N])`` returns the frames whose hops are complete, ``[T_new, F]``; it carries the
    ``window - hop`` samples of left context and the partial hop.  ``flush()`` zero-pads the partial hop,
    returns its frame (``[0 or 1, F]``) and resets, ready for the next recording.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget the recording: the next sample fed is sample 0 (zeros as left context)."""
        self._buffer = np.zeros(self.config.left_context_samples, np.float32)

    def feed(self, samples: torch.Tensor) -> torch.Tensor:
        hop, context = self.config.hop_samples, self.config.left_context_samples
        self._buffer = np.concatenate([self._buffer, _as_numpy(samples)])
        complete = (len(self._buffer) - context) // hop
        feats = _fbank(self._buffer[:context + complete * hop], self.config)
        self._buffer = self._buffer[complete * hop:]
        return feats

    def flush(self) -> torch.Tensor:
        hop, context = self.config.hop_samples, self.config.left_context_samples
        partial = len(self._buffer) - context
        feats = _fbank(np.pad(self._buffer, (0, hop - partial)), self.config) if partial else torch.zeros(
            0, self.config.dim)
        self.reset()
        return feats
