"""Row ``streaming``: real-time factor of streaming transcription per encoder on CPU, with 1 and 2 threads.

    python -m benchmarks streaming [--small]

``statecatcher.decode.streaming.transcribe_waveform`` streams a synthetic recording
(``statecatcher.testing.dummies``, 30 s) in 0.5 s chunks through a ``Transcriber``: streaming fbank features,
the encoder with its carried state, CTC greedy decoding and the sentencepiece tokenizer.  The models are the
``encoders`` row's ~2M-parameter encoders with a CTC head and random weights (the real-time factor hardly
depends on the weights; an untrained head emits a token at most frames, so decoding text costs a little
more than with a trained one).  RTF = processing seconds / audio seconds: below 1 is faster than real time.

For lstm with 1 thread the row also streams with CTC prefix beam search (beam 8, then beam 8 with a 3-gram
word LM trained on the dummy corpus's transcripts): the beam's cost is its RTF minus the greedy RTF.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.bench_encoders import equal_size_encoders

CHUNK_SECONDS = 0.5
VOCAB_SIZE = 32


def dummy_texts() -> list[str]:
    """The dummy corpus's normalised transcripts (the tokenizer's and the beam row's LM's training text)."""
    from statecatcher.testing.dummies import make_recordings
    from statecatcher.text import TextNormalizer

    normalizer = TextNormalizer()
    return [normalizer(segment.text) for recording in make_recordings(20, seed=5) for segment in recording.segments]


def trained_tokenizer(model_dir: Path):
    """A sentencepiece tokenizer with ``VOCAB_SIZE`` ids trained on the dummy corpus's transcripts."""
    import statecatcher

    tokenizer = statecatcher.get_tokenizer("sentencepiece")
    tokenizer.train(dummy_texts(), VOCAB_SIZE, model_dir)
    return tokenizer


def beam_results(loaded, waveform, audio_seconds: float, greedy_rtf: float) -> list[dict]:
    """RTF of beam 8 without and with a 3-gram LM (1 thread), each with its delta over greedy decoding."""
    from statecatcher.decode.beam import BeamOptions
    from statecatcher.decode.lm_fusion import WordLMFusion
    from statecatcher.decode.ngram import NgramLM
    from statecatcher.decode.streaming import Transcriber

    lm = NgramLM.estimate([text.split() for text in dummy_texts()], order=3)
    results = []
    for label, fusion in (("beam 8", None), ("beam 8 + 3-gram", WordLMFusion.from_tokenizer(lm, loaded.tokenizer))):
        transcriber = Transcriber(loaded, search=loaded.model.head.beam_search(BeamOptions(beam_size=8), fusion))
        real_time_factor(transcriber, waveform[: 16_000], 1.0)
        rtf = real_time_factor(transcriber, waveform, audio_seconds)
        print(f"streaming, lstm, 1 thread, {label}: RTF {rtf:.3f} (greedy {greedy_rtf:.3f})", flush=True)
        results.append({"name": f"lstm, 1 thread, {label}: RTF", "ratio": rtf, "greedy_rtf": greedy_rtf,
                        "description": f"CTC prefix beam search; RTF {rtf - greedy_rtf:+.3f} over greedy "
                                       f"({greedy_rtf:.3g}), random weights", "threads": 1})
    return results


def real_time_factor(transcriber, waveform, audio_seconds: float) -> float:
    from statecatcher.decode.streaming import transcribe_waveform

    started = time.perf_counter()
    transcribe_waveform(transcriber, waveform, CHUNK_SECONDS)
    return (time.perf_counter() - started) / audio_seconds


def run(small: bool = False) -> list[dict]:
    """One result per encoder and thread count: its real-time factor."""
    import torch

    from statecatcher.data.fbank import FeatureConfig
    from statecatcher.decode.pack import LoadedModel
    from statecatcher.decode.streaming import Transcriber
    from statecatcher.model import build_model
    from statecatcher.testing.dummies import make_recording
    from statecatcher.text import TextNormalizer

    audio_seconds = 2.0 if small else 30.0
    waveform = make_recording("stream", duration=audio_seconds, seed=11).load_audio()
    with tempfile.TemporaryDirectory(prefix="statecatcher-bench-tok-") as scratch:
        tokenizer = trained_tokenizer(Path(scratch))
    results = []
    for label, (name, options) in equal_size_encoders().items():
        torch.manual_seed(0)
        model = build_model(encoder=name, loss="ctc", vocab_size=tokenizer.vocab_size, encoder_options=options).eval()
        loaded = LoadedModel(model=model, tokenizer=tokenizer, normalizer=TextNormalizer(), features=FeatureConfig(),
                             config={"encoder": name, "encoder_options": options, "loss": "ctc"})
        transcriber = Transcriber(loaded)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            real_time_factor(transcriber, waveform[: 16_000], 1.0)  # warm-up: first-call allocations
            rtf = real_time_factor(transcriber, waveform, audio_seconds)
            print(f"streaming, {label}, {threads} thread(s): RTF {rtf:.3f}", flush=True)
            results.append({"name": f"{label}, {threads} thread{'s' * (threads > 1)}: RTF", "ratio": rtf,
                            "description": f"processing s / audio s, {audio_seconds:g} s in {CHUNK_SECONDS:g} s "
                                           f"chunks, CTC head, random weights", "threads": threads})
            if label == "lstm" and threads == 1:
                results += beam_results(loaded, waveform, audio_seconds, rtf)
    return results
