"""Row ``transcribe_length``: the real-time factor of a long stream over that of a short one (goal <= 1.1).

    python -m benchmarks transcribe_length [--small]

A ``Transcriber`` streams noise in 0.5 s chunks (a 1-minute buffer, repeated; never the whole file in memory)
through a small random-weight LSTM + CTC model (64 hidden units, so decoding text is a visible share of the
time; output layer sharpened 10x so that greedy decoding emits about 9 tokens per second, more than speech
has) and the ``streaming`` row's sentencepiece tokenizer.  RTF = processing s / audio s, in this process's CPU
seconds (other processes on a shared machine hardly move it; the wall-clock ratio is printed beside it); the
ratio is the long stream's RTF over the short one's, both measured in this run (a transcriber that re-decodes
its whole token list on every chunk grows linearly in length here).  Greedy compares 60 minutes with 1 minute (--small:
3 with 1); the CTC prefix beam search (beam 4) compares 10 minutes with 1 (--small: 2 with 1).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.bench_streaming import CHUNK_SECONDS, trained_tokenizer

SAMPLE_RATE = 16_000


def stream_seconds(transcriber, noise, minutes: float) -> tuple[float, float, int]:
    """Stream ``minutes`` of ``noise`` (repeated) through ``transcriber``; (CPU seconds, wall seconds, tokens)."""
    import torch

    step, total = int(CHUNK_SECONDS * SAMPLE_RATE), int(minutes * 60 * SAMPLE_RATE)
    transcriber.reset()
    started, started_cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for begin in range(0, total, step):
            offset = begin % noise.numel()
            transcriber.feed(noise[offset:offset + min(step, total - begin)])
        transcriber.finish()
    return time.process_time() - started_cpu, time.perf_counter() - started, len(transcriber.final_ids)


def length_ratio(label: str, transcriber, noise, short: float, long: float) -> dict:
    stream_seconds(transcriber, noise, 0.1)  # warm-up: first-call allocations
    shorts = sorted(stream_seconds(transcriber, noise, short)[:2] for _ in range(3))
    short_cpu, short_wall = shorts[1]  # the median of three: a short run is the noisier one
    long_cpu, long_wall, long_tokens = stream_seconds(transcriber, noise, long)
    short_rtf, long_rtf = short_cpu / (short * 60), long_cpu / (long * 60)
    ratio, wall_ratio = long_rtf / short_rtf, (long_wall / long) / (short_wall / short)
    print(f"transcribe_length, {label}: CPU RTF {long:g} min {long_rtf:.4f} / {short:g} min {short_rtf:.4f} = "
          f"{ratio:.3f} (wall clock {wall_ratio:.3f}; {long_tokens} tokens, {transcriber.decoded_tokens} ids "
          f"decoded)", flush=True)
    return {"name": f"{label}: RTF {long:g} min / RTF {short:g} min", "ratio": ratio,
            "description": f"CPU-time RTF {long_rtf:.4f} vs {short_rtf:.4f} (wall-clock ratio {wall_ratio:.3g}); "
                           f"{long_tokens} tokens, lstm 64 hidden + CTC, random weights, 1 thread",
            "long_rtf": long_rtf, "short_rtf": short_rtf, "wall_ratio": wall_ratio, "long_tokens": long_tokens,
            "threads": 1}


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
    greedy = Transcriber(loaded)
    beam = Transcriber(loaded, search=model.head.beam_search(BeamOptions(beam_size=4), None))
    return [length_ratio("greedy", greedy, noise, 1, 3 if small else 60),
            length_ratio("beam 4", beam, noise, 1, 2 if small else 10)]
