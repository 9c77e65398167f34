"""statecatcher's benchmarks: every row prints ratios measured in one run on one machine.

    python -m benchmarks                      # every row (about 13 minutes on 2 CPU cores)
    python -m benchmarks memory losses --small

A row is a function ``row(small: bool) -> list[dict]``; each dict is one result with a ``name``, a
``ratio`` (finite, positive) and a ``description`` saying what the ratio divides by what, plus the raw
numbers behind it.  ``ROWS`` maps a row's name to its ``"module:function"`` (imported only when the row
runs) and a one-line summary.  docs/performance.md explains every row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    name: str
    target: str  # "benchmarks.module:function", called as function(small) -> list[dict]
    summary: str

    def load(self) -> Callable[[bool], list[dict]]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


ROWS = {row.name: row for row in (
    Row("memory", "benchmarks.bench_memory_context:run",
        "peak RSS of stateful training over 1/10/60 min of audio vs full-sequence training"),
    Row("data_path", "benchmarks.bench_data_path:bench_data_path",
        "audio s/s of the speechcatcher client (keep-alive on/off) over loopback vs local files"),
    Row("data_wait", "benchmarks.bench_data_wait:run", "% of step time the trainer waits for data"),
    Row("encoders", "benchmarks.bench_encoders:run",
        "fwd+bwd frames/s of lstm, xlstm, rwkv7 and lucyrnn (chunkwise and recurrent) at ~2M parameters"),
    Row("kernels", "benchmarks.bench_kernels:run",
        "fwd+bwd time of the RWKV WKV kernels (chunkwise by chunk_len vs recurrent) and of the sLSTM loop"),
    Row("lstm_lanes", "benchmarks.bench_lstm_lanes:run",
        "lstm fwd+bwd time with 4 lanes of unequal length vs equal length, and vs one lane"),
    Row("losses", "benchmarks.bench_losses:run", "time and peak memory of CTC and RNN-T backends (full, pruned)"),
    Row("streaming", "benchmarks.bench_streaming:run", "real-time factor of streaming transcription per encoder"),
    Row("onnx", "benchmarks.bench_onnx:run",
        "real-time factor of transcribe --runtime onnx (onnxruntime) over torch, 1 thread, lstm and rwkv7"),
    Row("decode_features", "benchmarks.bench_decode_features:run",
        "mp3 -> 16 kHz -> 80-dim fbank audio s/s per core, vs PyAV decode alone; cores per GPU at 1000x"),
    Row("transcribe_length", "benchmarks.bench_transcribe_length:run",
        "real-time factor of transcribing a 60-min stream over that of a 1-min stream (greedy; beam: 10 min)"),
)}
