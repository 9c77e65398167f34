"""The contracts between the core and its plugins.

Dimension legend (used in every docstring and comment)::

    B  lanes (batch rows); lane b streams one recording, segment after segment
    T  input feature frames (10 ms hop), F feature dim (80 log-mel)
    T' encoder output frames (T' = frames completed by this call, see ``subsampling``), D encoder output dim
    U  target tokens, V vocabulary size (including blank, id ``blank_id``)

Units: times are ``Seconds`` (float); ``lengths`` are always counts of frames (or tokens), never seconds.

State: a *State* is a pytree (nested ``dict`` / ``list`` / ``tuple``) of tensors in which **every leaf
tensor has the lane axis first** (``[B, ...]``).  That single rule lets the core reset, detach, select,
stack, save and load any plugin's state generically (see :mod:`statecatcher.state`).  The state is the
plugin's to define, but it must hold *everything* needed to continue exactly: recurrent states, causal
convolution caches (including the subsampling front end's) and partial frame stacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .records import Recording, Segment

State = Any  # pytree of tensors, lane axis first


@runtime_checkable
class StatefulEncoder(Protocol):
    """An ``nn.Module`` that maps feature chunks to encodings while carrying state.

    Attributes: ``input_dim`` (F), ``output_dim`` (D), ``subsampling`` (input frames per output frame).

    ``init_state(batch_size, device=None, dtype=None)``: the state at a recording start, lane axis first on
    every leaf, on the module's own device when ``device`` is None.

    ``forward(feats[B,T,F], lengths[B], state) -> (out[B,T',D], out_lengths[B], new_state)``:

    * frames ``t >= lengths[b]`` are padding: they must change neither ``out`` (valid part) nor the state;
    * lanes never influence each other;
    * chunk invariance: running a sequence in one call equals running it in any chunking with the state
      carried, for outputs (concatenated valid frames) and final state.  With subsampling the front end
      keeps incomplete frame stacks in the state, so a chunk of 1 frame is legal and may yield 0 outputs.

    Optional: ``for_export()`` returns the encoder (with the same weights) in a form ``statecatcher export``
    can trace to ONNX for one lane whose frames are all valid, e.g. a recurrent instead of a chunkwise scan
    (see docs/transcription.md).
    """

    input_dim: int
    output_dim: int
    subsampling: int

    def init_state(self, batch_size: int, device: torch.device | None = None,
                   dtype: torch.dtype | None = None) -> State: ...

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                state: State) -> tuple[torch.Tensor, torch.Tensor, State]: ...


@runtime_checkable
class Loss(Protocol):
    """An ``nn.Module`` owning the output side of the model (projection, predictor, joiner).

    ``forward(enc_out[B,T',D], enc_lens[B], targets[B,U], target_lens[B], state) -> (loss[B], new_state)``
    returns the summed (not averaged) negative log-likelihood per lane; the trainer weights and normalises.
    Lanes with ``target_lens == 0`` and ``enc_lens == 0`` must give a finite loss (0 is fine).

    ``decode_step(enc_out[B,T',D], enc_lens[B], state) -> (tokens: list[list[int]], token_frames:
    list[list[int]], new_state)`` greedily decodes one chunk; ``token_frames`` are output-frame indices
    relative to the chunk.  Whatever crosses chunk boundaries (last CTC token, predictor context) is state;
    ``init_state(batch_size, device=None)`` makes it on the module's own device when ``device`` is None.

    Optional: ``beam_search(options: BeamOptions, fusion: WordLMFusion | None)`` returns a streaming beam
    search over this head's outputs for one stream (``init_state()``, ``step(enc_out[T',D], state)``,
    ``finish(state)``, see :mod:`statecatcher.decode.beam`); ``--decoder beam`` needs it.
    """

    def init_state(self, batch_size: int, device: torch.device | None = None) -> State: ...

    def forward(self, enc_out, enc_lens, targets, target_lens, state): ...

    def decode_step(self, enc_out, enc_lens, state): ...


@runtime_checkable
class Tokenizer(Protocol):
    """Text <-> token ids.  Id ``blank_id`` (0) is the CTC/RNN-T blank, never a real piece or ``<unk>``.

    ``vocab_size`` counts every id including blank.  ``train`` learns a model from texts and saves it in
    ``model_dir``; ``load`` reads it back.  Texts are already normalised by the caller.
    """

    blank_id: int
    vocab_size: int

    def train(self, texts: Iterable[str], vocab_size: int, model_dir: Path) -> None: ...

    def load(self, model_dir: Path) -> None: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@runtime_checkable
class DataSource(Protocol):
    """A deterministic stream of :class:`~statecatcher.records.Recording` objects, listed apart from loaded.

    ``recordings(split, rank=0, world_size=1, epoch=0, start=0)`` *lists* the recordings of ``split``
    (``"train"``, ``"dev"``, ``"test"``) that belong to shard ``rank`` of ``world_size``, in an order fixed
    by the source's seed and ``epoch``, skipping the first ``start`` of them (the resumable cursor).
    Shards are disjoint and together complete.  Listing does no transcript or audio I/O (lhotse's rule):
    each recording carries its id, its ``duration`` in seconds (what ordering, sharding, step estimates and
    the lane planner use), meta, and ``segments=None`` with a ``segments_loader``; the transcript is fetched
    only by ``Recording.load_segments()`` (the lane batcher calls it in its workers, just before the audio),
    which gives the same segments every time and raises ``OSError`` naming the problem when it cannot (the
    recording is then skipped and reported).  ``describe()`` returns JSON-able facts for the run config.
    """

    def recordings(self, split: str, *, rank: int = 0, world_size: int = 1, epoch: int = 0,
                   start: int = 0) -> Iterator[Recording]: ...

    def describe(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Tracker(Protocol):
    """Receives a run's parameters and metrics.  ``step`` is the optimizer step."""

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class LabelFilter(Protocol):
    """Scores one transcript segment; ``score`` returns ``(score, reject)`` (the score's unit is the detector's).

    By default it runs in the data pipeline with ``context`` keys ``audio_seconds`` (the segment's duration),
    ``recording_id`` and, for a detector with ``needs_audio = True``, ``speech_fraction`` (share of loud
    frames).  A detector with ``needs_loss = True`` runs in the trainer on the training segment instead, with
    ``context["token_loss"]`` (its loss per target token).  See docs/filters.md.
    """

    name: str

    def score(self, segment: Segment, context: Mapping[str, Any]) -> tuple[float, bool]: ...
