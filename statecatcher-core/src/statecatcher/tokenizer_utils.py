"""Train a tokenizer once per model directory, and record the text normaliser beside it.

A model directory is self-describing: the tokenizer's own files plus ``normalizer.json`` (the
:class:`~statecatcher.text.TextNormalizer` settings the targets were normalised with), so decoding and WER
use the same normalisation as training.  ``tokenizer_payload``/``load_tokenizer`` carry a trained tokenizer
as data inside checkpoints and model packs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import plugins
from .protocols import Tokenizer
from .text import TextNormalizer

NORMALIZER_FILE = "normalizer.json"


def save_normalizer(normalizer: TextNormalizer, model_dir: Path) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / NORMALIZER_FILE).write_text(json.dumps(normalizer.to_dict(), indent=2, sort_keys=True) + "\n")


def load_normalizer(model_dir: Path) -> TextNormalizer:
    """The normaliser recorded in ``model_dir`` (``FileNotFoundError`` naming the file when absent)."""
    path = Path(model_dir) / NORMALIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {NORMALIZER_FILE} in {model_dir}: the tokenizer was not trained by train_or_load")
    try:
        return TextNormalizer.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path}: not a TextNormalizer record: {exc}") from exc


def train_or_load(tokenizer: Tokenizer, texts: Callable[[], Iterable[str]], vocab_size: int, model_dir: Path,
                  normalizer: TextNormalizer | None = None) -> bool:
    """Load the tokenizer saved in ``model_dir`` if it matches, else train it on ``texts()``; True if trained.

    ``texts()`` yields transcripts already normalised with ``normalizer`` (default :class:`TextNormalizer()`),
    which is recorded as ``normalizer.json`` beside the tokenizer's files.  A saved model is reused when it
    loads, has ``vocab_size`` ids and was recorded with the same ``normalizer``; then ``texts`` is never
    called, so nothing is read.
    """
    normalizer = normalizer or TextNormalizer()
    model_dir = Path(model_dir)
    if _saved_model_matches(tokenizer, vocab_size, model_dir, normalizer):
        return False
    tokenizer.train(texts(), vocab_size, model_dir)
    save_normalizer(normalizer, model_dir)
    return True


def _saved_model_matches(tokenizer: Tokenizer, vocab_size: int, model_dir: Path, normalizer: TextNormalizer) -> bool:
    try:
        saved_normalizer = load_normalizer(model_dir)
        tokenizer.load(model_dir)
    except FileNotFoundError:
        return False
    return tokenizer.vocab_size == vocab_size and saved_normalizer == normalizer


def tokenizer_payload(name: str, options: dict, model_dir: Path) -> dict[str, Any]:
    """The tokenizer as data: plugin name, options and the bytes of every file in its model dir."""
    files = {p.name: p.read_bytes() for p in sorted(Path(model_dir).iterdir()) if p.is_file()}
    return {"name": name, "options": dict(options), "files": files}


def load_tokenizer(payload: dict[str, Any]) -> Any:
    tokenizer = plugins.get("tokenizer", payload["name"]).create(**payload["options"])
    with tempfile.TemporaryDirectory(prefix="statecatcher-tok-") as tmp:
        for name, data in payload["files"].items():
            (Path(tmp) / name).write_bytes(data)
        tokenizer.load(Path(tmp))
    return tokenizer
