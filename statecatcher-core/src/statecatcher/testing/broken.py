"""A tiny correct encoder and deliberately broken variants, one flaw each, proving every check can fail.

:class:`TinyGRUEncoder` is the reference: delta features -> :class:`~statecatcher.nn.CausalSubsampling` ->
a masked ``GRUCell`` loop -> ``Linear``.  Each broken class overrides one small method of it:

===========================  =========================================================  ========================
class                        flaw                                                       caught by
===========================  =========================================================  ========================
``IgnoresStateEncoder``      starts every call from ``init_state``                      chunk invariance
``ForgetsConvCacheEncoder``  drops the front end's causal-conv cache between calls      chunk invariance
``LeaksPaddingEncoder``      keeps the chunk's last frame, padding or not, for deltas   padding invariance
``MixesLanesEncoder``        pulls each lane's hidden state towards the batch mean      lane independence
``GRULayoutStateEncoder``    stores ``h`` as ``[1, B, H]`` (``nn.GRU``'s layout)        reset (+ lane independence)
``InPlaceStateEncoder``      writes the new ``h`` into the incoming state tensor        carried state (gradients)
``HiddenStateEncoder``       keeps ``h`` in a module attribute, outside the state       state save/load roundtrip
``UnboundedStateEncoder``    integrates (``h + |x|``) instead of gating: ``h`` grows    long-context stability
===========================  =========================================================  ========================
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn import CausalSubsampling


class TinyGRUEncoder(nn.Module):
    """A small, correct :class:`~statecatcher.protocols.StatefulEncoder`.

    ``feats[B,T,F]`` -> ``[feats, feats - previous frame]`` ``[B,T,2F]`` -> CausalSubsampling ``[B,T',H]`` ->
    GRUCell over output frames (a lane's ``h`` moves only on its valid frames) -> Linear ``[B,T',D]``.

    State (lane axis first)::

        frontend    CausalSubsampling state (stack, stack_len, conv)
        prev_frame  [B, F]  the lane's last valid input frame (for the first delta of the next chunk)
        h           [B, H]  GRU hidden state
    """

    def __init__(self, input_dim: int = 6, hidden_dim: int = 8, output_dim: int | None = None,
                 subsampling: int = 4, conv_kernel: int = 3):
        super().__init__()
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.output_dim = output_dim or hidden_dim
        self.subsampling = subsampling
        self.frontend = CausalSubsampling(2 * input_dim, hidden_dim, subsampling, conv_kernel)
        self.cell = nn.GRUCell(hidden_dim, hidden_dim)
        self.proj = nn.Linear(hidden_dim, self.output_dim)

    def init_state(self, batch_size: int, device=None, dtype=None) -> dict:
        dtype = dtype or self.proj.weight.dtype
        device = device or self.proj.weight.device
        return {
            "frontend": self.frontend.init_state(batch_size, device=device, dtype=dtype),
            "prev_frame": torch.zeros(batch_size, self.input_dim, device=device, dtype=dtype),
            "h": torch.zeros(batch_size, self.hidden_dim, device=device, dtype=dtype),
        }

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, state: dict):
        lengths = lengths.to(device=feats.device, dtype=torch.long)
        previous = torch.cat([state["prev_frame"][:, None].to(feats.dtype), feats[:, :-1]], dim=1)
        with_deltas = torch.cat([feats, feats - previous], dim=-1)                 # [B, T, 2F]
        z, out_lengths, frontend = self.frontend(with_deltas, lengths, state["frontend"])
        h = state["h"]
        outputs = []
        for t in range(z.shape[1]):
            h = torch.where((t < out_lengths)[:, None], self.step(z[:, t], h), h)
            outputs.append(h)
        hidden = torch.stack(outputs, dim=1) if outputs else z.new_zeros(z.shape[0], 0, self.hidden_dim)
        new_state = {"frontend": frontend, "prev_frame": self.last_frame(feats, lengths, state["prev_frame"]),
                     "h": h}
        return self.proj(hidden), out_lengths, new_state

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One recurrence step ``[B, H] -> [B, H]``."""
        return self.cell(x, h)

    def last_frame(self, feats: torch.Tensor, lengths: torch.Tensor, prev_frame: torch.Tensor) -> torch.Tensor:
        """Each lane's last valid frame ``[B, F]``; lanes without frames in this call keep ``prev_frame``."""
        index = (lengths - 1).clamp(min=0)[:, None, None].expand(-1, 1, feats.shape[2])
        last = feats.gather(1, index)[:, 0] if feats.shape[1] else prev_frame
        return torch.where((lengths > 0)[:, None], last, prev_frame)


class IgnoresStateEncoder(TinyGRUEncoder):
    """Flaw: every call starts from ``init_state``; the carried state is ignored."""

    def forward(self, feats, lengths, state):
        return super().forward(feats, lengths, self.init_state(feats.shape[0], feats.device, feats.dtype))


class ForgetsConvCacheEncoder(TinyGRUEncoder):
    """Flaw: the front end's causal-conv cache is zeroed at every call (a chunk forgets the previous one's
    last ``kernel - 1`` frames)."""

    def forward(self, feats, lengths, state):
        frontend = {**state["frontend"], "conv": torch.zeros_like(state["frontend"]["conv"])}
        return super().forward(feats, lengths, {**state, "frontend": frontend})


class LeaksPaddingEncoder(TinyGRUEncoder):
    """Flaw: remembers the chunk's last frame for the next delta even when it is padding.

    Zero padding hides the bug (a lane that ended keeps a zero frame either way, so chunked == whole);
    garbage padding lands in the state.
    """

    def last_frame(self, feats, lengths, prev_frame):
        return feats[:, -1] if feats.shape[1] else prev_frame


class MixesLanesEncoder(TinyGRUEncoder):
    """Flaw: each lane's new ``h`` is pulled towards the batch mean (a batch statistic, as in batch norm)."""

    def step(self, x, h):
        return self.cell(x, h) + 0.5 * (h.mean(dim=0, keepdim=True) - h)


class GRULayoutStateEncoder(TinyGRUEncoder):
    """Flaw: ``h`` is kept as ``[1, B, H]`` (``nn.GRU``'s ``h_0`` layout), so its lane axis is not first.

    ``reset_lanes`` then broadcasts the lane mask over the wrong axis.  Lane independence fails too, by
    design: a leaf without a leading lane axis cannot be attributed to a lane, so the kit counts it
    against every lane.
    """

    def init_state(self, batch_size, device=None, dtype=None):
        state = super().init_state(batch_size, device, dtype)
        return {**state, "h": state["h"][None]}

    def forward(self, feats, lengths, state):
        out, out_lengths, new_state = super().forward(feats, lengths, {**state, "h": state["h"][0]})
        return out, out_lengths, {**new_state, "h": new_state["h"][None]}


class InPlaceStateEncoder(TinyGRUEncoder):
    """Flaw: writes the new ``h`` into the incoming state tensor (``copy_``), which autograd had saved."""

    def forward(self, feats, lengths, state):
        out, out_lengths, new_state = super().forward(feats, lengths, state)
        state["h"].copy_(new_state["h"])
        return out, out_lengths, {**new_state, "h": state["h"]}


class HiddenStateEncoder(TinyGRUEncoder):
    """Flaw: keeps ``h`` in a module attribute; the returned state carries only a stale copy.

    Within one encoder object it streams correctly, so only a save/load into a new object shows it.
    """

    def forward(self, feats, lengths, state):
        hidden = getattr(self, "_hidden", None)
        out, out_lengths, new_state = super().forward(
            feats, lengths, {**state, "h": state["h"] if hidden is None else hidden})
        self._hidden = new_state["h"].detach()
        return out, out_lengths, {**new_state, "h": state["h"]}


class UnboundedStateEncoder(TinyGRUEncoder):
    """Flaw: the recurrence integrates its input (``h + |x|``) instead of gating it, so ``h`` grows with
    the recording; short streams are still exact."""

    def step(self, x, h):
        return h + x.abs()
