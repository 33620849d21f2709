"""Mutated suite IR never makes the trusted side raise anything but a one-line program error.

The IR comes from the sandbox, so an agent can put any value in any field. Starting from the
real IR of suite baselines, hypothesis replaces numeric fields (shapes, blocks, mode orders,
levels, fan-outs, lanes, depths, orders, scalars, node ids, input ids) with huge, negative,
zero, NaN and wrong-typed values, and drops or duplicates nodes; loading, running and
simulating the result must either work or raise `DialectError`, `ExecutionError` or
`SimulationError` with a message that names what is wrong.
"""

from __future__ import annotations

import copy
import math
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.task import load_task
from dsl import sam
from dsl.errors import DialectError
from interpreter.errors import ExecutionError, SimulationError
from interpreter.sam import BACKEND
from interpreter.targets import load_target

TASKS = ("spmv", "spgemm_outer", "sddmm", "mttkrp", "bigbird_attention_b16")
ODD_VALUES = (
    0,
    -1,
    1,
    2,
    3,
    63,
    64,
    65,
    2**31,
    2**40,
    2**70,
    -(2**70),
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    0.5,
    True,
    "x",
    None,
    [],
)


@cache
def _case(name: str) -> tuple[dict, dict, dict, dict]:
    """(IR, inputs, dims, target) of a task's baseline at its smallest check size."""
    task = load_task(f"sam/{name}")
    namespace: dict = {}
    exec(compile(task.baseline_source() or "", name, "exec"), namespace)
    ir = sam.trace(namespace["kernel"], task.signature())
    dims = min((task.full_dims(c) for c in task.checks), key=lambda d: sorted(d.values()))
    return ir, task.make_inputs(dims, 1), dims, load_target(task.target)


def _numeric_slots(ir: dict) -> list[tuple[object, object]]:
    """(container, key) of every number in the IR a program could have chosen."""
    slots: list[tuple[object, object]] = []
    for t in ir["tensors"]:
        slots += [(t["shape"], k) for k, d in enumerate(t["shape"]) if isinstance(d, int)]
        slots += [(t["mode_order"], k) for k in range(len(t["mode_order"]))]
        slots.append((t, "block"))
    for g in ir["graphs"]:
        for node in g["nodes"]:
            slots.append((node, "id"))
            slots += [(node["attrs"], k) for k in node["attrs"] if k not in ("tensor", "op")]
            slots += [(pair, 0) for pair in node["inputs"]]
    return slots


def _run(ir: dict, inputs: dict, dims: dict, target: dict) -> None:
    program = BACKEND.load(ir)
    outputs = {
        name: np.zeros([dims[d] if isinstance(d, str) else d for d in t.shape])
        for name, t in program.tensors.items()
        if t.role == "output"
    }
    BACKEND.execute(program, {k: v.copy() for k, v in inputs.items()}, outputs, dims, target)
    BACKEND.simulate(program, inputs, dims, target)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(TASKS),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(ODD_VALUES)), min_size=1, max_size=3
    ),
    structural=st.sampled_from(("none", "drop", "duplicate")),
    which=st.integers(0, 10_000),
)
def test_mutated_ir_gets_a_program_error_or_runs(name, edits, structural, which) -> None:
    ir, inputs, dims, target = _case(name)
    ir = copy.deepcopy(ir)
    slots = _numeric_slots(ir)
    for index, value in edits:
        container, key = slots[index % len(slots)]
        container[key] = value  # type: ignore[index]
    nodes = ir["graphs"][which % len(ir["graphs"])]["nodes"]
    if structural == "drop":
        nodes.pop(which % len(nodes))
    elif structural == "duplicate":
        nodes.insert(which % len(nodes), copy.deepcopy(nodes[which % len(nodes)]))
    try:
        _run(ir, inputs, dims, target)
    except (DialectError, ExecutionError, SimulationError) as exc:
        message = str(exc)
        assert message and "\n" not in message


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ir: ir["tensors"][0].update(block=2**40), "block must be an int in 1..64"),
        (lambda ir: ir["tensors"][0].update(block=65), "block must be an int in 1..64"),
        (lambda ir: _first(ir, "scan")["attrs"].update(level=2**70), "level 1180591620717411303424 out of range"),
        (lambda ir: _first(ir, "alu")["attrs"].update(op="scalar_mul", scalar=math.nan), "must be a finite number"),
        (lambda ir: _first(ir, "alu")["attrs"].update(op="scalar_mul", scalar=10**400), "must be a finite number"),
        (lambda ir: _first(ir, "root").update(id=2**40), "node id must be an int in 0..2147483647"),
        (lambda ir: ir["tensors"][0]["shape"].__setitem__(0, 2**30), "ints in 1..16777216"),
    ],
)  # fmt: skip
def test_out_of_range_fields_name_the_field(edit, message) -> None:
    ir, inputs, dims, target = _case("spmv")
    ir = copy.deepcopy(ir)
    edit(ir)
    with pytest.raises(DialectError, match=message.replace("(", r"\(").replace(".", r"\.")):
        BACKEND.load(ir)


def _first(ir: dict, op: str) -> dict:
    return next(n for g in ir["graphs"] for n in g["nodes"] if n["op"] == op)
