"""``statecatcher export``: a trained model as ONNX graphs with its carried state as explicit tensors.

``encoder.onnx`` is one streaming step of ``chunk_frames`` feature frames (10 ms each)::

    feats [1, chunk_frames, F]  +  in.<path> ...   ->   <output> [1, chunk_frames / subsampling, *]  +  out.<path> ...

where ``<output>`` is ``log_probs [.., V]`` for a CTC head or ``enc [.., J]`` (the joiner's encoder projection)
for a transducer, which also gets ``predictor.onnx`` and ``joiner.onnx`` (:mod:`statecatcher.export.heads`).
``feature_norm`` (the model's mean / inverse-std buffers) is baked into the encoder graph, so a runtime feeds
raw log-mel frames.  Every leaf of a state pytree (the encoder's front-end frame stack and conv cache
included) is an input ``in.<path>`` and an output ``out.<path>`` of the same shape and dtype (``<path>`` as
in :mod:`statecatcher.export.state_io`); a runtime feeds each output back as the next call's input and starts
from zeros.  The greedy search runs in the runtime (:mod:`statecatcher.decode.onnx_runtime`), which zero-pads
the last chunk and keeps only its real frames.

Beside the graphs: ``model.json`` (format, head, shapes, feature config, state names, blank id, tokenizer
plugin), ``tokens.txt`` (``piece id`` per line, as sherpa-onnx reads it) and ``tokenizer/``.

The TorchScript-based exporter (``dynamo=False``) traces the model at one chunk shape; every export is checked
against torch (:func:`statecatcher.export.check.check_export`) before it is moved into place.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..decode.onnx_runtime import EXPORT_FORMAT, META_FILE
from ..decode.pack import LoadedModel
from ..state import leaves
from .heads import CTC, TRANSDUCER, ExportError, JoinerStep, PredictorStep, encoder_output, head_kind, state_spec
from .state_io import leaf_names, unflatten

GRAPHS = {"encoder": "encoder.onnx", "predictor": "predictor.onnx", "joiner": "joiner.onnx"}
TOKENS_FILE, TOKENIZER_DIR = "tokens.txt", "tokenizer"
OPSET = 17
__all__ = ["ExportError", "export_onnx"]


class EncoderStep(nn.Module):
    """``(feats [1, T, F], *state leaves) -> (output [1, T/s, *], *new state leaves)`` for a fixed ``T``."""

    def __init__(self, model: nn.Module, kind: str):
        super().__init__()
        self.model, self.kind = model, kind
        self.template = model.encoder.init_state(1)

    def forward(self, feats: torch.Tensor, *state_leaves: torch.Tensor):
        lengths = torch.full((1,), feats.shape[1], dtype=torch.long)
        out, _, state = self.model.encode(feats, lengths, unflatten(self.template, state_leaves))
        return (encoder_output(self.model.head, self.kind, out), *leaves(state))


def export_onnx(loaded: LoadedModel, out_dir: str | Path, chunk_frames: int = 64) -> float:
    """Write the graphs, ``model.json``, ``tokens.txt`` and ``tokenizer/`` to ``out_dir`` and check them against
    torch (returns the largest difference).  Built in a temporary sibling folder and moved into place, so a
    failed export leaves nothing behind; an existing export is replaced."""
    from .check import check_export

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / META_FILE).is_file():
        raise ExportError(f"{out_dir}: exists and is not an ONNX export; choose an empty or new folder")
    subsampling = loaded.model.subsampling
    if chunk_frames < subsampling or chunk_frames % subsampling:
        raise ExportError(f"--chunk-frames {chunk_frames}: must be a positive multiple of the encoder's "
                          f"subsampling ({subsampling})")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        _export_graphs(loaded, scratch, chunk_frames)
        worst = check_export(loaded, scratch)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(scratch, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return worst


def export_model(model: nn.Module, config: dict) -> tuple[nn.Module, str]:
    """``(model with an export-friendly encoder, head kind)``; an encoder may offer ``for_export()``."""
    kind = head_kind(model.head, config["loss"])
    if hasattr(model.encoder, "for_export"):
        model = copy.deepcopy(model)
        model.encoder = model.encoder.for_export()
    return model, kind


def _export_graphs(loaded: LoadedModel, out_dir: Path, chunk_frames: int) -> None:
    model, kind = export_model(loaded.model.cpu().eval(), loaded.config)
    step = EncoderStep(model, kind)
    names = leaf_names(step.template)
    output = "log_probs" if kind == CTC else "enc"
    example = (torch.zeros(1, chunk_frames, loaded.features.dim), *leaves(step.template))
    _trace(step, example, out_dir / GRAPHS["encoder"], ["feats", *(f"in.{n}" for n in names)],
           [output, *(f"out.{n}" for n in names)], f"encoder {loaded.config['encoder']!r}")
    meta = {"head": kind, "encoder_output": output, "state": state_spec(step.template)}
    if kind == TRANSDUCER:
        meta |= _export_transducer(model.head, out_dir, f"loss {loaded.config['loss']!r}")
    _write_meta(loaded, out_dir, chunk_frames, meta)


def _export_transducer(head: nn.Module, out_dir: Path, what: str) -> dict[str, Any]:
    predictor, joiner = PredictorStep(head), JoinerStep(head)
    names = leaf_names(predictor.template)
    _trace(predictor, (torch.zeros(1, dtype=torch.long), *leaves(predictor.template)), out_dir / GRAPHS["predictor"],
           ["token", *(f"in.{n}" for n in names)], ["pred", *(f"out.{n}" for n in names)], what)
    pred = predictor.initial_pred()
    _trace(joiner, (torch.zeros_like(pred), pred), out_dir / GRAPHS["joiner"], ["enc", "pred"], ["logits"], what)
    return {"predictor_state": state_spec(predictor.template), "initial_pred": pred[0].tolist(),
            "max_symbols_per_frame": int(head.max_symbols_per_frame),
            "graphs": {name: GRAPHS[name] for name in ("predictor", "joiner")}}


def _trace(module: nn.Module, example: tuple, path: Path, inputs: list[str], outputs: list[str], what: str) -> None:
    """``torch.onnx.export`` (TorchScript-based) with its failure as one ``ExportError`` line naming ``what``."""
    try:
        with warnings.catch_warnings(), _quiet_stdout():
            warnings.simplefilter("ignore")  # tracer warnings: the shapes are fixed on purpose
            torch.onnx.export(module, example, str(path), dynamo=False, opset_version=OPSET,
                              input_names=inputs, output_names=outputs)
    except Exception as exc:  # the exporter's errors name an operator, not the plugin: say which one
        text = str(exc).strip() or type(exc).__name__
        raise ExportError(f"{what} does not export to ONNX: {text.splitlines()[0][:300]}") from exc


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


def _write_meta(loaded: LoadedModel, out_dir: Path, chunk_frames: int, head_meta: dict[str, Any]) -> None:
    tokenizer, vocab = loaded.tokenizer, loaded.tokenizer.vocab_size
    pieces = [tokenizer.id_to_piece(i) if hasattr(tokenizer, "id_to_piece") else str(i) for i in range(vocab)]
    (out_dir / TOKENS_FILE).write_text("".join(f"{p} {i}\n" for i, p in enumerate(pieces)), encoding="utf-8")
    payload = loaded.tokenizer_payload
    (out_dir / TOKENIZER_DIR).mkdir(exist_ok=True)
    for name, data in payload["files"].items():
        (out_dir / TOKENIZER_DIR / name).write_bytes(data)
    meta = {"format": EXPORT_FORMAT, "graph": GRAPHS["encoder"], "chunk_frames": chunk_frames,
            "subsampling": loaded.model.subsampling, "vocab_size": vocab, "blank_id": loaded.model.head.blank_id,
            "features": vars(loaded.features), "feature_norm": "in the encoder graph",
            "encoder": loaded.config["encoder"], "loss": loaded.config["loss"],
            "tokenizer": {"name": payload["name"], "options": payload["options"], "dir": TOKENIZER_DIR}} | head_meta
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
