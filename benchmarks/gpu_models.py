"""The encoders and tensors the GPU checks share: registry names and options at the checks' small size,
streaming two chunks with a carried state, and gradients in a layout two backends share.

Every xlstm model of the equivalence and training checks uses the same sLSTM configuration (hidden 256,
4 heads), because the ``xlstm`` package compiles its CUDA sLSTM kernel once per configuration (about a
minute each with nvcc).
"""

from __future__ import annotations

from benchmarks.gpu_common import INPUT_DIM, Context

# The fla-backed RWKV encoders last in every group: on a fresh machine their first call autotunes fla's Triton
# kernels (the 2026-12-04 run: ~400 configurations, minutes, per head size and dtype; docs/gpu.md), and a
# group that runs out of time loses only the checks after the one that was running.
FLA_ENCODERS = ("rwkv7", "rwkv6")
ENCODERS = ("lstm", "xlstm", "lucyrnn", *FLA_ENCODERS)


def encoder_options(ctx: Context) -> dict[str, dict]:
    """Registry options per encoder at the checks' small size (a few hundred thousand to ~2 M parameters)."""
    if ctx.dry_run:
        return {"lstm": {"hidden_dim": 32, "num_layers": 1},
                "xlstm": {"hidden_dim": 32, "num_heads": 2, "pattern": "m,s", "chunk_size": 16},
                "rwkv7": {"hidden_dim": 32, "num_layers": 1, "head_size": 16, "chunk_len": 8},
                "rwkv6": {"hidden_dim": 32, "num_layers": 1, "head_size": 16, "chunk_len": 8},
                "lucyrnn": {"hidden_dim": 32, "num_layers": 1, "chunk_len": 8}}
    return {"lstm": {"hidden_dim": 256, "num_layers": 2},
            "xlstm": {"hidden_dim": 256, "num_heads": 4, "pattern": "m,m,s,m"},
            "rwkv7": {"hidden_dim": 256, "num_layers": 2},
            "rwkv6": {"hidden_dim": 256, "num_layers": 2},
            "lucyrnn": {"hidden_dim": 256, "num_layers": 2}}


def build_encoder(name: str, ctx: Context, seed: int = 0, **overrides):
    """Encoder ``name`` from the registry on ``ctx.device``, float32, train mode, seeded weights."""
    import torch

    import statecatcher

    torch.manual_seed(seed)
    options = {**encoder_options(ctx)[name], **overrides}
    return statecatcher.get_encoder(name, INPUT_DIM, **options).to(ctx.device).train()


def random_batch(ctx: Context, lanes: int, frames: int, seed: int = 0):
    """``(feats [B, T, 80], lengths [B])`` on the device; lane 0 is full, the others end early (padding)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    feats = torch.randn(lanes, frames, INPUT_DIM, generator=generator)
    lengths = torch.tensor([frames] + [int(frames * (0.5 + 0.5 * (lane / lanes))) for lane in range(1, lanes)])
    return feats.to(ctx.device), lengths.to(ctx.device)


def valid_outputs(out, out_lengths):
    """``out [B, T', D]`` with frames past ``out_lengths`` zeroed."""
    import torch

    valid = torch.arange(out.shape[1], device=out.device)[None, :] < out_lengths[:, None]
    return torch.where(valid[..., None], out, out.new_zeros(()))


def stream_two_chunks(encoder, feats, lengths) -> dict:
    """Stream ``feats`` in two chunks (state carried), backpropagate the outputs' mean square.

    Returns ``{"outputs": [B, T', D] of both chunks concatenated, "state": flat final state, "input_grad":
    d loss / d feats, "param_grads": flat parameter gradients in the backends' shared layout}``.
    """
    import torch

    from statecatcher.state import leaves

    feats = feats.detach().clone().requires_grad_(True)
    half = feats.shape[1] // 2
    state = encoder.init_state(feats.shape[0], device=feats.device)
    outputs = []
    for part, part_lengths in ((feats[:, :half], lengths.clamp(max=half)),
                               (feats[:, half:], (lengths - half).clamp(min=0))):
        out, out_lengths, state = encoder(part, part_lengths, state)
        outputs.append(valid_outputs(out, out_lengths))
    outputs = torch.cat(outputs, dim=1)
    encoder.zero_grad(set_to_none=True)
    outputs.float().pow(2).mean().backward()
    flat_state = torch.cat([leaf.detach().double().flatten() for leaf in leaves(state)])
    return {"outputs": outputs.detach(), "state": flat_state, "input_grad": feats.grad.detach(),
            "param_grads": shared_layout_grads(encoder)}


def slstm_cells(encoder) -> list:
    """The ``xlstm`` package's sLSTM cells inside ``encoder`` (they convert between weight layouts)."""
    return [module for module in encoder.modules() if hasattr(module, "_recurrent_kernel_int2ext")]


def shared_layout_grads(encoder):
    """All parameter gradients flattened in order; an sLSTM cell's recurrent kernel and bias gradients in
    the package's external layout, which its vanilla and CUDA cells share."""
    import torch

    to_external = {}
    for cell in slstm_cells(encoder):
        to_external[id(cell._recurrent_kernel_)] = cell._recurrent_kernel_int2ext
        to_external[id(cell._bias_)] = cell._bias_int2ext
    grads = []
    for param in encoder.parameters():
        grad = param.grad if param.grad is not None else torch.zeros_like(param)
        grads.append(to_external.get(id(param), lambda g: g)(grad).reshape(-1).double())
    return torch.cat(grads)


def copy_weights(source, target) -> None:
    """``target`` gets ``source``'s weights; sLSTM cell kernels and biases go through the external layout."""
    import torch

    internal = ("_recurrent_kernel_", "_bias_")
    target.load_state_dict({k: v for k, v in source.state_dict().items() if not k.endswith(internal)},
                           strict=False)
    with torch.no_grad():
        for src, dst in zip(slstm_cells(source), slstm_cells(target), strict=True):
            dst._recurrent_kernel_.copy_(dst._recurrent_kernel_ext2int(src._recurrent_kernel_int2ext(
                src._recurrent_kernel_)))
            dst._bias_.copy_(dst._bias_ext2int(src._bias_int2ext(src._bias_)))
