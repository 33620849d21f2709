"""A compute op none of whose streams has an item is costed without its rule's arithmetic.

`costs._idle` stands in for map's, accum's, scan's and flat_map's rules when every stream
of the op is empty (most experts of a MoE layer on a few tokens): every op's events must be
those the full rules compute, field by field and dtype by dtype.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from interpreter.step import BACKEND
from interpreter.step import costs as costs_module
from interpreter.step.sim import op_events, target_params
from tests.interpreter.step.test_checked_run import TARGET, _suite_case


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b)
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_idle_compute_ops_get_the_events_their_rules_compute(monkeypatch) -> None:
    program, inputs, dims, outputs = _suite_case("moe_layer_qwen")
    checked = BACKEND.execute(program, dict(inputs), outputs, dims, TARGET)
    params = target_params(TARGET)
    idle_ops = [
        n.id
        for n in program.nodes
        if n.op in ("map", "accum", "flat_map")
        and not any(checked.streams[p].n_items for p in n.inputs)
    ]
    assert len(idle_ops) > 100  # B = 16 tokens over 128 experts: most experts get none
    shortcut = op_events(program, checked.ctx, checked.streams, params)
    monkeypatch.setattr(costs_module, "_idle", lambda env: None)
    full = op_events(program, checked.ctx, checked.streams, params)
    for v, (got, want) in enumerate(zip(shortcut, full, strict=True)):
        for field in dataclasses.fields(want):
            a, b = getattr(got, field.name), getattr(want, field.name)
            assert _same(a, b), (program.nodes[v].label(), field.name, a, b)
