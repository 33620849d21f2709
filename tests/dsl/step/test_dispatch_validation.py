"""A dispatch's feedback loop is refused, at build and in `load_ir`, when it cannot make
progress: one line naming the node and what is wrong."""

from __future__ import annotations

import copy

import pytest

from dsl import step
from dsl.errors import ProgramError, ValidationError
from tests.interpreter.step import dispatch_programs as dp


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_a_dispatch_has_per_region_outputs_sharing_one_count() -> None:
    def kernel(x, work):
        w, index = dp.requests(work, dp.N)
        parts = step.dispatch([w, index], 3)
        assert len(parts) == 3 and all(len(p) == 2 for p in parts)
        stores, signals = [], []
        for w_r, i_r in parts:
            assert w_r.shape[0] == i_r.shape[0]  # one fresh count per region: no assume_shape
            store, free = dp.region(x, w_r, i_r)
            stores.append(store)
            signals.append(free)
        step.free_signal(signals, of=parts)
        return stores

    program = step.load_ir(step.trace(kernel, dp.SIG))
    assert [n.op for n in program.nodes].count("free_signal") == 1


def test_a_dispatch_without_free_signal_is_refused() -> None:
    def kernel(x, work):
        w, index = dp.requests(work, dp.N)
        stores = []
        for w_r, i_r in step.dispatch([w, index], 2):
            store, free = dp.region(x, w_r, i_r)
            step.sink(free)
            stores.append(store)
        return stores

    with pytest.raises(ProgramError) as err:
        step.trace(kernel, dp.SIG)
    assert "no free_signal" in _one_line(err) and "first wave" in str(err.value)


def test_one_signal_per_region() -> None:
    def kernel(x, work):
        w, index = dp.requests(work, dp.N)
        parts = step.dispatch([w, index], 2)
        stores, signals = [], []
        for w_r, i_r in parts:
            store, free = dp.region(x, w_r, i_r)
            stores.append(store)
            signals.append(free)
        step.sink(signals[1])
        step.free_signal(signals[:1], of=parts)
        return stores

    with pytest.raises(ProgramError) as err:
        step.trace(kernel, dp.SIG)
    assert "2 regions but 1 free signals" in _one_line(err)


def test_a_signal_not_computed_from_its_regions_work_is_refused() -> None:
    def kernel(x, work):
        w, index = dp.requests(work, dp.N)
        parts = step.dispatch([w, index], 2)
        stores, signals = [], []
        for w_r, i_r in parts:
            store, free = dp.region(x, w_r, i_r)
            stores.append(store)
            signals.append(free)
        signals.reverse()  # region 0 told free by region 1's work and vice versa
        step.free_signal(signals, of=parts)
        return stores

    with pytest.raises(ProgramError) as err:
        step.trace(kernel, dp.SIG)
    assert "signal 0" in _one_line(err) and "region 0" in str(err.value)


def test_of_must_be_a_dispatch() -> None:
    def kernel(x, work):
        w, index = dp.requests(work, dp.N)
        step.free_signal([w], of=index)

    with pytest.raises(ProgramError) as err:
        step.trace(kernel, dp.SIG)
    assert "what step.dispatch returned" in _one_line(err)


def _ir() -> dict:
    return step.trace(dp.dynamic, dp.SIG)


def _node(ir: dict, op: str) -> dict:
    return next(n for n in ir["nodes"] if n["op"] == op)


def test_load_ir_refuses_a_free_signal_naming_another_node() -> None:
    ir = copy.deepcopy(_ir())
    _node(ir, "free_signal")["attrs"]["dispatch"] = 0  # the work load
    with pytest.raises(ValidationError) as err:
        step.load_ir(ir)
    assert "not a dispatch" in _one_line(err)


def test_load_ir_refuses_a_free_signal_naming_a_later_node() -> None:
    ir = copy.deepcopy(_ir())
    fs = _node(ir, "free_signal")
    fs["attrs"]["dispatch"] = fs["id"]
    with pytest.raises(ValidationError) as err:
        step.load_ir(ir)
    assert "earlier dispatch" in _one_line(err)


def test_load_ir_refuses_swapped_signals() -> None:
    ir = copy.deepcopy(_ir())
    fs = _node(ir, "free_signal")
    fs["in"] = fs["in"][::-1]
    with pytest.raises(ValidationError) as err:
        step.load_ir(ir)
    assert "is not computed from" in _one_line(err)


def test_load_ir_refuses_an_unclosed_dispatch() -> None:
    ir = copy.deepcopy(_ir())
    node = _node(ir, "free_signal")
    ports = node["in"]
    node.update({"op": "sink", "in": ports[:1], "attrs": {}})  # each signal sunk instead
    extra = [
        {"id": len(ir["nodes"]) + i, "op": "sink", "in": [p], "attrs": {}}
        for i, p in enumerate(ports[1:])
    ]
    with pytest.raises(ValidationError) as err:
        step.load_ir({**ir, "nodes": [*ir["nodes"], *extra]})
    assert "no free_signal" in _one_line(err)
