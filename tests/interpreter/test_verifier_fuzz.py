"""Fuzz the trusted half of the verifier: whatever IR comes back from the sandbox, a verdict
comes out, never an exception.

Valid IR of every dialect (a suite baseline, traced here once: it is the project's own
trusted program text) is mutated the ways an adversarial or broken program could: numbers
made huge, negative, zero, NaN or 2**70; nodes dropped or duplicated; fields given the wrong
type. `check_ir` must return a `Verdict` with a known status for each. The process's address
space is capped meanwhile, as a verification worker's is, so that a mutation that makes the
checker allocate without bound shows up as a verdict here rather than an out-of-memory kill.
"""

from __future__ import annotations

import copy
import importlib
import math
import resource
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.task import load_task
from interpreter.verifier import STATUSES, Verdict, check_ir

TASKS = ("step/gemm", "sam/spmv", "dae/moe_gather_qwen")
NUMBERS = (2**70, -(2**70), 2**40, 2**31, -1, 0, math.nan, math.inf, -math.inf, 1e308, 0.5)
WRONG_TYPES = ("x", None, [], {}, [1, 2], {"op": "map"}, True)


def _traced_baseline(key: str) -> tuple[Any, dict]:
    task = load_task(key)
    module = types.ModuleType("baseline")
    exec(compile(task.baseline_source(), f"{key}.py", "exec"), module.__dict__)
    ir = importlib.import_module(f"dsl.{task.dialect}").trace(module.kernel, task.signature())
    return task, ir


@pytest.fixture(scope="module")
def irs() -> dict[str, tuple[Any, dict]]:
    return {key: _traced_baseline(key) for key in TASKS}


@pytest.fixture(scope="module", autouse=True)
def capped_address_space():
    """Lower this process's soft address-space limit to what it maps now plus 3 GiB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as status:
        mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    cap = mapped + (3 << 30)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _leaves(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every scalar in a JSON-like value."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _set(ir: Any, path: tuple, new: Any) -> None:
    for key in path[:-1]:
        ir = ir[key]
    ir[path[-1]] = new


def _node_lists(ir: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every list of dicts (node lists, graph lists, operand tables)."""
    found = []
    if isinstance(ir, dict):
        for k, v in ir.items():
            found += _node_lists(v, (*path, k))
    elif isinstance(ir, list):
        if ir and all(isinstance(x, dict) for x in ir):
            found.append(path)
        for i, v in enumerate(ir):
            found += _node_lists(v, (*path, i))
    return found


def _get(ir: Any, path: tuple) -> Any:
    for key in path:
        ir = ir[key]
    return ir


@st.composite
def mutations(draw, ir: dict) -> dict:
    """`ir` with one to three mutations."""
    mutated = copy.deepcopy(ir)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["number", "type", "drop", "duplicate"]))
        if kind in ("drop", "duplicate"):
            lists = _node_lists(mutated)
            if lists:
                items = _get(mutated, draw(st.sampled_from(lists)))
                index = draw(st.integers(0, len(items) - 1))
                if kind == "drop":
                    del items[index]
                else:
                    items.insert(index, copy.deepcopy(items[index]))
                continue
        leaves = [p for p in _leaves(mutated) if p]
        numeric = [p for p in leaves if isinstance(_get(mutated, p), int | float)]
        if kind == "number" and numeric:
            _set(mutated, draw(st.sampled_from(numeric)), draw(st.sampled_from(NUMBERS)))
        elif leaves:
            wrong = copy.deepcopy(draw(st.sampled_from(WRONG_TYPES)))
            _set(mutated, draw(st.sampled_from(leaves)), wrong)
    return mutated


def _fuzz(task: Any, ir: dict, data: st.DataObject) -> None:
    mutated = data.draw(mutations(ir))
    verdict = check_ir(task, mutated, seeds=1, seed=7, timing_seed=7, time_budget_s=3.0)
    assert isinstance(verdict, Verdict) and verdict.status in STATUSES
    assert "\n" not in verdict.feedback


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("key", TASKS)
@FAST
@given(data=st.data())
def test_mutated_ir_always_gets_a_verdict(irs, key, data):
    _fuzz(*irs[key], data)


@pytest.mark.slow
@pytest.mark.parametrize("key", TASKS)
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_ir_always_gets_a_verdict_many(irs, key, data):
    _fuzz(*irs[key], data)


def test_the_unmutated_ir_passes(irs):
    """The fuzz starts from programs that pass, so what it finds is the mutation's doing."""
    for task, ir in irs.values():
        assert check_ir(task, ir, seeds=1, seed=7, timing_seed=7).status == "passed"
