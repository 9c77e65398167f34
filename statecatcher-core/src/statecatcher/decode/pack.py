"""Model packs: one file holding weights, the resolved config, the tokenizer files and the text normaliser
(and the model's word LM, ``RUN_DIR/lm.arpa``, when it has one: see :func:`model_lm_file`).

Every training checkpoint is also a valid pack (it carries the same keys plus optimizer, RNG and lane
state), so ``load_model`` accepts a pack file, a checkpoint file or a run directory.  ``export_pack`` writes
the inference-only subset, which moves between machines without its run directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..checkpoint_io import find_checkpoint, load_checkpoint
from ..data.fbank import FeatureConfig
from ..model import AsrModel, build_model
from ..text import TextNormalizer
from ..tokenizer_utils import load_tokenizer

PACK_FORMAT = "statecatcher-pack/1"
PACK_KEYS = ("format", "model", "config", "tokenizer", "normalizer", "vocab_size", "blank_id", "features")
LM_FILE = "lm.arpa"  # a run directory's word LM (`statecatcher lm train`); a pack holds its text as "lm"


@dataclass
class LoadedModel:
    model: AsrModel
    tokenizer: Any
    normalizer: TextNormalizer
    features: FeatureConfig
    config: dict[str, Any]
    lm_arpa: str | None = None  # the model's own word LM (ARPA text), if any
    tokenizer_payload: dict[str, Any] | None = None  # the tokenizer as data (name, options, files)


def model_lm_file(path: str | Path) -> Path:
    """Where a model's word LM lives: ``RUN_DIR/lm.arpa`` for a run directory or a checkpoint in its
    ``checkpoints/``, else ``MODEL.lm.arpa`` beside a pack or checkpoint file (it may not exist)."""
    path = Path(path)
    if path.is_dir():
        return path / LM_FILE
    return path.parent.parent / LM_FILE if path.parent.name == "checkpoints" else path.with_suffix(".lm.arpa")


def _lm_text(path: str | Path, payload: dict[str, Any]) -> str | None:
    """The LM file beside the model if there is one, else the LM inside the pack, else None."""
    lm_file = model_lm_file(path)
    return lm_file.read_text(encoding="utf-8") if lm_file.is_file() else payload.get("lm")


def load_model(path: str | Path, device: str | torch.device = "cpu", which: str = "last") -> LoadedModel:
    """Load a pack, a checkpoint or a run directory's ``last`` (or ``best``) checkpoint for inference (eval
    mode)."""
    found = find_checkpoint(Path(path), which)
    if found is None:
        raise FileNotFoundError(f"{path}: not a model pack, checkpoint or run directory with "
                                f"checkpoints/{which}.pt")
    payload = load_checkpoint(found)
    missing = [k for k in PACK_KEYS if k not in payload and k != "format"]
    if missing:
        raise ValueError(f"{found}: not a statecatcher model pack or checkpoint (missing {', '.join(missing)})")
    config, features = payload["config"], FeatureConfig(**payload["features"])
    model = build_model(encoder=config["encoder"], loss=config["loss"], vocab_size=payload["vocab_size"],
                        blank_id=payload["blank_id"], encoder_options=config["encoder_options"],
                        loss_options=config["loss_options"], input_dim=features.dim)
    load_weights(model, payload["model"], found)
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=load_tokenizer(payload["tokenizer"]),
                       normalizer=TextNormalizer.from_dict(payload["normalizer"]),
                       features=features, config=config, lm_arpa=_lm_text(path, payload),
                       tokenizer_payload=payload["tokenizer"])


def load_weights(model: AsrModel, weights: dict[str, torch.Tensor], origin: Path) -> None:
    """``model.load_state_dict(weights)``; a pack from before feature normalisation (no ``feature_norm.*``
    buffers) loads with the identity transform it was trained with."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [key for key in missing if not key.startswith("feature_norm.")]
    if missing or unexpected:
        raise ValueError(f"{origin}: weights do not fit the model (missing {missing}, unexpected {unexpected})")


def export_pack(checkpoint: str | Path, out: str | Path, which: str = "last") -> Path:
    """Write the inference-only subset of a checkpoint (or a run dir's ``last``/``best``) to ``out``."""
    found = find_checkpoint(Path(checkpoint), which)
    if found is None:
        raise FileNotFoundError(f"{checkpoint}: no checkpoint found")
    payload = load_checkpoint(found)
    pack = {k: payload[k] for k in PACK_KEYS if k in payload} | {"format": PACK_FORMAT}
    lm_text = _lm_text(checkpoint, payload)
    if lm_text is not None:
        pack["lm"] = lm_text
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(pack, out)
    return out
