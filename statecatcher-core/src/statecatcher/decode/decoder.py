"""Which decoder a transcriber, ``eval`` or the speechcatcher stream runs: greedy, or beam search (+ LM).

The LM of a model lives beside it: ``RUN_DIR/lm.arpa`` (written by ``statecatcher lm train RUN_DIR``) or
inside a model pack made from such a run directory.  :func:`build_search` uses it for ``--decoder beam``
unless another ARPA file is named, or ``lm="none"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .beam import BeamOptions
from .lm_fusion import WordLMFusion
from .ngram import NgramLM

DECODERS = ("greedy", "beam")


@dataclass(frozen=True)
class DecoderConfig:
    kind: str = "greedy"
    beam: BeamOptions = field(default_factory=BeamOptions)
    lm: str | None = None  # an ARPA path; None: the model's own LM if it has one; "none": no LM

    def __post_init__(self) -> None:
        if self.kind not in DECODERS:
            raise ValueError(f"decoder {self.kind!r} is unknown; choose one of {', '.join(DECODERS)}")


def load_fusion(loaded, config: DecoderConfig) -> WordLMFusion | None:
    """The LM fusion for ``config`` (its ``source`` says where the LM came from), or None."""
    if config.lm == "none":
        return None
    if config.lm is not None:
        if not Path(config.lm).is_file():
            raise FileNotFoundError(f"{config.lm}: no such LM file (an ARPA file, see `statecatcher lm train`)")
        lm, source = NgramLM.read_arpa(config.lm), config.lm
    elif getattr(loaded, "lm_arpa", None):
        lm, source = NgramLM.parse_arpa(loaded.lm_arpa, "the model's LM"), "the model's LM"
    else:
        return None
    options = config.beam
    return WordLMFusion.from_tokenizer(lm, loaded.tokenizer, options.lm_weight, options.word_bonus, source)


def build_search(loaded, config: DecoderConfig):
    """The loss head's streaming beam search for ``config`` (None for greedy decoding)."""
    if config.kind == "greedy":
        return None
    head = loaded.model.head
    if not hasattr(head, "beam_search"):
        loss = loaded.config.get("loss", type(head).__name__)
        raise ValueError(f"loss {loss!r} has no beam search; use --decoder greedy")
    return head.beam_search(config.beam, load_fusion(loaded, config))
