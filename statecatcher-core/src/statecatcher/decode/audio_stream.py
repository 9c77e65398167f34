"""Read audio of any length in fixed-size 16 kHz chunks, in constant memory.

libsndfile formats (wav, flac, ogg) are read block by block and resampled with soxr's streaming resampler;
everything else is decoded packet by packet with PyAV (ffmpeg), whose resampler delivers 16 kHz mono.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..data.audio import SOUNDFILE_FIRST, AudioDecodeError
from ..records import SAMPLE_RATE


def iter_audio_chunks(path: str | Path, chunk_seconds: float) -> Iterator[torch.Tensor]:
    """Yield float32 mono chunks ``[<= chunk_seconds * 16000]`` covering the whole file, in order."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(path, "no such file")
    block = max(1, int(round(chunk_seconds * SAMPLE_RATE)))
    reader = _soundfile_blocks if path.suffix.lower() in SOUNDFILE_FIRST else _pyav_blocks
    try:
        yield from _rechunk(reader(path, block), block)
    except AudioDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the decoders raise many types; name the file
        raise AudioDecodeError(path, f"{type(exc).__name__}: {exc}") from exc


def _soundfile_blocks(path: Path, block: int) -> Iterator[np.ndarray]:
    import soundfile
    import soxr

    with soundfile.SoundFile(str(path)) as f:
        resampler = soxr.ResampleStream(f.samplerate, SAMPLE_RATE, 1, dtype="float32") \
            if f.samplerate != SAMPLE_RATE else None
        native_block = max(1, block * f.samplerate // SAMPLE_RATE)
        while True:
            data = f.read(native_block, dtype="float32", always_2d=True)
            last = len(data) < native_block
            mono = data.mean(axis=1)
            yield resampler.resample_chunk(mono, last=last) if resampler else mono
            if last:
                return


def _pyav_blocks(path: Path, block: int) -> Iterator[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioDecodeError(path, "no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)


def _rechunk(pieces: Iterator[np.ndarray], block: int) -> Iterator[torch.Tensor]:
    buffer: list[np.ndarray] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += len(piece)
        while held >= block:
            joined = np.concatenate(buffer)
            yield torch.from_numpy(joined[:block].copy())
            buffer, held = [joined[block:]], len(joined) - block
    if held:
        yield torch.from_numpy(np.concatenate(buffer).copy())
