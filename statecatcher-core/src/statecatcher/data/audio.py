"""Audio decoding to float32 mono 16 kHz waveforms ``[num_samples]``.

soundfile (libsndfile) reads wav/flac/ogg; PyAV (ffmpeg) reads mp3/m4a/opus and anything soundfile
refuses; each one is the fallback of the other.  Channels are averaged, and other sample rates are
resampled with soxr (high quality).  Every failure raises :class:`AudioDecodeError` naming the file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from statecatcher.records import SAMPLE_RATE, Seconds

SOUNDFILE_FIRST = {".wav", ".flac", ".ogg", ".aiff", ".aif", ".au"}
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


class AudioDecodeError(Exception):
    """The audio of ``path`` could not be decoded; ``reason`` says why (both decoders' errors)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode audio {self.path}: {reason}")


def load_audio(path: str | Path, on_open: Callable[[], object] | None = None) -> torch.Tensor:
    """Decode the file at ``path`` to a float32 mono waveform ``[num_samples]`` at 16 kHz.

    ``on_open`` is called once the decoder has opened the file, just before it decodes the samples (a long call
    into C that releases the GIL): work started there, e.g. the next download, runs its Python while this thread
    decodes instead of taking the GIL from it while it opens the file.  Called again if the first decoder fails
    and the other one opens the file."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(path, "no such file")
    return _decode(str(path), str(path), path.suffix.lower(), on_open or _nothing)


def _nothing() -> None:
    return None


def decode_audio_bytes(data: bytes, name_hint: str) -> torch.Tensor:
    """Decode an in-memory file; ``name_hint`` (a file name or URL) picks the decoder and names errors."""
    return _decode(data, name_hint, Path(name_hint.split("?")[0]).suffix.lower())


def audio_duration(path: str | Path) -> tuple[Seconds, int]:
    """``(duration, native_sample_rate)`` from the file's header, without decoding the samples."""
    import soundfile

    try:
        info = soundfile.info(str(path))
        return info.frames / info.samplerate, int(info.samplerate)
    except Exception:  # noqa: BLE001 - not a libsndfile format: ask ffmpeg
        pass
    try:
        import av
    except ImportError as error:
        raise AudioDecodeError(path, "soundfile cannot read it and PyAV is not installed") from error
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:  # no header duration (some streams): decode to count
                return len(load_audio(path)) / SAMPLE_RATE, SAMPLE_RATE
            return duration, int(stream.rate)
    except (av.FFmpegError, IndexError) as error:
        raise AudioDecodeError(path, f"no readable audio stream ({error})") from error


def _decode(source: str | bytes, name: str, suffix: str, on_open: Callable[[], object] = _nothing) -> torch.Tensor:
    """``source``: a path or the file's bytes.  libsndfile opens a path itself: given a Python file object it
    calls back into Python, taking the GIL, for every read, and stalls behind the download threads."""
    decoders = [_read_soundfile, _read_pyav]
    if suffix not in SOUNDFILE_FIRST:
        decoders.reverse()
    reasons = []
    for decoder in decoders:
        try:
            samples, rate = decoder(source if isinstance(source, str) else io.BytesIO(source), on_open)
            break
        except Exception as error:  # noqa: BLE001 - collected and reported below
            reasons.append(f"{decoder.__name__.removeprefix('_read_')}: {error}")
    else:
        raise AudioDecodeError(name, "; ".join(reasons))
    if samples.size == 0:
        raise AudioDecodeError(name, "no samples")
    return torch.from_numpy(resample_to_16k(samples, rate))


def _read_soundfile(file: str | BinaryIO, on_open: Callable[[], object]) -> tuple[np.ndarray, int]:
    import soundfile

    with soundfile.SoundFile(file) as opened:
        on_open()
        samples, rate = opened.read(dtype="float32", always_2d=True), opened.samplerate
    return (samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1)), int(rate)


def _read_pyav(file: str | BinaryIO, on_open: Callable[[], object]) -> tuple[np.ndarray, int]:
    import av

    if isinstance(file, str):  # a path handed to ffmpeg could read as a protocol ("data:", "concat:")
        with open(file, "rb") as opened:
            return _read_pyav(opened, on_open)
    with av.open(file) as container:
        stream = container.streams.audio[0]
        rate = int(stream.rate)
        on_open()
        to_float_mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(stream):
            chunks.extend(out.to_ndarray().reshape(-1) for out in to_float_mono.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in to_float_mono.resample(None))
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), rate


def resample_to_16k(samples: np.ndarray, rate: float) -> np.ndarray:
    """``samples`` taken at ``rate`` Hz, resampled to 16 kHz (soxr, high quality), contiguous float32."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if rate == SAMPLE_RATE:
        return samples
    import soxr

    return np.ascontiguousarray(soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ"), dtype=np.float32)
