"""One training step's input: the next segment of every lane."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Batch:
    """The k-th step's batch; lane b holds segment ``segment_index[b]`` of recording ``recording_ids[b]``.

    feats       [B, T, F] float32 log-mel (F=80, 10 ms hop), zero beyond ``lengths``
    lengths     [B] int64 valid frames (0 for an inactive lane: its state must not move)
    reset       [B] bool  lane starts a new recording here: state := init_state for that lane
    active      [B] bool  lane has a segment (False once the lane's source is exhausted)
    weight      [B] float32 loss weight: 0 for inactive lanes and filtered segments, else 1
    texts       normalised target text per lane ("" when inactive)
    recording_ids, segment_index, start, end (Seconds in the recording), is_last (last segment of it)
    """

    feats: torch.Tensor
    lengths: torch.Tensor
    reset: torch.Tensor
    active: torch.Tensor
    weight: torch.Tensor
    texts: list[str]
    recording_ids: list[str | None]
    segment_index: list[int]
    start: list[float]
    end: list[float]
    is_last: list[bool]
    info: dict = field(default_factory=dict)  # e.g. {"filtered": [...]} from label filters

    @property
    def batch_size(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def audio_seconds(self) -> float:
        return float(sum(e - s for e, s, a in zip(self.end, self.start, self.active.tolist(), strict=True) if a))

    @classmethod
    def empty(cls, batch_size: int, feature_dim: int) -> Batch:
        """A batch whose every lane is inactive (feats ``[B, 0, F]``, lengths 0, weight 0): what a rank whose
        shard is exhausted trains on while the other ranks finish the epoch."""
        return cls(feats=torch.zeros(batch_size, 0, feature_dim), lengths=torch.zeros(batch_size, dtype=torch.int64),
                   reset=torch.zeros(batch_size, dtype=torch.bool), active=torch.zeros(batch_size, dtype=torch.bool),
                   weight=torch.zeros(batch_size), texts=[""] * batch_size, recording_ids=[None] * batch_size,
                   segment_index=[-1] * batch_size, start=[0.0] * batch_size, end=[0.0] * batch_size,
                   is_last=[False] * batch_size)

    def to(self, device: torch.device | str) -> Batch:
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return Batch(**moved)
