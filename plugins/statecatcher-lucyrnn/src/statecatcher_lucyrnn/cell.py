"""One LucyRNN layer: the projection, the gates, and the two forms of its recurrence.

Per lane, vectors in ``R^H``, ``*`` elementwise, ``sig`` the logistic function::

    [z~, k~, v~, hp~, a~, al~] = W x_t + b        W xavier-uniform; b = 1, 0, 0, 0, 2, 0.5 (per block of H)
    (k, v) = (k~, v~) / rms(k~, v~)               kv_norm="rms": ONE rms over the frame's 2H channels; "none": as is
    z_t = sig(z~_t)    log a_t = -softplus(-a~_t)    al_t = sig(al~_t)    kv_t = k_t * v_t
    s_t = a_t * s_{t-1} + al_t * kv_t
    c_t = tanh(hp~_t + s_t)
    h_t = z_t * h_{t-1} + (1 - z_t) * c_t         the layer's output

Padding frames (``valid`` false) get ``a = 1, al = 0, z = 1``, so ``(h, s)`` pass through them bit for bit.

Two forms, one answer: :func:`recurrent` steps frame by frame (the reference; streaming inference) and
:func:`chunkwise` runs both first-order recurrences as chunkwise-parallel scans
(:func:`statecatcher_lucyrnn.scan.chunkwise_scan`): ``c_t`` does not depend on ``h_{t-1}``, so ``s`` comes
first, then ``c``, then ``h``.  Gates and scans run in the state's dtype (float32, float64 in exactness
tests), whatever the layer's input dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .scan import chunkwise_scan

GATES = ("z", "k", "v", "hp", "a", "al")  # the projection's output blocks, in this order
BIAS_INIT = {"z": 1.0, "k": 0.0, "v": 0.0, "hp": 0.0, "a": 2.0, "al": 0.5}
KV_NORMS = ("rms", "none")
RMS_EPS = 1e-6


@dataclass(frozen=True)
class Gates:
    """The per-frame coefficients of both recurrences, each ``[B, T, H]``, neutral (``0``) at padding frames."""

    log_a: torch.Tensor   # log decay of s
    write: torch.Tensor   # al * kv: what enters s
    pre: torch.Tensor     # hp~: added to s inside the tanh
    log_z: torch.Tensor   # log decay of h
    blend: torch.Tensor   # 1 - z: the weight of c in h


class LucyRNNLayer(nn.Module):
    """``x [B, T, input_dim] -> h [B, T, H]`` with the carried layer state ``{"h": [B, H], "s": [B, H]}``."""

    def __init__(self, input_dim: int, hidden_dim: int, kv_norm: str = "rms"):
        super().__init__()
        if kv_norm not in KV_NORMS:
            raise ValueError(f"lucyrnn encoder option kv_norm={kv_norm!r}: choose one of {', '.join(KV_NORMS)}")
        self.hidden_dim, self.kv_norm = hidden_dim, kv_norm
        self.projection = nn.Linear(input_dim, len(GATES) * hidden_dim)
        nn.init.xavier_uniform_(self.projection.weight)
        with torch.no_grad():
            self.projection.bias.copy_(torch.tensor([BIAS_INIT[g] for g in GATES]).repeat_interleave(hidden_dim))

    def gates(self, x: torch.Tensor, valid: torch.Tensor, dtype: torch.dtype) -> Gates:
        """``x [B, T, input_dim]``, ``valid [B, T]`` -> :class:`Gates` in ``dtype``."""
        z, k, v, pre, a, al = self.projection(x).to(dtype).chunk(len(GATES), dim=-1)
        if self.kv_norm == "rms":
            mean_square = (k.square().mean(-1, keepdim=True) + v.square().mean(-1, keepdim=True)) / 2
            scale = torch.rsqrt(mean_square + RMS_EPS)                                    # [B, T, 1]
            k, v = k * scale, v * scale
        keep, zero = valid[..., None], x.new_zeros((), dtype=dtype)
        return Gates(log_a=torch.where(keep, F.logsigmoid(a), zero),
                     write=torch.where(keep, torch.sigmoid(al) * k * v, zero),
                     pre=pre,
                     log_z=torch.where(keep, F.logsigmoid(z), zero),
                     blend=torch.where(keep, torch.sigmoid(-z), zero))

    def forward(self, x: torch.Tensor, valid: torch.Tensor, state: dict[str, torch.Tensor], mode: str,
                chunk_len: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``mode`` ``"chunkwise"`` or ``"recurrent"``; returns ``(h [B, T, H] in x's dtype, new layer state)``."""
        gates = self.gates(x, valid, state["s"].dtype)
        if mode == "recurrent":
            outs, h, s = recurrent(gates, state["h"], state["s"])
        else:
            outs, h, s = chunkwise(gates, state["h"], state["s"], chunk_len)
        return outs.to(x.dtype), {"h": h, "s": s}


def recurrent(gates: Gates, h: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame by frame: ``h, s [B, H]`` -> ``(h_t for every frame [B, T, H], h_T, s_T)``."""
    a, z = gates.log_a.exp(), gates.log_z.exp()
    outs = []
    for t in range(a.shape[1]):
        s = a[:, t] * s + gates.write[:, t]
        c = torch.tanh(gates.pre[:, t] + s)
        h = z[:, t] * h + gates.blend[:, t] * c
        outs.append(h)
    return (torch.stack(outs, dim=1) if outs else gates.pre), h, s


def chunkwise(gates: Gates, h: torch.Tensor, s: torch.Tensor,
              chunk_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both recurrences as chunkwise scans; same contract and result as :func:`recurrent`."""
    s_all, s = chunkwise_scan(gates.log_a, gates.write, s, chunk_len)
    c = torch.tanh(gates.pre + s_all)
    outs, h = chunkwise_scan(gates.log_z, gates.blend * c, h, chunk_len)
    return outs, h, s
