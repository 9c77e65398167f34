"""``statecatcher export``: a trained CTC model as one ONNX graph with its carried state as explicit tensors.

The graph ``encoder.onnx`` is one streaming step of ``chunk_frames`` feature frames (10 ms each)::

    feats [1, chunk_frames, F]  +  state inputs   ->   log_probs [1, chunk_frames / subsampling, V]  +  state outputs

``feature_norm`` (the model's mean / inverse-std buffers) is baked into the graph, so a runtime feeds raw
log-mel frames.  Every leaf of the encoder's state pytree (front-end frame stack and conv cache included) is
an input ``in.<path>`` and an output ``out.<path>`` of the same shape and dtype (``<path>`` as in
:mod:`statecatcher.export.state_io`); a runtime feeds each output back as the next chunk's input and starts
from zeros.  The CTC greedy search (and its one-token state) runs in the runtime
(:mod:`statecatcher.decode.onnx_runtime`), which zero-pads the last chunk and keeps only its real frames.

Beside the graph: ``model.json`` (format, shapes, feature config, state names, blank id, tokenizer plugin),
``tokens.txt`` (``piece id`` per line, as sherpa-onnx reads it) and ``tokenizer/`` (the tokenizer's files).

The TorchScript-based exporter (``dynamo=False``) traces the model at one chunk shape; the export is then
checked against torch on a few chunks of random features with a carried state (:func:`check_export`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..decode.onnx_runtime import EXPORT_FORMAT, META_FILE
from ..decode.pack import LoadedModel
from ..state import leaves
from .state_io import leaf_names, unflatten

GRAPH_FILE, TOKENS_FILE, TOKENIZER_DIR = "encoder.onnx", "tokens.txt", "tokenizer"
OPSET = 17


class ExportError(Exception):
    """A model that cannot be exported; the message is one line naming the encoder, loss or option."""


class EncoderStep(nn.Module):
    """``(feats [1, T, F], *state leaves) -> (log_probs [1, T/s, V], *new state leaves)`` for a fixed ``T``."""

    def __init__(self, model: nn.Module, template: Any):
        super().__init__()
        self.model, self.template = model, template

    def forward(self, feats: torch.Tensor, *state_leaves: torch.Tensor):
        lengths = torch.full((1,), feats.shape[1], dtype=torch.long)
        out, _, state = self.model.encode(feats, lengths, unflatten(self.template, state_leaves))
        return (self.model.head.log_probs(out), *leaves(state))


def export_onnx(loaded: LoadedModel, out_dir: str | Path, chunk_frames: int = 64) -> float:
    """Write ``encoder.onnx``, ``model.json``, ``tokens.txt`` and ``tokenizer/`` to ``out_dir`` and check the graph
    against torch (:func:`check_export`, whose largest difference it returns).  Built in a temporary sibling
    folder and moved into place, so a failed export leaves nothing behind; an existing export is replaced."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / META_FILE).is_file():
        raise ExportError(f"{out_dir}: exists and is not an ONNX export; choose an empty or new folder")
    _check_chunk_frames(chunk_frames, loaded.model.subsampling)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        _export_graph(loaded, scratch, chunk_frames)
        worst = check_export(loaded, scratch)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(scratch, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return worst


def _export_graph(loaded: LoadedModel, out_dir: Path, chunk_frames: int) -> None:
    model, config = loaded.model.cpu().eval(), loaded.config
    step = EncoderStep(_export_model(model, config), model.encoder.init_state(1))
    names = leaf_names(step.template)
    example = (torch.zeros(1, chunk_frames, loaded.features.dim), *leaves(step.template))
    try:
        with warnings.catch_warnings(), _quiet_stdout():
            warnings.simplefilter("ignore")  # tracer warnings: the shapes are fixed on purpose
            torch.onnx.export(step, example, str(out_dir / GRAPH_FILE), dynamo=False, opset_version=OPSET,
                              input_names=["feats", *(f"in.{n}" for n in names)],
                              output_names=["log_probs", *(f"out.{n}" for n in names)])
    except Exception as exc:  # the exporter's errors name an operator, not the plugin: say which one
        raise ExportError(f"encoder {config['encoder']!r} does not export to ONNX: "
                          f"{_first_line(exc)}") from exc
    _write_meta(loaded, out_dir, chunk_frames, step.template, names)


def _export_model(model: nn.Module, config: dict) -> nn.Module:
    """The model with an export-friendly encoder (an encoder may offer ``for_export()``), CTC heads only."""
    if not hasattr(model.head, "log_probs") or leaf_names(model.head.init_state(1)) != ["last"]:
        raise ExportError(f"loss {config['loss']!r} cannot be exported yet: only CTC heads (a log_probs "
                          "projection and a one-token greedy state) export to ONNX")
    if hasattr(model.encoder, "for_export"):
        import copy

        model = copy.deepcopy(model)
        model.encoder = model.encoder.for_export()
    return model


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1: the TorchScript exporter's C++ log prints the whole graph when it fails."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _check_chunk_frames(chunk_frames: int, subsampling: int) -> None:
    if chunk_frames < subsampling or chunk_frames % subsampling:
        raise ExportError(f"--chunk-frames {chunk_frames}: must be a positive multiple of the encoder's "
                          f"subsampling ({subsampling})")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _write_meta(loaded: LoadedModel, out_dir: Path, chunk_frames: int, template: Any, names: list[str]) -> None:
    tokenizer = loaded.tokenizer
    vocab = loaded.model.head.log_probs(torch.zeros(1, 1, loaded.model.encoder.output_dim)).shape[-1]
    pieces = [tokenizer.id_to_piece(i) if hasattr(tokenizer, "id_to_piece") else str(i) for i in range(vocab)]
    (out_dir / TOKENS_FILE).write_text("".join(f"{p} {i}\n" for i, p in enumerate(pieces)), encoding="utf-8")
    payload = loaded.tokenizer_payload
    tok_dir = out_dir / TOKENIZER_DIR
    tok_dir.mkdir(exist_ok=True)
    for name, data in payload["files"].items():
        (tok_dir / name).write_bytes(data)
    state = [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
             for n, t in zip(names, leaves(template), strict=True)]
    meta = {"format": EXPORT_FORMAT, "graph": GRAPH_FILE, "chunk_frames": chunk_frames,
            "subsampling": loaded.model.subsampling, "vocab_size": vocab, "blank_id": loaded.model.head.blank_id,
            "features": vars(loaded.features), "feature_norm": "in the graph", "state": state,
            "encoder": loaded.config["encoder"], "loss": loaded.config["loss"],
            "tokenizer": {"name": payload["name"], "options": payload["options"], "dir": TOKENIZER_DIR}}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def check_export(loaded: LoadedModel, out_dir: str | Path, chunks: int = 3, seed: int = 0,
                 tolerance: float = 1e-3) -> float:
    """Run the graph and torch on ``chunks`` random chunks with carried state; the largest |difference| of the
    log-probabilities (``ExportError`` above ``tolerance``: the trace did not capture the model)."""
    from ..decode.onnx_runtime import OnnxEncoder

    meta = json.loads((Path(out_dir) / META_FILE).read_text())
    graph = OnnxEncoder(out_dir, threads=1)
    model, generator = loaded.model.cpu().eval(), torch.Generator().manual_seed(seed)
    state, worst = model.encoder.init_state(1), 0.0
    ort_state = graph.init_state()
    for _ in range(chunks):
        feats = torch.randn(1, meta["chunk_frames"], loaded.features.dim, generator=generator) * 3 - 8
        with torch.no_grad():
            out, _, state = model.encode(feats, torch.tensor([feats.shape[1]]), state)
            expected = model.head.log_probs(out).numpy()
        got, ort_state = graph.step(feats.numpy(), ort_state)
        worst = max(worst, float(np.abs(got - expected).max()))
    if not worst <= tolerance:
        raise ExportError(f"encoder {meta['encoder']!r}: the ONNX graph disagrees with torch (max |log-prob "
                          f"difference| {worst:.3g} > {tolerance}); the trace did not capture the model")
    return worst
