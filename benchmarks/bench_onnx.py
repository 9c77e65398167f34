"""Row ``onnx``: real-time factor of ``transcribe --runtime onnx`` (onnxruntime) over the torch transcriber, 1 thread.

    python -m benchmarks onnx [--small]

The ``streaming`` row's ~2M-parameter lstm, rwkv7 (chunkwise in torch; recurrent in the graph, the form
``statecatcher export`` traces) and xlstm with a CTC head, and the lstm with an RNN-T head (LSTM predictor), random
weights, are exported with ``statecatcher.export.onnx``
(64-frame graph chunks) and stream the same 30 s synthetic recording in 0.5 s chunks: torch's ``Transcriber``
vs ``OnnxTranscriber``, both with 1 thread, both including the streaming fbank and the tokenizer.  Ratio =
onnxruntime RTF / torch RTF (below 1: onnxruntime is faster); ``same_tokens`` says whether both decoded the
same token ids.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.bench_encoders import equal_size_encoders
from benchmarks.bench_streaming import real_time_factor, trained_tokenizer

MODELS = {"lstm": ("lstm", "ctc", {}), "rwkv7": ("rwkv7 chunkwise", "ctc", {}), "xlstm": ("xlstm", "ctc", {}),
          "lstm + rnnt": ("lstm", "rnnt", {"predictor": "lstm"})}


def exported_pair(label: str, tokenizer_dir: Path, export_dir: Path):
    """``(torch Transcriber, OnnxTranscriber)`` of one randomly initialised model of ``MODELS``."""
    import torch

    from statecatcher.data.fbank import FeatureConfig
    from statecatcher.decode.onnx_runtime import OnnxTranscriber
    from statecatcher.decode.pack import LoadedModel
    from statecatcher.decode.streaming import Transcriber
    from statecatcher.export.onnx import export_onnx
    from statecatcher.model import build_model
    from statecatcher.text import TextNormalizer
    from statecatcher.tokenizer_utils import load_tokenizer, tokenizer_payload

    encoder_label, loss, loss_options = MODELS[label]
    name, options = equal_size_encoders()[encoder_label]
    payload = tokenizer_payload("sentencepiece", {}, tokenizer_dir)
    tokenizer = load_tokenizer(payload)
    torch.manual_seed(0)
    model = build_model(encoder=name, loss=loss, vocab_size=tokenizer.vocab_size, encoder_options=options,
                        loss_options=loss_options).eval()
    loaded = LoadedModel(model=model, tokenizer=tokenizer, normalizer=TextNormalizer(), features=FeatureConfig(),
                         config={"encoder": name, "encoder_options": options, "loss": loss,
                                 "loss_options": loss_options},
                         tokenizer_payload=payload)
    export_onnx(loaded, export_dir)
    return Transcriber(loaded), OnnxTranscriber(export_dir, threads=1)


def run(small: bool = False) -> list[dict]:
    """One result per encoder: onnxruntime RTF / torch RTF at 1 thread."""
    import torch

    from statecatcher.testing.dummies import make_recording

    audio_seconds = 2.0 if small else 30.0
    waveform = make_recording("stream", duration=audio_seconds, seed=11).load_audio()
    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory(prefix="statecatcher-bench-onnx-") as scratch:
        trained_tokenizer(Path(scratch) / "tokenizer")
        for label in list(MODELS)[:2] if small else MODELS:  # --small: lstm and rwkv7 (the smoke test's time)
            torch_side, onnx_side = exported_pair(label, Path(scratch) / "tokenizer", Path(scratch) / label)
            rtf = {}
            for runtime, transcriber in (("torch", torch_side), ("onnxruntime", onnx_side)):
                real_time_factor(transcriber, waveform[: 16_000], 1.0)  # warm-up: first-call allocations
                rtf[runtime] = real_time_factor(transcriber, waveform, audio_seconds)
            same = [t.id for t in torch_side.transcript().tokens] == [t.id for t in onnx_side.transcript().tokens]
            ratio = rtf["onnxruntime"] / rtf["torch"]
            print(f"onnx, {label}, 1 thread: onnxruntime RTF {rtf['onnxruntime']:.3f} / torch RTF "
                  f"{rtf['torch']:.3f} = {ratio:.2f} (same tokens: {same})", flush=True)
            tokens = len(torch_side.transcript().tokens)
            results.append({"name": f"{label}, 1 thread: onnxruntime RTF / torch RTF", "ratio": ratio,
                            "description": f"onnxruntime {rtf['onnxruntime']:.3g} vs torch {rtf['torch']:.3g} "
                                           f"(processing s / audio s, {audio_seconds:g} s, random weights, "
                                           f"{tokens} tokens)",
                            "onnxruntime_rtf": rtf["onnxruntime"], "torch_rtf": rtf["torch"], "same_tokens": same,
                            "tokens": tokens,
                            "threads": 1})
    return results
