"""The transcribe_length row's interleaving: the long stream is fed exactly as in one go, the short files whole."""

from __future__ import annotations

import torch

from benchmarks.bench_streaming import CHUNK_SECONDS
from benchmarks.bench_transcribe_length import SAMPLE_RATE, interleaved, stream_seconds


class RecordingTranscriber:
    """Keeps what it was fed: the chunks (their first sample and length) and how often it finished."""

    def __init__(self):
        self.streams: list[list[tuple[float, int]]] = []
        self.finished = 0

    def reset(self):
        self.streams.append([])
        self.final_ids = []

    def feed(self, chunk):
        self.streams[-1].append((float(chunk[0]), chunk.numel()))

    def finish(self):
        self.finished += 1


def test_the_long_stream_is_fed_in_pieces_exactly_as_in_one_go_with_whole_short_files_between():
    noise = torch.arange(60 * SAMPLE_RATE, dtype=torch.float32)
    alone = RecordingTranscriber()
    stream_seconds(alone, noise, 2.3)
    long, short = RecordingTranscriber(), RecordingTranscriber()
    interleaved(long, short, noise, short=0.2, long=2.3, short_files=4)
    assert long.streams == alone.streams and long.finished == 1  # same chunks, same order, one finish
    assert sum(size for _, size in long.streams[0]) == int(2.3 * 60 * SAMPLE_RATE)
    assert all(size == int(CHUNK_SECONDS * SAMPLE_RATE) for _, size in long.streams[0][:-1])
    one_short = RecordingTranscriber()
    stream_seconds(one_short, noise, 0.2)
    assert short.streams == one_short.streams * 4 and short.finished == 4  # four whole short files
