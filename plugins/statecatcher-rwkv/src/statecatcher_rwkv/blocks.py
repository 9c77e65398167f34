"""RWKV blocks for causal speech encoding: token shift, time mix (RWKV-6 and RWKV-7) and channel mix.

Dimension legend: ``B`` lanes, ``T`` output-rate frames, ``C`` model width (``H`` heads x ``N`` head size).

Every mixer looks back exactly one frame (token shift); that frame is carried between calls, so a block is
exact under any chunking.  ``valid [B, T]`` marks real frames: padding gets decay 1 and no update, so the
matrix state passes through it untouched, and the shift caches keep the last *valid* frame of each lane.

A ``wkv`` callable does the linear attention (see :mod:`statecatcher_rwkv.backends`):
RWKV-6 ``wkv(r, k, v, log_w, u, state)``, RWKV-7 ``wkv(r, k, v, log_w, a, b, state)``; both take
``[B, T, H, N]`` sequences and a ``[B, H, N, N]`` state and return ``(out [B, T, H, N], state)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def shift(x: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Each frame's predecessor: ``[B, T, C]`` with ``previous [B, C]`` in front of frame 0."""
    return torch.cat([previous[:, None].to(x.dtype), x[:, :-1]], dim=1)


def last_valid(x: torch.Tensor, lengths: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The new shift cache ``[B, C]``: frame ``lengths[b] - 1`` of each lane, or ``previous`` if it had none."""
    index = (lengths - 1).clamp(min=0).to(x.device)[:, None, None].expand(-1, 1, x.shape[-1])
    latest = x.gather(1, index)[:, 0] if x.shape[1] else previous
    return torch.where((lengths > 0).to(x.device)[:, None], latest, previous.to(x.dtype))


def neutralise_padding(valid: torch.Tensor, log_w: torch.Tensor, *updates: torch.Tensor) -> list[torch.Tensor]:
    """Decay 1 (log 0) and zero updates (keys, values, delta-rule vectors) at padding frames."""
    keep = valid[:, :, None, None]
    return [torch.where(keep, x, x.new_zeros(())) for x in (log_w, *updates)]


def heads(x: torch.Tensor, head_size: int) -> torch.Tensor:
    """``[B, T, C] -> [B, T, H, N]``."""
    return x.reshape(*x.shape[:2], -1, head_size)


def _mix_init(width: int, exponent: float) -> torch.Tensor:
    """RWKV's token-shift initialisation ``1 - (c / C) ** exponent``, shaped ``[C]``."""
    return 1.0 - (torch.arange(width) / width) ** exponent


def _decay_init(width: int, low: float, high: float, curvature: float) -> torch.Tensor:
    """Per-channel log-log decay ramp from ``low`` (slow channels) to ``high`` (fast ones), ``[C]``."""
    return low + (high - low) * (torch.arange(width) / max(width - 1, 1)) ** curvature


def _lora(width: int, rank: int, scale: float) -> tuple[nn.Parameter, nn.Parameter]:
    """A low-rank ``C -> rank -> C`` map: zero down-projection, small orthogonal up-projection."""
    up = torch.empty(rank, width)
    nn.init.orthogonal_(up)
    return nn.Parameter(torch.zeros(width, rank)), nn.Parameter(up * scale)


class TimeMix7(nn.Module):
    """RWKV-7 time mix: token shift, LoRA decay / learning rate / value residual / gate, WKV-7, group norm."""

    def __init__(self, width: int, head_size: int, layer_id: int, num_layers: int, lora_dim: int):
        super().__init__()
        self.head_size, self.layer_id = head_size, layer_id
        depth_0_to_1 = layer_id / max(num_layers - 1, 1)
        depth_1_to_0 = 1.0 - layer_id / num_layers
        self.mix = nn.ParameterDict({
            name: nn.Parameter(_mix_init(width, power * depth_1_to_0))
            for name, power in (("r", 0.2), ("w", 0.9), ("k", 0.7), ("v", 0.7), ("a", 0.9), ("g", 0.2))
        })
        self.w0 = nn.Parameter(_decay_init(width, -7.0, -2.0, 0.85 + depth_0_to_1 ** 0.5) + 0.5)
        self.w1, self.w2 = _lora(width, lora_dim, 0.1)
        self.a0 = nn.Parameter(torch.zeros(width))
        self.a1, self.a2 = _lora(width, lora_dim, 0.1)
        self.v0 = nn.Parameter(torch.ones(width))
        self.v1, self.v2 = _lora(width, lora_dim, 0.1)
        self.g1, self.g2 = _lora(width, lora_dim, 0.1)
        self.k_k = nn.Parameter(torch.full((width,), 0.85))
        self.k_a = nn.Parameter(torch.ones(width))
        self.r_k = nn.Parameter(torch.zeros(width // head_size, head_size))
        self.receptance, self.key, self.value, self.output = (nn.Linear(width, width, bias=False) for _ in range(4))
        self.group_norm = nn.GroupNorm(width // head_size, width, eps=64e-5)

    def forward(self, x, previous, valid, v_first, wkv, state):
        """``x [B, T, C]``, ``previous [B, C]``, ``valid [B, T]``, ``v_first [B, T, C]`` (None in layer 0).

        Returns ``(y [B, T, C], v_first [B, T, C], state [B, H, N, N])``.
        """
        delta = shift(x, previous) - x
        xr, xw, xk, xv, xa, xg = (x + delta * self.mix[name] for name in "rwkvag")
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        w = -F.softplus(-(self.w0 + torch.tanh(xw @ self.w1) @ self.w2)) - 0.5   # log-log decay < -0.5
        if v_first is None:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        rate = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)                  # in-context learning rate
        gate = torch.sigmoid(xg @ self.g1) @ self.g2

        N = self.head_size
        removal = F.normalize(heads(k * self.k_k, N), dim=-1)                     # kappa_hat
        k = heads(k * (1 + (rate - 1) * self.k_a), N)
        r, v, rate = heads(r, N), heads(v, N), heads(rate, N)
        log_w, k, v_in, a, b = neutralise_padding(valid, heads(-w.exp(), N), k, v, -removal, removal * rate)
        out, state = wkv(r, k, v_in, log_w, a, b, state)

        B, T, C = x.shape
        out = self.group_norm(out.reshape(B * T, C)).reshape(B, T, C)
        out = out + ((r * k * self.r_k).sum(-1, keepdim=True) * v).reshape(B, T, C)
        return self.output(out * gate), v_first, state


class TimeMix6(nn.Module):
    """RWKV-6 time mix: data-dependent token shift (ddlerp), LoRA decay, bonus ``u``, WKV-6, group norm, gate."""

    def __init__(self, width: int, head_size: int, layer_id: int, num_layers: int, lora_dim: int):
        super().__init__()
        self.head_size = head_size
        depth_0_to_1 = layer_id / max(num_layers - 1, 1)
        depth_1_to_0 = 1.0 - layer_id / num_layers
        self.mix_x = nn.Parameter(_mix_init(width, depth_1_to_0))
        self.mix = nn.Parameter(torch.stack([                                     # w, k, v, r, g
            _mix_init(width, depth_1_to_0), _mix_init(width, depth_1_to_0),
            _mix_init(width, depth_1_to_0) - 0.3 * depth_0_to_1,
            _mix_init(width, 0.5 * depth_1_to_0), _mix_init(width, 0.5 * depth_1_to_0)]))
        self.mix_down = nn.Parameter(torch.zeros(width, 5 * lora_dim))
        self.mix_up = nn.Parameter(torch.empty(5, lora_dim, width).uniform_(-0.01, 0.01))
        self.decay = nn.Parameter(_decay_init(width, -6.0, -1.0, 0.7 + 1.3 * depth_0_to_1))
        self.decay_down = nn.Parameter(torch.zeros(width, lora_dim))
        self.decay_up = nn.Parameter(torch.empty(lora_dim, width).uniform_(-0.01, 0.01))
        channel = torch.arange(width)
        bonus = depth_0_to_1 * (1 - channel / max(width - 1, 1)) + ((channel + 1) % 3 - 1) * 0.1
        self.bonus = nn.Parameter(bonus.reshape(width // head_size, head_size))
        self.receptance, self.key, self.value, self.gate, self.output = (
            nn.Linear(width, width, bias=False) for _ in range(5))
        self.group_norm = nn.GroupNorm(width // head_size, width, eps=64e-5)

    def forward(self, x, previous, valid, v_first, wkv, state):
        """Same contract as :meth:`TimeMix7.forward`; RWKV-6 has no value residual (``v_first`` passes through)."""
        B, T, C = x.shape
        delta = shift(x, previous) - x
        lora = torch.tanh((x + delta * self.mix_x) @ self.mix_down).reshape(B, T, 5, -1)
        dynamic = torch.einsum("btfd,fdc->fbtc", lora, self.mix_up)              # [5, B, T, C]
        xw, xk, xv, xr, xg = (x + delta * (self.mix[i] + dynamic[i]) for i in range(5))
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        gate = F.silu(self.gate(xg))
        log_w = -(self.decay + torch.tanh(xw @ self.decay_down) @ self.decay_up).exp()

        N = self.head_size
        log_w, k, v = neutralise_padding(valid, heads(log_w, N), heads(k, N), heads(v, N))
        out, state = wkv(heads(r, N), k, v, log_w, self.bonus, state)
        out = self.group_norm(out.reshape(B * T, C)).reshape(B, T, C)
        return self.output(out * gate), v_first, state


class ChannelMix(nn.Module):
    """Token-shifted squared-ReLU MLP; RWKV-6 adds a receptance gate (``gated=True``)."""

    def __init__(self, width: int, layer_id: int, num_layers: int, expansion: int = 4, gated: bool = False):
        super().__init__()
        self.mix_k = nn.Parameter(_mix_init(width, 1.0 - layer_id / num_layers))
        self.mix_r = nn.Parameter(_mix_init(width, 1.0 - layer_id / num_layers)) if gated else None
        self.key = nn.Linear(width, expansion * width, bias=False)
        self.value = nn.Linear(expansion * width, width, bias=False)
        self.receptance = nn.Linear(width, width, bias=False) if gated else None

    def forward(self, x: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """``x [B, T, C]``, ``previous [B, C]`` -> ``[B, T, C]``."""
        delta = shift(x, previous) - x
        out = self.value(torch.relu(self.key(x + delta * self.mix_k)) ** 2)
        if self.receptance is None:
            return out
        return torch.sigmoid(self.receptance(x + delta * self.mix_r)) * out


class RWKVBlock(nn.Module):
    """Pre-norm residual block: ``x + TimeMix(LN(x))`` then ``x + ChannelMix(LN(x))``, both token-shifted.

    Layer state: ``att_shift [B, C]``, ``wkv [B, H, N, N]``, ``ffn_shift [B, C]``.
    """

    def __init__(self, width: int, head_size: int, layer_id: int, num_layers: int, version: int, lora_dim: int):
        super().__init__()
        time_mix = {6: TimeMix6, 7: TimeMix7}[version]
        self.norm_att, self.norm_ffn = nn.LayerNorm(width), nn.LayerNorm(width)
        self.att = time_mix(width, head_size, layer_id, num_layers, lora_dim)
        self.ffn = ChannelMix(width, layer_id, num_layers, gated=version == 6)

    def forward(self, x, valid, lengths, state, v_first, wkv):
        """``x [B, T, C]``, ``valid [B, T]``, ``lengths [B]`` -> ``(x, v_first, new layer state)``."""
        h = self.norm_att(x)
        att, v_first, wkv_state = self.att(h, state["att_shift"], valid, v_first, wkv, state["wkv"])
        x = x + att
        f = self.norm_ffn(x)
        x = x + self.ffn(f, state["ffn_shift"])
        new_state = {
            "att_shift": last_valid(h, lengths, state["att_shift"]),
            "wkv": wkv_state,
            "ffn_shift": last_valid(f, lengths, state["ffn_shift"]),
        }
        return x, v_first, new_state
