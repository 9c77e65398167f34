"""``for_export()``: the package's multi-head group norm written out traces to ONNX and computes the same."""

import torch
from xlstm.components.ln import MultiHeadLayerNorm

from statecatcher_xlstm.encoder import XLSTMEncoder
from statecatcher_xlstm.export import TraceableMultiHeadLayerNorm


def test_traceable_group_norm_equals_the_package_one():
    torch.manual_seed(0)
    norm = MultiHeadLayerNorm(ndim=32, weight=True, bias=True)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 4, 5, 8) * 3 + 1  # [B, NH, S, DH]
    expected = norm(x)
    norm.__class__ = TraceableMultiHeadLayerNorm
    torch.testing.assert_close(norm(x), expected, rtol=0, atol=1e-5)


def test_for_export_is_a_copy_with_traceable_norms_and_the_same_outputs():
    torch.manual_seed(0)
    encoder = XLSTMEncoder(input_dim=8, hidden_dim=32, pattern="m,s,l", num_heads=4).eval()
    exported = encoder.for_export()
    kinds = lambda module: {type(m) for m in module.modules()}  # noqa: E731
    assert MultiHeadLayerNorm in kinds(encoder) and TraceableMultiHeadLayerNorm not in kinds(encoder)
    assert TraceableMultiHeadLayerNorm in kinds(exported) and MultiHeadLayerNorm not in kinds(exported)
    feats = torch.randn(1, 32, 8)
    with torch.no_grad():
        out, _, _ = encoder(feats, torch.tensor([32]), encoder.init_state(1))
        out_exported, _, _ = exported(feats, torch.tensor([32]), exported.init_state(1))
    torch.testing.assert_close(out_exported, out, rtol=0, atol=1e-4)
