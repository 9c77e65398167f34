"""``RNNTLoss``: the ``rnnt`` loss plugin (predictor + joiner + a loss backend + greedy streaming decoding).

Implements :class:`statecatcher.protocols.Loss`.  The predictor's context is carried state (lane axis first),
so segment ``k + 1``'s first token is predicted from segment ``k``'s last tokens; the trainer resets it per
lane at a recording start and saves it in checkpoints like the encoder's state::

    loss = RNNTLoss(input_dim=256, vocab_size=500, predictor="lstm", pruned=True, prune_range=5)
    loss = RNNTLoss(input_dim=256, vocab_size=500, topology="modified")  # at most one symbol per frame
    loss = RNNTLoss(input_dim=256, vocab_size=500, ctc_loss_scale=0.3)    # plus an auxiliary CTC head
    state = loss.init_state(batch_size)
    nll, state = loss(enc_out, enc_lens, targets, target_lens, state)       # nll [B], summed per lane
    tokens, frames, state = loss.decode_step(enc_out, enc_lens, state)      # greedy, chunk by chunk

Lanes with no frames give loss 0.  A lane with frames 0 but tokens > 0 has no alignment (loss ``+inf``); like
CTC's ``zero_infinity`` it gives 0 (no gradient), and :attr:`RNNTLoss.infinite_lanes` counts it with a warning.
The pruned loss can also be infinite when ``prune_range - 1`` symbols per frame cannot cover ``U_b``; same rule.
"""

from __future__ import annotations

import functools
import logging

import torch
import torch.nn.functional as F
from torch import nn

from . import backends
from .backends.torch_lattice import TOPOLOGIES, at_least_fp32, rnnt_loss_torch
from .beam import ModifiedBeamSearch
from .decode import greedy_decode
from .joiner import Joiner
from .predictor import build_predictor
from .pruned import SimpleJoiner, pruned_rnnt_loss

log = logging.getLogger("statecatcher.rnnt")


class RNNTLoss(nn.Module):
    """RNN-T loss owning its predictor (``"stateless"`` or ``"lstm"``) and joiner.

    Args:
        input_dim: encoder output size D.  vocab_size: V, blank included.  blank_id: the blank token.
        predictor: ``"stateless"`` (embedding + grouped conv over ``context_size`` tokens, icefall) or
            ``"lstm"`` (``pred_layers`` layers).  pred_dim, joiner_dim: hidden sizes.
        backend: full-lattice loss backend: ``"auto"`` (warp-rnnt on CUDA, then torchaudio, then pure PyTorch;
            warprnnt_numba only when asked, its CPU path being Python loops), or one of ``"torch"``, ``"numba"``,
            ``"torchaudio"``, ``"warp"``; the choice is logged once and kept in :attr:`backend_name`.
        pruned: train with pruned RNN-T (the full joiner runs on ``prune_range`` symbols per frame); the loss
            is then ``pruned_nll + simple_loss_scale * simple_nll``, ``lm_scale``/``am_scale`` smooth the simple
            loss as in k2/icefall.
        topology: ``"standard"`` (Graves: any number of symbols per frame) or ``"modified"`` (k2's one symbol
            per frame: a token also consumes its frame).  ``"modified"`` runs on the pure-PyTorch lattice (and
            the pruned loss); training and greedy decoding then share one lattice, which keeps a small model
            that memorises its data from emitting a whole segment on one frame.  Needs ``T_b >= U_b``.
        max_symbols_per_frame: greedy decoding emits at most this many tokens per encoder frame (always 1 with
            ``topology="modified"``).
        ctc_loss_scale: when > 0, an auxiliary CTC head (a linear layer on the encoder output, as icefall's
            ``--use-ctc``) adds ``ctc_loss_scale * ctc_nll`` to the loss; it ties the encoder's frames to the
            tokens they sound like, so the joiner cannot lean on the predictor alone.  Decoding ignores it.
    """

    def __init__(self, input_dim: int, vocab_size: int, blank_id: int = 0, *, predictor: str = "stateless",
                 context_size: int = 2, pred_dim: int = 256, joiner_dim: int = 256, pred_layers: int = 1,
                 backend: str = "auto", pruned: bool = False, prune_range: int = 5, simple_loss_scale: float = 0.5,
                 lm_scale: float = 0.25, am_scale: float = 0.0, max_symbols_per_frame: int = 3,
                 topology: str = "standard", ctc_loss_scale: float = 0.0):
        super().__init__()
        checks = [(vocab_size >= 2, "vocab_size", vocab_size, "must be >= 2"),
                  (0 <= blank_id < vocab_size, "blank_id", blank_id, f"must be in [0, vocab_size={vocab_size})"),
                  (prune_range >= 2, "prune_range", prune_range, "must be >= 2 (a window holds a node and the next)"),
                  (max_symbols_per_frame >= 1, "max_symbols_per_frame", max_symbols_per_frame, "must be >= 1"),
                  (ctc_loss_scale >= 0, "ctc_loss_scale", ctc_loss_scale, "must be >= 0"),
                  (topology in TOPOLOGIES, "topology", topology, f"must be one of {', '.join(TOPOLOGIES)}"),
                  (topology == "standard" or backend in ("auto", "torch"), "backend", backend,
                   "supports only topology='standard'; topology='modified' runs on the 'torch' backend")]
        for ok, name, value, rule in checks:
            if not ok:
                raise ValueError(f"rnnt option {name}={value!r} {rule}")
        self.input_dim, self.vocab_size, self.blank_id = input_dim, vocab_size, blank_id
        self.pruned, self.prune_range, self.simple_loss_scale = pruned, prune_range, simple_loss_scale
        self.lm_scale, self.am_scale, self.topology = lm_scale, am_scale, topology
        self.max_symbols_per_frame = 1 if topology == "modified" else max_symbols_per_frame
        self.predictor = build_predictor(predictor, vocab_size, pred_dim, blank_id, context_size, pred_layers)
        self.joiner = Joiner(input_dim, pred_dim, joiner_dim, vocab_size)
        self.simple_joiner = SimpleJoiner(input_dim, pred_dim, vocab_size) if pruned else None
        self.ctc_loss_scale = ctc_loss_scale
        self.ctc_head = nn.Linear(input_dim, vocab_size) if ctc_loss_scale > 0 else None
        self.backend = backend
        self.backend_name = ""
        self._backend_fn = None
        self._backend_device: str | None = None
        self.infinite_lanes = 0
        self._use_backend(torch.device("cuda" if torch.cuda.is_available() else "cpu"))

    # ------------------------------------------------------------------ backend
    def _use_backend(self, device: torch.device) -> None:
        """Resolve the backend for ``device`` (again only when the device type changes); log the choice once."""
        if self._backend_device == device.type:
            return
        if self.topology == "modified":  # only the pure-PyTorch lattice has it
            name, fn = "torch", functools.partial(rnnt_loss_torch, topology="modified")
        else:
            name, fn = backends.resolve(self.backend, device)
        self.backend_name, self._backend_fn, self._backend_device = name, fn, device.type
        what = f"pruned RNN-T (prune_range={self.prune_range}, pure-PyTorch lattice)" if self.pruned else name
        what += f", {self.topology} topology"
        log.info("rnnt loss on %s: %s (requested backend %r)", device.type, what, self.backend)

    # ------------------------------------------------------------------ state
    def init_state(self, batch_size: int, device: torch.device | None = None):
        """The predictor context at a recording start (blank-filled), lane axis first."""
        return self.predictor.init_state(batch_size, device=device)

    # ------------------------------------------------------------------ loss
    def forward(self, enc_out: torch.Tensor, enc_lens: torch.Tensor, targets: torch.Tensor,
                target_lens: torch.Tensor, state):
        """``enc_out [B, T', D]``, ``enc_lens [B]``, ``targets [B, U]``, ``target_lens [B]`` -> ``(nll [B], state)``."""
        enc_lens, target_lens = enc_lens.to(enc_out.device).long(), target_lens.to(enc_out.device).long()
        targets = self._check_targets(targets.to(enc_out.device).long(), target_lens)
        if enc_lens.shape != target_lens.shape or bool((enc_lens > enc_out.shape[1]).any()):
            raise ValueError(f"rnnt enc_lens {enc_lens.tolist()} must be [B] and <= T'={enc_out.shape[1]} frames")
        pred_out, new_state = self.predictor(targets, target_lens, state)  # [B, U + 1, P]
        # crop the padding shared by all lanes (backends want T' == max(enc_lens)); a lane without frames
        # gets one dummy frame so every lattice is legal, and its loss is zeroed below
        empty = enc_lens == 0
        lattice_lens = enc_lens.clamp(min=1)
        frames, tokens = int(lattice_lens.max()), int(target_lens.max())
        if enc_out.shape[1] < frames:
            enc_out = torch.cat([enc_out, enc_out.new_zeros(enc_out.shape[0], 1, enc_out.shape[2])], dim=1)
        enc_out, pred_out, targets = enc_out[:, :frames], pred_out[:, : tokens + 1], targets[:, :tokens]
        if self.pruned:
            simple, pruned = pruned_rnnt_loss(self.joiner, self.simple_joiner, enc_out, pred_out, targets,
                                              lattice_lens, target_lens, blank_id=self.blank_id,
                                              prune_range=self.prune_range, lm_scale=self.lm_scale,
                                              am_scale=self.am_scale, topology=self.topology)
            nll = pruned + self.simple_loss_scale * simple
        else:
            self._use_backend(enc_out.device)
            logits = self.joiner(enc_out, pred_out)  # [B, T', U + 1, V]
            nll = self._backend_fn(logits, targets, lattice_lens, target_lens, self.blank_id)
        if self.ctc_head is not None:
            nll = nll + self.ctc_loss_scale * self._ctc_nll(enc_out, lattice_lens, targets, target_lens)
        return self._zero_impossible(nll, empty, target_lens), new_state

    def _ctc_nll(self, enc_out: torch.Tensor, enc_lens: torch.Tensor, targets: torch.Tensor,
                 target_lens: torch.Tensor) -> torch.Tensor:
        """The auxiliary CTC head's summed NLL per lane ``[B]`` (0, no gradient, where no alignment exists)."""
        log_probs = at_least_fp32(self.ctc_head(enc_out)).log_softmax(dim=-1)
        return F.ctc_loss(log_probs.transpose(0, 1), targets, enc_lens, target_lens, blank=self.blank_id,
                          reduction="none", zero_infinity=True)

    def _check_targets(self, targets: torch.Tensor, target_lens: torch.Tensor) -> torch.Tensor:
        """Validate the tokens inside ``target_lens``; padding may hold anything."""
        if targets.dim() != 2 or target_lens.shape != targets.shape[:1]:
            raise ValueError(f"rnnt targets must be [B, U] with target_lens [B], got {tuple(targets.shape)} and "
                             f"{tuple(target_lens.shape)}")
        if bool((target_lens > targets.shape[1]).any()) or bool((target_lens < 0).any()):
            raise ValueError(f"rnnt target_lens {target_lens.tolist()} must lie in [0, U={targets.shape[1]}]")
        valid = torch.arange(targets.shape[1], device=targets.device)[None, :] < target_lens[:, None]
        real = targets[valid]
        if bool(((real < 0) | (real >= self.vocab_size) | (real == self.blank_id)).any()):
            raise ValueError(f"rnnt targets must be token ids in [0, {self.vocab_size}) other than "
                             f"blank {self.blank_id}; got {sorted(set(real.tolist()))[:10]}")
        return targets.masked_fill(~valid, self.blank_id)

    def _zero_impossible(self, nll: torch.Tensor, empty: torch.Tensor, target_lens: torch.Tensor) -> torch.Tensor:
        """0 for lanes without frames; 0 (counted, warned) for lanes whose loss is infinite."""
        impossible = (empty & (target_lens > 0)) | (~empty & ~torch.isfinite(nll))
        count = int(impossible.sum())
        if count:
            self.infinite_lanes += count
            log.warning("rnnt: %d lane(s) have no alignment (frames 0 but tokens > 0, or tokens the pruning "
                        "window cannot reach); their loss is set to 0 (%d so far)", count, self.infinite_lanes)
        return torch.where(empty | impossible, torch.zeros_like(nll), nll)

    # ------------------------------------------------------------------ decoding
    def decode_step(self, enc_out: torch.Tensor, enc_lens: torch.Tensor, state):
        """Greedy decoding of one chunk -> ``(tokens, token_frames, new_state)`` (frames index this chunk)."""
        return greedy_decode(self.predictor, self.joiner, enc_out, enc_lens.to(enc_out.device), state,
                             blank_id=self.blank_id, max_symbols=self.max_symbols_per_frame)

    def beam_search(self, options, fusion=None) -> ModifiedBeamSearch:
        """A streaming modified beam search (one symbol per frame) with this head's predictor and joiner (one
        stream; see :mod:`statecatcher_rnnt.beam`); ``fusion`` is a ``WordLMFusion`` or None."""
        return ModifiedBeamSearch(self.predictor, self.joiner, self.blank_id, options, fusion)
