"""Streaming transcription with an exported ONNX model (``statecatcher export``) on onnxruntime.

The same front end as the torch :class:`~statecatcher.decode.streaming.Transcriber` (streaming log-mel
features), then the graph ``encoder.onnx`` one chunk of ``chunk_frames`` feature frames at a time with its state
tensors fed back, then a greedy search: CTC with the previous chunk's last symbol carried (as the CTC head's
``decode_step``), or a transducer's with ``predictor.onnx`` (its state fed back) and ``joiner.onnx`` (as
statecatcher-rnnt's ``greedy_decode``).  Frames wait in a buffer until a chunk is full; ``finish()`` zero-pads
the last chunk and keeps only the output frames its real input completes (the encoder is causal, so the
padding changes nothing before it).

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


def _session(path: Path, threads: int | None):
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError("the onnx runtime needs onnxruntime: pip install 'statecatcher-core[onnx]'") from exc
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = options.inter_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class StatefulGraph:
    """An onnxruntime session whose state tensors (``spec``: name, shape, dtype, fill) go in as ``in.<name>`` and
    come back as ``out.<name>``: ``run(feeds, state) -> (first output, new state)``."""

    def __init__(self, path: Path, spec: list[dict], output: str, threads: int | None):
        self.session, self.spec = _session(path, threads), spec
        self.state_names = [leaf["name"] for leaf in spec]
        self._outputs = [output, *(f"out.{n}" for n in self.state_names)]

    def init_state(self) -> dict[str, np.ndarray]:
        """The state of a stream start (every tensor filled with its recorded value)."""
        return {leaf["name"]: np.full(leaf["shape"], leaf["fill"], _DTYPES[leaf["dtype"]]) for leaf in self.spec}

    def run(self, feeds: dict[str, np.ndarray], state: dict[str, np.ndarray]):
        feeds = feeds | {f"in.{name}": value for name, value in state.items()}
        first, *new_state = self.session.run(self._outputs, feeds)
        return first, dict(zip(self.state_names, new_state, strict=True))


class OnnxEncoder(StatefulGraph):
    """``encoder.onnx``: ``step(feats [1, chunk_frames, F], state) -> (output [1, chunk_frames/s, *], state)``."""

    def __init__(self, export_dir: str | Path, threads: int | None = None):
        self.meta = read_meta(export_dir)
        super().__init__(Path(export_dir) / self.meta["graph"], self.meta["state"], self.meta["encoder_output"],
                         threads)

    def step(self, feats: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.run({"feats": np.ascontiguousarray(feats, dtype=np.float32)}, state)


class OnnxTransducerParts(StatefulGraph):
    """A transducer's ``predictor.onnx`` (stateful) and ``joiner.onnx``; ``initial_pred [1, J]``."""

    def __init__(self, export_dir: str | Path, threads: int | None = None):
        meta = read_meta(export_dir)
        super().__init__(Path(export_dir) / meta["graphs"]["predictor"], meta["predictor_state"], "pred", threads)
        self.joiner = _session(Path(export_dir) / meta["graphs"]["joiner"], threads)
        self.initial_pred = np.asarray(meta["initial_pred"], np.float32)[None]
        self.vocab_size, self.blank_id = meta["vocab_size"], meta["blank_id"]
        self.max_symbols = meta["max_symbols_per_frame"]

    def advance(self, token: int, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The predictor after consuming ``token``: ``(pred [1, J], new state)``."""
        return self.run({"token": np.array([token], np.int64)}, state)

    def join(self, enc: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """``enc [1, J]``, ``pred [1, J]`` -> ``logits [1, V]``."""
        return self.joiner.run(["logits"], {"enc": np.ascontiguousarray(enc, np.float32), "pred": pred})[0]


class CtcGreedy:
    """Greedy CTC over ``log_probs [T', V]`` with the previous chunk's last symbol carried (repeats merged)."""

    def __init__(self, meta: dict, export_dir: str | Path, threads: int | None):
        self.blank_id = meta["blank_id"]
        self.reset()

    def reset(self) -> None:
        self.last = self.blank_id

    def decode(self, log_probs: np.ndarray) -> list[tuple[int, int]]:
        """``[(token, frame)]`` of this chunk's frames."""
        emitted = []
        for frame, symbol in enumerate(log_probs.argmax(axis=-1).tolist()):
            if symbol != self.blank_id and symbol != self.last:
                emitted.append((symbol, frame))
            self.last = symbol
        return emitted


class TransducerGreedy:
    """Greedy transducer search over ``enc [T', J]`` (as statecatcher-rnnt's ``greedy_decode``): at each frame
    emit the joiner's argmax while it is not blank, at most ``max_symbols_per_frame`` times."""

    def __init__(self, meta: dict, export_dir: str | Path, threads: int | None):
        self.parts = OnnxTransducerParts(export_dir, threads)
        self.reset()

    def reset(self) -> None:
        self.state, self.pred = self.parts.init_state(), self.parts.initial_pred

    def decode(self, enc: np.ndarray) -> list[tuple[int, int]]:
        emitted = []
        for frame in range(enc.shape[0]):
            for _ in range(self.parts.max_symbols):
                symbol = int(self.parts.join(enc[frame:frame + 1], self.pred).argmax(axis=-1)[0])
                if symbol == self.parts.blank_id:
                    break
                self.pred, self.state = self.parts.advance(symbol, self.state)
                emitted.append((symbol, frame))
        return emitted


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
        self.chunk_frames, self.subsampling = meta["chunk_frames"], meta["subsampling"]
        self.search = (TransducerGreedy if meta["head"] == "transducer" else CtcGreedy)(meta, export_dir, threads)
        config = FeatureConfig(**meta["features"])
        self.frame_seconds = config.frame_shift * self.subsampling
        self.features = StreamingFeatures(config)
        self.reset()

    def reset(self) -> None:
        """Start a new stream: features, encoder state, the CTC symbol and the frame buffer all start over."""
        self.features.reset()
        self.state = self.encoder.init_state()
        self.search.reset()
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
            out, self.state = self.encoder.step(padded, self.state)
            for token, frame in self.search.decode(out[0, :valid]):
                self.token_ids.append(token)
                self.token_times.append((self.frames_done + frame + 1) * self.frame_seconds)
                new_tokens = True
            self.frames_done += valid
        if not new_tokens:
            return ""
        text = self.tokenizer.decode(self.token_ids)
        new = text[len(self._text):] if text.startswith(self._text) else text
        self._text = text
        return new

    def _frames_due(self) -> int:
        """Output frames the input so far completes (a causal front end stacking ``subsampling`` frames)."""
        return self.frames_in // self.subsampling
