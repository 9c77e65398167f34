"""Streaming transcription with an exported ONNX model (``statecatcher export``) on onnxruntime.

The same front end as the torch :class:`~statecatcher.decode.streaming.Transcriber` (streaming log-mel
features), then the graph ``encoder.onnx`` one chunk of ``chunk_frames`` feature frames at a time with its state
tensors fed back, then greedy CTC with the previous chunk's last symbol carried (as the CTC head's
``decode_step``).  Frames wait in a buffer until a chunk is full; ``finish()`` zero-pads the last chunk and keeps
only the output frames its real input completes (the encoder is causal, so the padding changes nothing before it).

Needs ``pip install 'statecatcher-core[onnx]'`` (onnxruntime).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data.fbank import FeatureConfig
from ..data.features import StreamingFeatures
from ..tokenizer_utils import load_tokenizer
from .streaming import TokenLog

EXPORT_FORMAT = "statecatcher-onnx/1"
META_FILE = "model.json"
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}


def read_meta(export_dir: str | Path) -> dict:
    """``model.json`` of an export directory (``ValueError`` naming the file when it is not one)."""
    path = Path(export_dir) / META_FILE
    if not path.is_file():
        raise ValueError(f"{export_dir}: not an ONNX export (no {META_FILE}; make one with `statecatcher export`)")
    meta = json.loads(path.read_text())
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {EXPORT_FORMAT!r}")
    return meta


class OnnxEncoder:
    """One onnxruntime session of ``encoder.onnx``: ``step(feats [1, chunk_frames, F], state)``."""

    def __init__(self, export_dir: str | Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError("the onnx runtime needs onnxruntime: pip install 'statecatcher-core[onnx]'") from exc
        self.meta = read_meta(export_dir)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(str(Path(export_dir) / self.meta["graph"]), options,
                                            providers=["CPUExecutionProvider"])
        self.state_names = [leaf["name"] for leaf in self.meta["state"]]
        self._outputs = ["log_probs", *(f"out.{n}" for n in self.state_names)]

    def init_state(self) -> dict[str, np.ndarray]:
        """Zeros for every state tensor (a stream start)."""
        return {leaf["name"]: np.zeros(leaf["shape"], _DTYPES[leaf["dtype"]]) for leaf in self.meta["state"]}

    def step(self, feats: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``feats [1, chunk_frames, F]`` float32 -> ``(log_probs [1, chunk_frames/s, V], new state)``."""
        feeds = {"feats": np.ascontiguousarray(feats, dtype=np.float32)}
        feeds.update({f"in.{name}": value for name, value in state.items()})
        log_probs, *new_state = self.session.run(self._outputs, feeds)
        return log_probs, dict(zip(self.state_names, new_state, strict=True))


def load_export_tokenizer(export_dir: str | Path, meta: dict):
    """The tokenizer saved beside the graph (``tokenizer/`` and its plugin name in ``model.json``)."""
    spec = meta["tokenizer"]
    files = {p.name: p.read_bytes() for p in sorted((Path(export_dir) / spec["dir"]).iterdir()) if p.is_file()}
    return load_tokenizer({"name": spec["name"], "options": spec["options"], "files": files})


class OnnxTranscriber(TokenLog):
    """Greedy streaming transcription of one stream on onnxruntime; the API of the torch ``Transcriber``."""

    def __init__(self, export_dir: str | Path, threads: int | None = None):
        self.encoder = OnnxEncoder(export_dir, threads)
        meta = self.encoder.meta
        self.tokenizer = load_export_tokenizer(export_dir, meta)
        self.chunk_frames, self.subsampling, self.blank_id = meta["chunk_frames"], meta["subsampling"], meta["blank_id"]
        config = FeatureConfig(**meta["features"])
        self.frame_seconds = config.frame_shift * self.subsampling
        self.features = StreamingFeatures(config)
        self.reset()

    def reset(self) -> None:
        """Start a new stream: features, encoder state, the CTC symbol and the frame buffer all start over."""
        self.features.reset()
        self.state = self.encoder.init_state()
        self.last = self.blank_id
        self.pending = np.zeros((0, self.features.config.dim), np.float32)
        self.frames_in = 0
        self.frames_done = 0
        self.token_ids: list[int] = []
        self.token_times: list[float] = []
        self._text = ""

    def feed(self, samples: np.ndarray | torch.Tensor) -> str:
        """Feed 16 kHz mono float samples; returns the text that became final with them."""
        feats = self.features.feed(torch.as_tensor(samples, dtype=torch.float32).reshape(-1))
        return self._decode(feats.numpy())

    def finish(self) -> str:
        """End of stream: the last partial frame and the zero-padded last chunk; returns the new text."""
        return self._decode(self.features.flush().numpy(), final=True)

    def _decode(self, feats: np.ndarray, final: bool = False) -> str:
        self.pending = np.concatenate([self.pending, feats.astype(np.float32)])
        self.frames_in += feats.shape[0]
        new_tokens = False
        while self.pending.shape[0] >= self.chunk_frames or (final and self.frames_done < self._frames_due()):
            chunk = self.pending[:self.chunk_frames]
            self.pending = self.pending[self.chunk_frames:]
            valid = min(self.chunk_frames // self.subsampling, self._frames_due() - self.frames_done)
            padded = np.zeros((1, self.chunk_frames, chunk.shape[1]), np.float32)
            padded[0, :chunk.shape[0]] = chunk
            log_probs, self.state = self.encoder.step(padded, self.state)
            new_tokens |= self._greedy(log_probs[0, :valid])
        if not new_tokens:
            return ""
        text = self.tokenizer.decode(self.token_ids)
        new = text[len(self._text):] if text.startswith(self._text) else text
        self._text = text
        return new

    def _frames_due(self) -> int:
        """Output frames the input so far completes (a causal front end stacking ``subsampling`` frames)."""
        return self.frames_in // self.subsampling

    def _greedy(self, log_probs: np.ndarray) -> bool:
        """Greedy CTC over ``log_probs [T', V]``, repeats merged across chunks; True if tokens were emitted."""
        best = log_probs.argmax(axis=-1)
        emitted = False
        for frame, symbol in enumerate(best.tolist()):
            if symbol != self.blank_id and symbol != self.last:
                self.token_ids.append(symbol)
                self.token_times.append((self.frames_done + frame + 1) * self.frame_seconds)
                emitted = True
            self.last = symbol
        self.frames_done += len(best)
        return emitted
