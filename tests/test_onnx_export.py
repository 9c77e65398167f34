"""``statecatcher export`` + ``transcribe --runtime onnx``: the ONNX graphs with explicit state decode exactly the
tokens of the torch transcriber (lstm, rwkv7 and xlstm with CTC, lstm with an RNN-T head); errors are one line.

The models are tiny and randomly initialised with a fixed seed, with non-identity feature statistics (so the
normalisation baked into the graph is exercised) and a CTC projection scaled up so they emit many tokens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from statecatcher.data.fbank import FeatureConfig  # noqa: E402
from statecatcher.data.local import LocalDataSource  # noqa: E402
from statecatcher.decode.onnx_runtime import OnnxEncoder, OnnxTranscriber, OnnxTransducerParts  # noqa: E402
from statecatcher.decode.pack import PACK_FORMAT, load_model  # noqa: E402
from statecatcher.decode.streaming import Transcriber, transcribe_waveform  # noqa: E402
from statecatcher.export.heads import ExportError, head_kind  # noqa: E402
from statecatcher.export.onnx import export_onnx  # noqa: E402
from statecatcher.model import build_model  # noqa: E402
from statecatcher.plugins import get  # noqa: E402
from statecatcher.text import TextNormalizer  # noqa: E402
from statecatcher.tokenizer_utils import tokenizer_payload  # noqa: E402

ENCODER_OPTIONS = {
    "lstm": {"hidden_dim": 64, "num_layers": 2},
    "rwkv7": {"hidden_dim": 64, "num_layers": 2, "head_size": 16},
    "xlstm": {"hidden_dim": 64, "pattern": "m,s,l", "num_heads": 4},
}
TEXTS = ["the quick brown fox jumps over the lazy dog", "a stateful encoder carries its state across chunks",
         "long recordings and podcasts with many speakers"] * 20


def make_pack(folder: Path, encoder: str, loss: str = "ctc", seed: int = 0, loss_options: dict | None = None,
              encoder_options: dict | None = None) -> Path:
    """A model pack of a randomly initialised tiny ``encoder`` + ``loss`` model with a 32-piece tokenizer
    (``encoder_options`` are added to the encoder's test options)."""
    tokenizer = get("tokenizer", "sentencepiece").create()
    tokenizer.train(iter(TEXTS), 32, folder / "tokenizer")
    torch.manual_seed(seed)
    options = {**ENCODER_OPTIONS[encoder], **(encoder_options or {})}
    model = build_model(encoder=encoder, loss=loss, vocab_size=tokenizer.vocab_size, encoder_options=options,
                        loss_options=loss_options)
    model.feature_norm.set_stats(torch.linspace(-10, -6, 80), torch.linspace(2, 4, 80))
    with torch.no_grad():  # confident, varied argmaxes: many non-blank tokens (and blanks, for the transducer)
        if loss == "ctc":
            model.head.proj.weight.mul_(8)
        else:
            model.head.joiner.out.weight.mul_(4)
            model.head.joiner.enc_proj.weight.mul_(4)
    pack = {"format": PACK_FORMAT, "model": model.state_dict(), "vocab_size": tokenizer.vocab_size, "blank_id": 0,
            "config": {"encoder": encoder, "loss": loss, "encoder_options": options,
                       "loss_options": loss_options or {}},
            "tokenizer": tokenizer_payload("sentencepiece", {}, folder / "tokenizer"),
            "normalizer": TextNormalizer().to_dict(), "features": vars(FeatureConfig())}
    path = folder / f"{encoder}-{loss}-{len(loss_options or {})}-{len(encoder_options or {})}.pt"
    torch.save(pack, path)
    return path


def statecatcher(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "statecatcher", *args], capture_output=True, text=True)


MODELS = {"lstm": ("lstm", "ctc", None), "rwkv7": ("rwkv7", "ctc", None), "xlstm": ("xlstm", "ctc", None),
          "lstm-rnnt": ("lstm", "rnnt", {"predictor": "lstm"})}
# an LSTM with cell clipping (cell_clip) carries its stream position (a state leaf): clip points every 3 output frames,
# never aligned with the 64-frame graph chunks, and a bound random weights exceed
ENCODER_EXTRA = {"lstm-clip": {"cell_clip": 0.5, "clip_every": 3}}
MODELS["lstm-clip"] = ("lstm", "ctc", None)
# the front end's options: a convolution along the mel axis and the running mean per bin (a state leaf)
ENCODER_EXTRA["rwkv7-frontend"] = {"freq_channels": 4, "cmn_frames": 50}
MODELS["rwkv7-frontend"] = ("rwkv7", "ctc", None)


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory):
    """``(model label, pack path, export folder)``, exported through the CLI."""
    encoder, loss, loss_options = MODELS[request.param]
    folder = tmp_path_factory.mktemp(f"onnx-{request.param}")
    pack = make_pack(folder, encoder, loss, loss_options=loss_options, encoder_options=ENCODER_EXTRA.get(request.param))
    result = statecatcher("export", str(pack), str(folder / "export"))
    assert result.returncode == 0, result.stderr
    assert "match torch" in result.stdout
    return request.param, pack, folder / "export"


@pytest.fixture(scope="module")
def ten_minutes(tiny_corpus) -> torch.Tensor:
    """A 10-minute stream: the tiny corpus's episodes one after the other, repeated ``[9_600_000]``."""
    source = LocalDataSource(str(tiny_corpus))
    audio = torch.cat([r.load_audio() for split in ("train", "test") for r in source.recordings(split)])
    return audio.repeat(600 * 16_000 // audio.numel() + 1)[:600 * 16_000]


@pytest.mark.slow
def test_onnx_runtime_gives_the_torch_tokens_on_ten_minutes(exported, ten_minutes):
    label, pack, export_dir = exported
    torch_result = transcribe_waveform(Transcriber.from_checkpoint(pack), ten_minutes, 0.64)
    onnx_result = transcribe_waveform(OnnxTranscriber(export_dir, threads=1), ten_minutes, 0.64)
    ids = [t.id for t in torch_result.tokens]
    assert len(ids) > 1000 and len(set(ids)) >= 5, (label, len(ids), set(ids))
    assert [t.id for t in onnx_result.tokens] == ids
    assert [t.time for t in onnx_result.tokens] == [t.time for t in torch_result.tokens]
    assert onnx_result.text == torch_result.text


def test_the_graph_carries_the_state_across_chunks(exported):
    """Three graph calls with the state fed back equal torch over the three chunks in ONE call; the same chunk
    from a zero state differs (the state matters), and every encoder state leaf is an explicit input/output."""
    label, pack, export_dir = exported
    loaded = load_model(pack)
    graph = OnnxEncoder(export_dir, threads=1)
    frontend = ["frontend.stack", "frontend.stack_len", "frontend.conv"]
    expected_names = {"lstm": [*frontend, "h", "c"], "lstm-rnnt": [*frontend, "h", "c"],
                      "lstm-clip": [*frontend, "h", "c", "position"],
                      "rwkv7": [*frontend, *(f"layers.{i}.{k}" for i in range(2) for k in ("att_shift", "wkv",
                                                                                           "ffn_shift"))],
                      "rwkv7-frontend": [*frontend, "frontend.cmn_mean",
                                         *(f"layers.{i}.{k}" for i in range(2) for k in ("att_shift", "wkv",
                                                                                        "ffn_shift"))],
                      "xlstm": [*frontend, *(f"blocks.0.{k}" for k in ("C", "n", "m", "conv")),
                                *(f"blocks.1.{k}" for k in ("h", "c", "n", "m", "conv")),
                                *(f"blocks.2.{k}" for k in ("C", "n", "m"))]}
    assert graph.state_names == expected_names[label]
    if label == "lstm-rnnt":  # the predictor's state is explicit too: LSTM (h, c) and the last token
        assert OnnxTransducerParts(export_dir).state_names == ["h", "c", "last"]
    feats = torch.randn(1, 3 * 64, 80, generator=torch.Generator().manual_seed(1)) * 3 - 8  # raw log-mels
    head = loaded.model.head
    with torch.no_grad():
        out, _, _ = loaded.model.encode(feats, torch.tensor([feats.shape[1]]), loaded.model.encoder.init_state(1))
        whole = (head.log_probs(out) if label != "lstm-rnnt" else head.joiner.enc_proj(out)).numpy()[0]
    state, pieces = graph.init_state(), []
    for chunk in feats.split(64, dim=1):
        log_probs, state = graph.step(chunk.numpy(), state)
        pieces.append(log_probs[0])
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-4)
    fresh, _ = graph.step(feats[:, 64:128].numpy(), graph.init_state())
    assert np.abs(fresh[0] - whole[16:32]).max() > 0.1


@pytest.mark.slow
def test_transcribe_cli_runtime_onnx_writes_the_torch_json(exported, tiny_corpus, tmp_path):
    _, pack, export_dir = exported
    audio = next(iter(LocalDataSource(str(tiny_corpus)).recordings("train")))
    audio_path = tiny_corpus / f"{audio.id}.flac"
    outputs = {}
    for runtime, model in (("torch", pack), ("onnx", export_dir)):
        outputs[runtime] = tmp_path / f"{runtime}.json"
        result = statecatcher("transcribe", str(model), str(audio_path), "--runtime", runtime, "--threads", "1",
                              "--json", str(outputs[runtime]))
        assert result.returncode == 0, result.stderr
    torch_json, onnx_json = (json.loads(outputs[r].read_text()) for r in ("torch", "onnx"))
    assert torch_json["tokens"] and onnx_json == torch_json


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str, code: int = 1) -> None:
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line and not line.startswith(("Usage:", "Try "))]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert all(text in lines[0] for text in expected), lines[0]


def test_an_encoder_that_does_not_trace_is_one_error_line_and_leaves_nothing(tmp_path):
    """rwkv7 in its chunkwise form (what ``for_export`` avoids): the exporter's error, named, on one line."""
    loaded = load_model(make_pack(tmp_path, "rwkv7"))
    encoder = loaded.model.encoder
    encoder.for_export = lambda: encoder  # export the chunkwise scan as it is
    with pytest.raises(ExportError) as error:
        export_onnx(loaded, tmp_path / "out")
    assert str(error.value) == ("encoder 'rwkv7' does not export to ONNX: Exporting the operator "
                                "'aten::linalg_solve_triangular' to ONNX opset version 17 is not supported")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-*"))  # nothing half-written


def test_a_head_that_is_neither_ctc_nor_a_transducer_is_refused():
    with pytest.raises(ExportError, match="loss 'mystery' cannot be exported: only CTC heads"):
        head_kind(torch.nn.Linear(2, 2), "mystery")


def test_a_bad_chunk_size_is_one_line(tmp_path):
    ctc = make_pack(tmp_path, "lstm")
    assert_one_line_error(statecatcher("export", str(ctc), str(tmp_path / "b"), "--chunk-frames", "30"),
                          "--chunk-frames 30", "subsampling (4)")


def test_transcribe_runtime_onnx_rejects_a_folder_that_is_no_export(tmp_path):
    (tmp_path / "audio.wav").write_bytes(b"")
    result = statecatcher("transcribe", str(tmp_path), str(tmp_path / "audio.wav"), "--runtime", "onnx")
    assert_one_line_error(result, "not an ONNX export", "statecatcher export")
    result = statecatcher("transcribe", str(tmp_path), str(tmp_path / "audio.wav"), "--runtime", "onnx",
                          "--decoder", "beam")
    assert_one_line_error(result, "--runtime onnx", "greedily", code=2)
