"""Mutated suite programs never crash the trusted side.

The compiled O0-O3 programs of several suite tasks are corrupted one field at a time (huge,
negative, zero, NaN and infinite numbers, wrong types) or one list entry at a time (dropped,
duplicated). Whatever comes out, validating, running and simulating it either works or
raises one of the errors the verifier turns into a verdict (DialectError, ExecutionError,
SimulationError) with a one-line message."""

from __future__ import annotations

import copy
import json
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.task import load_suite
from dsl import dae
from dsl.dae.compiler import compile_spec
from dsl.errors import DialectError
from interpreter.dae import BACKEND
from interpreter.errors import ExecutionError, SimulationError
from interpreter.targets import load_target

SMALL = {
    "eb_mean": {"B": 5, "NOFF": 6, "NNZ": 23},
    "kg_transe": {"Q": 9},
    "paged_kv_bs2": {"S": 3, "NOFF": 4, "NBLK": 5, "NTOK": 10},
    "spmm_gnn": {"R": 5, "NOFF": 6, "NNZ": 17},
}
"""Tasks of different shapes (CSR bags, several gathers, blocks, weights) at small dims."""
VERDICT_ERRORS = (DialectError, ExecutionError, SimulationError)
HOSTILE = [2**70, -(2**70), 2**63, 2**31, -1, 0, 1, 7, 0.5, True, None, "D", [], {}]
HOSTILE += [float("nan"), float("inf"), -float("inf"), 1e39]


@cache
def _programs() -> list[tuple[str, dict, dict, dict, dict]]:
    """(name, IR, dims, inputs, outputs) for each task of SMALL at each level; outputs are
    allocated from the task, as the verifier does, whatever the IR declares."""
    out = []
    for task in load_suite("dae"):
        if task.name not in SMALL:
            continue
        dims = task.full_dims(SMALL[task.name])
        inputs = task.make_inputs(dims, 1)
        outputs = {s.name: np.full(s.resolve(dims), np.nan, s.dtype) for s in task.outputs}
        names = tuple(s.name for s in task.inputs)
        for level in range(4):
            namespace: dict = {}
            exec(compile_spec(dict(task.spec), names, level, task.name), namespace)
            ir = json.loads(json.dumps(dae.trace(namespace["kernel"], task.signature())))
            out.append((f"{task.name} O{level}", ir, dims, inputs, outputs))
    return out


def _slots(node, found: list) -> list:
    """Every (container, key) in the IR, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        found.append((node, k))
        if isinstance(v, (dict, list)):
            _slots(v, found)
    return found


def _mutate(ir: dict, where: int, how: int, value) -> None:
    slots = _slots(ir, [])
    container, key = slots[where % len(slots)]
    if how == 0 or not isinstance(container, list):
        container[key] = value
    elif how == 1:
        del container[key]
    else:
        container.insert(key, copy.deepcopy(container[key]))


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    program=st.integers(0, 15),
    where=st.integers(0, 10**6),
    how=st.integers(0, 2),
    value=st.sampled_from(HOSTILE),
)
def test_mutated_suite_programs_get_a_verdict(program, where, how, value):
    _check(program, where, how, value)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    program=st.integers(0, 15),
    where=st.integers(0, 10**6),
    how=st.integers(0, 2),
    value=st.sampled_from(HOSTILE),
)
def test_mutated_suite_programs_get_a_verdict_quick(program, where, how, value):
    _check(program, where, how, value)


def _check(program: int, where: int, how: int, value) -> None:
    name, good, dims, inputs, outputs = _programs()[program]
    ir = copy.deepcopy(good)
    _mutate(ir, where, how, value)
    target = load_target("dae_default")
    fresh = {k: v.copy() for k, v in outputs.items()}
    try:
        p = BACKEND.load(ir)
        BACKEND.execute(p, {k: v.copy() for k, v in inputs.items()}, fresh, dims, target)
        BACKEND.simulate(p, inputs, dims, target)
    except VERDICT_ERRORS as exc:
        assert "\n" not in str(exc), f"{name}: a message of several lines: {exc}"


def test_known_crashers_get_a_verdict():
    """Found by hand before the ranges existed: step 2**70 (OverflowError in numpy), a huge
    constant index (OverflowError), a case id of 2**40 (a lookup table of 2**40 entries)."""
    good = _programs()[0][1]
    for path, value in [
        (("tus", 0, "step"), 2**70),
        (("streams", 1, "args", 1, "const"), 2**70),
        (("cases", 0, "id"), 2**40),
    ]:
        ir = copy.deepcopy(good)
        node = ir
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(DialectError, match="must be in"):
            BACKEND.load(ir)
