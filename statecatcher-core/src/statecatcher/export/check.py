"""An export is checked before it is kept: its graphs against torch on random inputs with a carried state.

A trace that baked in something data-dependent (a Python branch on a tensor value, a shape read from the
state) would give a graph that is right for the example it was traced with and wrong after; running a few
chunks with the state fed back catches it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..decode.onnx_runtime import META_FILE, OnnxEncoder, OnnxTransducerParts
from ..decode.pack import LoadedModel
from .heads import TRANSDUCER, ExportError, encoder_output
from .onnx import export_model


@torch.no_grad()
def check_export(loaded: LoadedModel, out_dir: str | Path, chunks: int = 3, seed: int = 0,
                 tolerance: float = 1e-3) -> float:
    """Largest |difference| between the graphs and torch over ``chunks`` random feature chunks with a carried
    state (and, for a transducer, a few predictor steps and joiner calls); ``ExportError`` above ``tolerance``."""
    meta = json.loads((Path(out_dir) / META_FILE).read_text())
    model, kind = export_model(loaded.model.cpu().eval(), loaded.config)
    generator = torch.Generator().manual_seed(seed)
    graph = OnnxEncoder(out_dir, threads=1)
    state, ort_state, worst = model.encoder.init_state(1), graph.init_state(), 0.0
    for _ in range(chunks):
        feats = torch.randn(1, meta["chunk_frames"], loaded.features.dim, generator=generator) * 3 - 8
        out, _, state = loaded.model.encode(feats, torch.tensor([feats.shape[1]]), state)  # the model as trained
        got, ort_state = graph.step(feats.numpy(), ort_state)
        worst = max(worst, _difference(got, encoder_output(model.head, kind, out)))
    if kind == TRANSDUCER:
        worst = max(worst, _check_transducer(model.head, out_dir, generator))
    if not worst <= tolerance:
        raise ExportError(f"encoder {meta['encoder']!r} / loss {meta['loss']!r}: the ONNX graphs disagree with "
                          f"torch (max |difference| {worst:.3g} > {tolerance}); the trace did not capture the model")
    return worst


def _check_transducer(head, out_dir: str | Path, generator: torch.Generator) -> float:
    parts = OnnxTransducerParts(out_dir, threads=1)
    state, ort_state = head.predictor.init_state(1), parts.init_state()
    pred = head.joiner.pred_proj(head.predictor.step(state))
    worst = _difference(parts.initial_pred, pred)
    tokens = torch.randint(1, parts.vocab_size, (4,), generator=generator)
    for token in tokens.tolist():
        state = head.predictor.advance(state, torch.tensor([token]), torch.ones(1, dtype=torch.bool))
        pred = head.joiner.pred_proj(head.predictor.step(state))
        ort_pred, ort_state = parts.advance(token, ort_state)
        enc = torch.randn(pred.shape, generator=generator)
        worst = max(worst, _difference(ort_pred, pred),
                    _difference(parts.join(enc.numpy(), ort_pred), head.joiner.join(enc, pred)))
    return worst


def _difference(got: np.ndarray, expected: torch.Tensor) -> float:
    return float(np.abs(got - expected.numpy()).max())
