"""Ops given only empty streams (a MoE expert no token was routed to: most of Qwen's 128)
answer at once (accum, reshape, repeat, flat_map's nesting, a load per ref item, the shape
check): every such output must still be an empty stream of the declared kind (int8 stops,
bool flags, tiles of the declared shape), and the layer's output the reference's."""

from __future__ import annotations

import types

import numpy as np

from benchmarks.task import SUITES_DIR, load_task
from dsl import step
from dsl.step.types import Tile
from interpreter.step import BACKEND
from interpreter.step.run import run_functional
from interpreter.step.streams import LazyTiles


def test_an_expert_without_tokens_gives_empty_streams_of_the_declared_kind() -> None:
    task = load_task(SUITES_DIR / "step" / "moe_layer_qwen.toml")
    module = types.ModuleType("baseline")
    exec(compile(task.baseline_source(), "baseline.py", "exec"), module.__dict__)
    program = BACKEND.load(step.trace(module.kernel, task.signature()))
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, 3)
    ctx, streams = run_functional(program, dict(inputs), dims, keep=True)
    idle = [
        n
        for n in program.nodes
        if n.inputs and all(streams[p].n_items == 0 for p in n.inputs) and n.outputs
    ]
    assert {n.op for n in idle} >= {"accum", "reshape", "repeat", "flat_map", "map"}
    assert len({p.node for n in idle for p in n.inputs}) > 100  # most of the 128 experts
    for node in idle:
        for i, declared in enumerate(node.outputs):
            out = streams[node.ports()[i]]
            assert out.n_items == 0 and out.n_values == 0, node.label()
            assert out.stop.dtype == np.int8 and out.has_value.dtype == bool, node.label()
            elem = declared.elem
            if isinstance(elem, Tile) and elem.is_static and not isinstance(out.values, list):
                shape = (elem.rows.value, elem.cols.value)
                values = out.values
                got = values.grid.shape[1:] if isinstance(values, LazyTiles) else values.shape[1:]
                assert tuple(got) == shape, node.label()
    want = task.reference_outputs(inputs, dims)["y"]
    full, mask = ctx.written["y"]
    assert mask.all()
    np.testing.assert_allclose(full, want, rtol=1e-4, atol=1e-4)
