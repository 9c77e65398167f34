"""Row ``decode_features``: mp3 -> 16 kHz float -> 80-dim fbank, audio seconds per second on one core.

    python -m benchmarks decode_features [--small]

A synthetic recording (``statecatcher.testing.dummies``, 5 minutes; --small: 20 s), resampled to 44.1 kHz
stereo and written as a 128 kbit/s mp3 with PyAV (the shape of a podcast file), is decoded the way the data
path decodes it (``statecatcher.data.audio.load_audio``: PyAV's bundled ffmpeg, channels averaged, soxr to
16 kHz) and then turned into the training features (``recording_features``: kaldi-native-fbank, 80 mel bins,
10 ms hop).  Throughput is audio seconds per CPU second of this process with one torch thread, i.e. per core
(the best of three runs).  A GPU that trains at 1,000x real time needs ``1000 / (audio s/s per core)`` cores
to feed it; that is the ``cores`` result.  torchcodec is not compared: its wheel needs the system's FFmpeg
libraries, which this project does not assume (PyAV bundles its own).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

GPU_REAL_TIME = 1000.0  # audio seconds per second a training GPU consumes
MP3_RATE = 44_100


def write_podcast_mp3(path: Path, seconds: float) -> Path:
    """A 44.1 kHz stereo 128 kbit/s mp3 of a dummy recording's speech-like tones."""
    import av
    import numpy as np
    import soxr

    from statecatcher.testing.dummies import make_recording

    mono = soxr.resample(make_recording("mp3", duration=seconds, seed=3).load_audio().numpy(), 16_000, MP3_RATE)
    stereo = np.stack([mono, 0.8 * mono]).astype(np.float32)  # [2, N]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libmp3lame", rate=MP3_RATE, layout="stereo")
        stream.bit_rate = 128_000
        frame_size = 1152
        for begin in range(0, stereo.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(stereo[:, begin:begin + frame_size].copy(), format="fltp",
                                               layout="stereo")
            frame.rate = MP3_RATE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def cpu_seconds(work, repeats: int = 3) -> float:
    """The fewest CPU seconds (this process, all threads) ``work()`` took in ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def run(small: bool = False) -> list[dict]:
    import torch

    from statecatcher.data.audio import load_audio
    from statecatcher.data.features import recording_features

    torch.set_num_threads(1)
    seconds = 20.0 if small else 300.0
    with tempfile.TemporaryDirectory(prefix="statecatcher-bench-mp3-") as scratch:
        mp3 = write_podcast_mp3(Path(scratch) / "episode.mp3", seconds)
        waveform = load_audio(mp3)
        audio_seconds = len(waveform) / 16_000
        decode = cpu_seconds(lambda: load_audio(mp3))
        features = cpu_seconds(lambda: recording_features(waveform))
        both = cpu_seconds(lambda: recording_features(load_audio(mp3)))
    decode_rate, features_rate, both_rate = (audio_seconds / s for s in (decode, features, both))
    cores = GPU_REAL_TIME / both_rate
    print(f"decode_features, {audio_seconds:.0f} s of 44.1 kHz stereo mp3, audio s per CPU s: PyAV decode "
          f"{decode_rate:.0f}, fbank {features_rate:.0f}, decode + fbank {both_rate:.0f}; {cores:.1f} cores feed "
          f"a GPU at {GPU_REAL_TIME:g}x real time", flush=True)
    common = f"{audio_seconds:.0f} s of 44.1 kHz stereo 128 kbit/s mp3, 1 thread, best of 3"
    return [
        {"name": "decode + fbank: audio s/s per core", "ratio": both_rate, "threads": 1,
         "description": f"mp3 -> 16 kHz float -> 80-dim fbank, audio s per CPU s; {common}"},
        {"name": "PyAV decode alone: audio s/s per core", "ratio": decode_rate, "threads": 1,
         "description": f"mp3 -> 16 kHz float (PyAV + soxr), audio s per CPU s; {common}"},
        {"name": "decode + fbank / PyAV decode alone", "ratio": both_rate / decode_rate,
         "description": f"fbank alone {features_rate:.0f} audio s/s per core"},
        {"name": f"cores per GPU at {GPU_REAL_TIME:g}x real time", "ratio": cores,
         "description": f"{GPU_REAL_TIME:g} / decode + fbank audio s/s per core ({both_rate:.0f})"},
    ]
