"""The sLSTM recurrence on CPU: the ``xlstm`` package's vanilla cell, with fewer and larger ops per frame.

Same arithmetic as :func:`statecatcher_xlstm.blocks.slstm_pointwise_lane_local` (the package's step with
a per-lane stabiliser start), rearranged so that a frame costs one batched matrix product and about fifteen
element-wise ops, with no copies:

* the recurrent kernel is laid out once per call (the package transposes it on every frame);
* the input pre-activations and bias are summed once, and laid out per head, so the recurrent product and
  the input are added by one ``baddbmm``;
* the states are kept in a per-head layout ``[H, B, d]`` and stacked once at the end (the package writes
  them into a preallocated tensor in place, which autograd turns into a copy of the whole tensor per frame);
* ``min(exp(i - m), 1)`` is ``exp(i - m)``: ``m >= i`` always, so the clip never changes a value.

Shapes: ``gates [S, B, 4*D]`` in the vanilla cell's internal ``SBGNH`` layout (gate, head, head_dim),
``start [4, B, D]`` (h, c, n, m), ``kernel [H, 4*d, d]`` (the cell's ``_recurrent_kernel``), ``bias [4*D]``;
returns every state ``[4, S + 1, B, D]`` (index 0 is ``start``), as the package's ``_impl`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def slstm_sequence(gates: torch.Tensor, start: torch.Tensor, kernel: torch.Tensor,
                   bias: torch.Tensor) -> torch.Tensor:
    """All sLSTM states over ``S`` frames; see the module docstring for the layouts."""
    S, B, _ = gates.shape
    H, d = kernel.shape[0], kernel.shape[2]
    per_head = lambda t: t.view(B, H, d).transpose(0, 1)                           # noqa: E731 [B, D] -> [H, B, d]
    inputs = (gates + bias).view(S, B, 4, H, d).permute(0, 3, 1, 2, 4).reshape(S, H, B, 4 * d)
    recurrent = kernel.transpose(1, 2)                                              # [H, d, 4*d]
    h, c, n, m = (per_head(x) for x in start.unbind(0))
    steps = []
    for frame in inputs.unbind(0):
        raw = torch.baddbmm(frame, h, recurrent).view(H, B, 4, d)
        h, c, n, m = slstm_step(raw, c, n, m)
        steps.append(torch.stack((h, c, n, m)))
    if not steps:
        return start[:, None]
    every = torch.stack(steps, dim=1)                                               # [4, S, H, B, d]
    every = every.permute(0, 1, 3, 2, 4).reshape(4, S, B, H * d)
    return torch.cat([start[:, None].to(every.dtype), every], dim=1)


def slstm_step(raw: torch.Tensor, c: torch.Tensor, n: torch.Tensor, m: torch.Tensor):
    """One frame: ``raw [H, B, 4, d]`` pre-activations (i, f, z, o), states ``[H, B, d]`` -> ``(h, c, n, m)``."""
    i_raw, f_raw, z_raw, o_raw = raw.unbind(2)
    log_f_plus_m = m + F.logsigmoid(f_raw)
    m_new = torch.where(n == 0.0, i_raw, torch.maximum(i_raw, log_f_plus_m))   # stabiliser starts per lane
    i_gate = torch.exp(i_raw - m_new)
    f_gate = torch.exp(log_f_plus_m - m_new).clamp(max=1.0)  # > 1 only where n == 0, which it multiplies
    c_new = torch.addcmul(f_gate * c, i_gate, torch.tanh(z_raw))
    n_new = torch.addcmul(i_gate, f_gate, n)
    return torch.sigmoid(o_raw) * c_new / n_new, c_new, n_new, m_new
