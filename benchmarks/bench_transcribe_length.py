"""Row ``transcribe_length``: the real-time factor of a long stream over that of a short one (goal <= 1.1).

    python -m benchmarks transcribe_length [--small]

A ``Transcriber`` streams noise in 0.5 s chunks (a 1-minute buffer, repeated; never the whole file in memory)
through a small random-weight LSTM + CTC model (64 hidden units, so decoding text is a visible share of the
time; output layer sharpened 10x so that greedy decoding emits about 9 tokens per second, more than speech
has) and the ``streaming`` row's sentencepiece tokenizer.  RTF = processing s / audio s, in this process's CPU
seconds (other processes on a shared machine hardly move it; the wall-clock ratio is printed beside it); the
ratio is the long stream's RTF over the short one's (a transcriber that re-decodes its whole token list on
every chunk grows linearly in length here).  The short file is transcribed :data:`SHORT_FILES` times by a
second transcriber *between pieces of the long stream*, and its median RTF is the reference: both sides see
the same machine over the same minutes (measured one after the other, a slow spell during the long stream
read as growth: 1.16 once, 0.89 the next).  Greedy compares 60 minutes with 1 minute (--small: 3 with 1);
the CTC prefix beam search (beam 4) compares 10 minutes with 1 (--small: 2 with 1).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_streaming import CHUNK_SECONDS, trained_tokenizer

SAMPLE_RATE = 16_000


SHORT_FILES = 5


def feed_seconds(transcriber, noise, begin: int, end: int, finish: bool = False) -> tuple[float, float]:
    """Feed samples ``begin:end`` of the stream (``noise`` repeated) in chunks, then ``finish`` if asked;
    (CPU seconds, wall seconds) spent in the transcriber."""
    import torch

    step = int(CHUNK_SECONDS * SAMPLE_RATE)
    started, started_cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for position in range(begin, end, step):
            offset = position % noise.numel()
            transcriber.feed(noise[offset:offset + min(step, end - position)])
        if finish:
            transcriber.finish()
    return time.process_time() - started_cpu, time.perf_counter() - started


def stream_seconds(transcriber, noise, minutes: float) -> tuple[float, float, int]:
    """Stream ``minutes`` of ``noise`` (repeated) through ``transcriber``; (CPU seconds, wall seconds, tokens)."""
    transcriber.reset()
    cpu, wall = feed_seconds(transcriber, noise, 0, int(minutes * 60 * SAMPLE_RATE), finish=True)
    return cpu, wall, len(transcriber.final_ids)


def interleaved(long_transcriber, short_transcriber, noise, short: float, long: float,
                short_files: int = SHORT_FILES) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """One ``long``-minute stream in ``short_files`` pieces, a whole ``short``-minute file before each piece;
    ((long CPU s, long wall s), [(short CPU s, short wall s), ...])."""
    total, step = int(long * 60 * SAMPLE_RATE), int(CHUNK_SECONDS * SAMPLE_RATE)
    bounds = [step * (-(-total // step) * i // short_files) for i in range(short_files)] + [total]  # on chunks
    long_transcriber.reset()
    long_cpu = long_wall = 0.0
    shorts = []
    for piece, (begin, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
        shorts.append(stream_seconds(short_transcriber, noise, short)[:2])
        cpu, wall = feed_seconds(long_transcriber, noise, begin, end, finish=piece == short_files - 1)
        long_cpu, long_wall = long_cpu + cpu, long_wall + wall
    return (long_cpu, long_wall), shorts


def length_ratio(label: str, make_transcriber, noise, short: float, long: float) -> dict:
    long_transcriber, short_transcriber = make_transcriber(), make_transcriber()
    for transcriber in (long_transcriber, short_transcriber):
        stream_seconds(transcriber, noise, 0.1)  # warm-up: first-call allocations
    (long_cpu, long_wall), shorts = interleaved(long_transcriber, short_transcriber, noise, short, long)
    short_cpu, short_wall = (statistics.median(values) for values in zip(*shorts, strict=True))
    short_rtf, long_rtf = short_cpu / (short * 60), long_cpu / (long * 60)
    spread = [cpu / (short * 60) for cpu, _ in shorts]
    ratio, wall_ratio = long_rtf / short_rtf, (long_wall / long) / (short_wall / short)
    long_tokens = len(long_transcriber.final_ids)
    print(f"transcribe_length, {label}: CPU RTF {long:g} min {long_rtf:.4f} / {short:g} min {short_rtf:.4f} "
          f"(median of {len(shorts)}, {min(spread):.4f}-{max(spread):.4f}) = {ratio:.3f} (wall clock "
          f"{wall_ratio:.3f}; {long_tokens} tokens, {long_transcriber.decoded_tokens} ids decoded)", flush=True)
    return {"name": f"{label}: RTF {long:g} min / RTF {short:g} min", "ratio": ratio,
            "description": f"CPU-time RTF {long_rtf:.4f} vs {short_rtf:.4f} (median of {len(shorts)} files "
                           f"between pieces of the long one, {min(spread):.4f}-{max(spread):.4f}; wall-clock "
                           f"ratio {wall_ratio:.3g}); {long_tokens} tokens, lstm 64 hidden + CTC, random "
                           "weights, 1 thread",
            "long_rtf": long_rtf, "short_rtf": short_rtf, "short_rtfs": spread, "wall_ratio": wall_ratio,
            "long_tokens": long_tokens, "threads": 1}


def run(small: bool = False) -> list[dict]:
    """Greedy and beam-search length ratios."""
    import torch

    from statecatcher.data.fbank import FeatureConfig
    from statecatcher.decode.beam import BeamOptions
    from statecatcher.decode.pack import LoadedModel
    from statecatcher.decode.streaming import Transcriber
    from statecatcher.model import build_model
    from statecatcher.text import TextNormalizer

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="statecatcher-bench-tok-") as scratch:
        tokenizer = trained_tokenizer(Path(scratch))
    torch.manual_seed(0)
    options = {"hidden_dim": 64, "num_layers": 1}
    model = build_model(encoder="lstm", loss="ctc", vocab_size=tokenizer.vocab_size, encoder_options=options).eval()
    with torch.no_grad():  # sharper outputs: the best token changes often, so greedy CTC emits ~9 tokens/s
        model.head.proj.weight *= 10
    loaded = LoadedModel(model=model, tokenizer=tokenizer, normalizer=TextNormalizer(), features=FeatureConfig(),
                         config={"encoder": "lstm", "encoder_options": options, "loss": "ctc"})
    noise = torch.randn(60 * SAMPLE_RATE, generator=torch.Generator().manual_seed(0)) * 0.05
    def beam() -> Transcriber:
        return Transcriber(loaded, search=model.head.beam_search(BeamOptions(beam_size=4), None))

    return [length_ratio("greedy", lambda: Transcriber(loaded), noise, 1, 3 if small else 60),
            length_ratio("beam 4", beam, noise, 1, 2 if small else 10)]
