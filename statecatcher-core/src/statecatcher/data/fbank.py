"""The numpy/kaldi-native-fbank core of :mod:`statecatcher.data.features` (no torch, so worker processes
start fast).  See that module for the framing; everything here works on float32 numpy arrays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from statecatcher.records import FRAME_SHIFT


@dataclass(frozen=True)
class FeatureConfig:
    """Front-end settings; ``frame_shift``/``frame_length`` in seconds, ``dither`` 0 keeps them deterministic.

    ``kind`` is ``fbank`` (``num_mel_bins`` log-mel energies, the default) or ``mfcc`` (``num_ceps`` cepstra of
    those mel bins, Kaldi's MFCC); :attr:`dim` is the feature size either way.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_shift: float = FRAME_SHIFT  # the shared frame grid (records.py); segments assume it
    frame_length: float = 0.025
    dither: float = 0.0
    kind: str = "fbank"
    num_ceps: int = 40

    def __post_init__(self):
        if self.kind not in ("fbank", "mfcc"):
            raise ValueError(f"features: kind must be fbank or mfcc, got {self.kind!r}")
        if self.kind == "mfcc" and not 0 < self.num_ceps <= self.num_mel_bins:
            raise ValueError(f"features: need 0 < num_ceps <= num_mel_bins, got {self.num_ceps}")

    @property
    def dim(self) -> int:
        """Values per frame: ``num_mel_bins`` (fbank) or ``num_ceps`` (mfcc)."""
        return self.num_ceps if self.kind == "mfcc" else self.num_mel_bins

    @property
    def hop_samples(self) -> int:
        return round(self.frame_shift * self.sample_rate)

    @property
    def window_samples(self) -> int:
        return round(self.frame_length * self.sample_rate)

    @property
    def left_context_samples(self) -> int:
        """Samples before a frame's own hop that its window sees (``window - hop``)."""
        return self.window_samples - self.hop_samples

    def frame_start_sample(self, seconds: float) -> int:
        """The first sample of the frame nearest to ``seconds`` (a span boundary on the frame grid)."""
        return round(seconds / self.frame_shift) * self.hop_samples

    def num_frames(self, num_samples: int) -> int:
        """Frames of a recording of ``num_samples`` samples: ``ceil(num_samples / hop)``."""
        return -(-num_samples // self.hop_samples)


@lru_cache(maxsize=8)
def _fbank_options(config: FeatureConfig):
    import kaldi_native_fbank as knf

    opts = knf.MfccOptions() if config.kind == "mfcc" else knf.FbankOptions()
    if config.kind == "mfcc":
        opts.num_ceps = config.num_ceps
    opts.frame_opts.samp_freq = config.sample_rate
    opts.frame_opts.frame_shift_ms = config.frame_shift * 1000
    opts.frame_opts.frame_length_ms = config.frame_length * 1000
    opts.frame_opts.dither = config.dither
    opts.frame_opts.snip_edges = True  # frame j = samples [j*hop, j*hop + window) of what we pass
    opts.mel_opts.num_bins = config.num_mel_bins
    return opts


def fbank(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Kaldi fbank (or MFCC) of ``samples`` (left context included): ``[(len - window)//hop + 1, F]`` float32."""
    import kaldi_native_fbank as knf

    online = knf.OnlineMfcc if config.kind == "mfcc" else knf.OnlineFbank
    extractor = online(_fbank_options(config))
    extractor.accept_waveform(config.sample_rate, samples)
    extractor.input_finished()
    frames = [extractor.get_frame(i) for i in range(extractor.num_frames_ready)]
    return np.stack(frames) if frames else np.zeros((0, config.dim), np.float32)


def timed_fbank(samples: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, float]:
    """:func:`fbank` and the seconds it took (what a worker process sends back)."""
    started = time.perf_counter()
    return fbank(samples, config), time.perf_counter() - started


def span_samples(samples: np.ndarray, start_sample: int, end_sample: int, config: FeatureConfig) -> np.ndarray:
    """What the frames of ``[start_sample, end_sample)`` see: left context + span, zero-padded to whole hops
    (zeros before sample 0 and after the end of ``samples``).  ``start_sample`` must be a multiple of hop."""
    hop, context = config.hop_samples, config.left_context_samples
    if start_sample % hop or start_sample < 0 or end_sample < start_sample:
        raise ValueError(f"span [{start_sample}, {end_sample}) must start at a multiple of {hop} samples "
                         "and not end before it starts")
    first = start_sample - context
    last = start_sample + -(-(end_sample - start_sample) // hop) * hop
    piece = samples[max(first, 0):min(last, len(samples))]
    return np.pad(piece, (max(0, -first), max(0, last - max(len(samples), first))))
