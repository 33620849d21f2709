"""Mutated suite IR never makes the trusted side raise anything but a one-line program error.

The IR comes from the sandbox, so an agent can put any value in any field. Starting from the
real IR of suite baselines, hypothesis replaces numeric fields (shapes, blocks, mode orders,
levels, fan-outs, lanes, depths, orders, scalars, node ids, input ids) with huge, negative,
zero, NaN, wrong-typed and merely different values, flips level formats, rewires inputs
and drops or duplicates nodes; loading, running and simulating the result must either work
or raise `DialectError`, `ExecutionError` or `SimulationError` with a one-line message.
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

TASKS = (
    "spmv",
    "spgemm_outer",
    "spgemm_gustavson",
    "sddmm",
    "mttkrp",
    "elemadd",
    "gcn_layer_karate",
    "bigbird_attention_b16",
)
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


def _rewire(ir: dict, graph: int, node: int, port: int, source: int) -> None:
    """Point one input of a node at another output of an earlier node of its graph."""
    nodes = ir["graphs"][graph % len(ir["graphs"])]["nodes"]
    consumer = nodes[1 + node % (len(nodes) - 1)] if len(nodes) > 1 else nodes[0]
    if not consumer["inputs"]:
        return
    earlier = nodes[: nodes.index(consumer)] or nodes
    producer = earlier[source % len(earlier)]
    ports = [p for n in nodes for pid, p in n["inputs"] if pid == producer["id"]] or ["ref"]
    consumer["inputs"][port % len(consumer["inputs"])] = [producer["id"], ports[0]]


def _reformat(ir: dict, tensor: int, level: int, order: int) -> None:
    """Flip one level of a tensor between dense and compressed, and rotate its mode order."""
    t = ir["tensors"][tensor % len(ir["tensors"])]
    if t["format"]:
        lv = level % len(t["format"])
        t["format"][lv] = "dense" if t["format"][lv] == "compressed" else "compressed"
        k = order % len(t["mode_order"])
        t["mode_order"] = t["mode_order"][k:] + t["mode_order"][:k]


VALUES = st.one_of(st.sampled_from(ODD_VALUES), st.integers(0, 8), st.integers(1, 64))
EDITS = st.one_of(
    st.tuples(st.just("number"), st.integers(0, 10_000), VALUES),
    st.tuples(st.just("format"), st.integers(0, 100), st.integers(0, 100), st.integers(0, 3)),
    st.tuples(
        st.just("rewire"),
        st.integers(0, 100),
        st.integers(0, 100),
        st.integers(0, 3),
        st.integers(0, 100),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(TASKS),
    edits=st.lists(EDITS, min_size=1, max_size=3),
    structural=st.sampled_from(("none", "none", "drop", "duplicate")),
    which=st.integers(0, 10_000),
)
def test_mutated_ir_gets_a_program_error_or_runs(name, edits, structural, which) -> None:
    ir, inputs, dims, target = _case(name)
    ir = copy.deepcopy(ir)
    slots = _numeric_slots(ir)
    for kind, *args in edits:
        if kind == "number":
            container, key = slots[args[0] % len(slots)]
            container[key] = args[1]  # type: ignore[index]
        elif kind == "format":
            _reformat(ir, *args)
        else:
            _rewire(ir, *args)
    nodes = ir["graphs"][which % len(ir["graphs"])]["nodes"]
    if structural == "drop":
        nodes.pop(which % len(nodes))
    elif structural == "duplicate":  # a second copy under a fresh id: its inputs are taken
        copied = dict(copy.deepcopy(nodes[which % len(nodes)]), id=10_000)
        nodes.insert(which % len(nodes) + 1, copied)
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
