"""statecatcher.state: generic operations on lane-first state pytrees."""

from __future__ import annotations

import pytest
import torch

from statecatcher.state import (
    cast_like,
    detach,
    keep_lanes,
    leaves,
    load_state,
    map_state,
    max_abs_diff,
    reset_lanes,
    save_state,
    select_lanes,
    stack_lanes,
    state_norms,
    to_device,
)


def _state(batch: int = 3, fill: float | None = None) -> dict:
    """A nested state of every container kind, with an int64 leaf and a None slot."""
    def t(*shape):
        return torch.full((batch, *shape), fill) if fill is not None else torch.randn(batch, *shape)

    return {
        "frontend": {"stack": t(2, 4), "stack_len": torch.arange(batch)},
        "layers": [(t(5), t(5)), (t(5), t(5))],
        "unused": None,
    }


def _assert_same(a, b):
    assert max_abs_diff(a, b) == 0.0
    assert [x.dtype for x in leaves(a)] == [y.dtype for y in leaves(b)]


def test_map_state_keeps_structure_and_container_types():
    state = _state()
    doubled = map_state(lambda t: t * 2, state)
    assert isinstance(doubled["layers"], list) and isinstance(doubled["layers"][0], tuple)
    assert doubled["unused"] is None
    assert torch.equal(doubled["layers"][1][0], state["layers"][1][0] * 2)
    summed = map_state(lambda a, b: a + b, state, doubled)
    assert torch.equal(summed["frontend"]["stack"], state["frontend"]["stack"] * 3)


@pytest.mark.parametrize("bad", [3, "h", 1.5, {"h": [torch.zeros(1), "c"]}])
def test_map_state_rejects_leaves_that_are_not_tensors(bad):
    with pytest.raises(TypeError, match="state leaves must be tensors"):
        map_state(lambda t: t, bad)


def test_leaves_come_in_a_fixed_order():
    state = _state()
    assert [t.shape[1:] for t in leaves(state)] == [(2, 4), (), (5,), (5,), (5,), (5,)]
    assert list(state_norms(state)) == ["frontend.stack", "frontend.stack_len", "layers.0.0", "layers.0.1",
                                        "layers.1.0", "layers.1.1"]


def test_reset_lanes_gives_init_for_masked_lanes_and_keeps_the_others():
    state, fresh = _state(), _state(fill=0.0)
    fresh["frontend"]["stack_len"] = torch.zeros(3, dtype=torch.long)
    out = reset_lanes(state, torch.tensor([True, False, True]), fresh)
    _assert_same(select_lanes(out, [0, 2]), select_lanes(fresh, [0, 2]))
    _assert_same(select_lanes(out, [1]), select_lanes(state, [1]))
    assert out["frontend"]["stack_len"].dtype == torch.long


def test_reset_lanes_casts_fresh_to_the_state_dtype():
    state = {"h": torch.randn(2, 3, dtype=torch.float64)}
    out = reset_lanes(state, torch.tensor([1, 0]), {"h": torch.zeros(2, 3, dtype=torch.float32)})
    assert out["h"].dtype == torch.float64 and torch.equal(out["h"][0], torch.zeros(3, dtype=torch.float64))


def test_cast_like_restores_each_leaf_dtype_and_keeps_the_graph():
    like = {"h": torch.zeros(2, 3), "n": [torch.zeros(2, dtype=torch.long)]}
    x = torch.randn(2, 3, requires_grad=True)
    out = cast_like({"h": x.to(torch.bfloat16), "n": [torch.tensor([1.0, 2.0])]}, like)
    assert out["h"].dtype == torch.float32 and out["n"][0].dtype == torch.long
    assert torch.equal(out["h"], x.to(torch.bfloat16).float()) and out["n"][0].tolist() == [1, 2]
    out["h"].sum().backward()
    assert torch.equal(x.grad, torch.ones(2, 3))


def test_keep_lanes_picks_old_where_asked():
    new, old = _state(), _state()
    out = keep_lanes(new, old, torch.tensor([False, True, False]))
    _assert_same(select_lanes(out, [1]), select_lanes(old, [1]))
    _assert_same(select_lanes(out, [0, 2]), select_lanes(new, [0, 2]))


def test_detach_keeps_values_and_drops_the_graph():
    weight = torch.randn(5, requires_grad=True)
    state = map_state(lambda t: t * weight if t.is_floating_point() and t.shape[-1:] == (5,) else t, _state())
    assert any(t.grad_fn is not None for t in leaves(state))
    detached = detach(state)
    assert all(t.grad_fn is None and not t.requires_grad for t in leaves(detached))
    _assert_same(detached, state)


def test_select_and_stack_lanes_are_inverse():
    state = _state(batch=4)
    by_mask = select_lanes(state, torch.tensor([True, False, True, False]))
    _assert_same(by_mask, select_lanes(state, [0, 2]))
    rebuilt = stack_lanes([select_lanes(state, [0, 1]), select_lanes(state, [2]), select_lanes(state, [3])])
    _assert_same(rebuilt, state)


def test_save_and_load_round_trip(tmp_path):
    state = _state()
    state["layers"][0] = (state["layers"][0][0].requires_grad_(), state["layers"][0][1])
    save_state(state, tmp_path / "state.pt")
    loaded = load_state(tmp_path / "state.pt", device="cpu")
    _assert_same(loaded, state)
    assert isinstance(loaded["layers"][0], tuple) and loaded["unused"] is None
    assert not any(t.requires_grad for t in leaves(loaded))


def test_max_abs_diff_is_the_largest_leaf_difference():
    a = {"h": torch.zeros(2, 3), "n": torch.zeros(2, 0), "i": torch.zeros(2, dtype=torch.long)}
    b = {"h": torch.zeros(2, 3), "n": torch.zeros(2, 0), "i": torch.tensor([0, 7])}
    b["h"][1, 2] = -0.25
    assert max_abs_diff(a, b) == 7.0
    b["i"] = a["i"]
    assert max_abs_diff(a, b) == 0.25
    assert max_abs_diff({"n": torch.zeros(2, 0)}, {"n": torch.zeros(2, 0)}) == 0.0


def test_to_device_moves_every_leaf():
    moved = to_device(_state(), "cpu")
    assert all(t.device.type == "cpu" for t in leaves(moved))
