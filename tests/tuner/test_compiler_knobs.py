"""The builtin compilers' declared knobs: the tuner reads them and the program honours them."""

from __future__ import annotations

from typing import Any

import pytest

from agents.tuning import Knobs, with_values
from benchmarks.task import load_task
from dsl import dae
from dsl.core.params import IR_KEY
from dsl.dae.compiler import compile_task
from interpreter.verify.trusted import check_ir


def _trace(source: str, task: Any) -> dict:
    namespace: dict[str, Any] = {}
    exec(compile(source, "compiled.py", "exec"), namespace)  # the compiler's own text
    return dae.trace(namespace["kernel"], task.signature())


def _lanes(ir: dict) -> set[int]:
    """Every `lanes` value above 1 in the IR: the vectorised column loops (scalar loops
    have 1)."""
    found: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("lanes"), int):
                found.add(node["lanes"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(ir)
    return found - {1}


def test_dae_o2_declares_lanes_with_the_default_it_always_used():
    task = load_task("benchmarks/dae/eb_sum_hot.toml")
    ir = _trace(compile_task(task, level=2), task)
    knobs = Knobs.of(ir[IR_KEY])
    assert [p.name for p in knobs.space.params] == ["lanes"]
    assert knobs.start == {"lanes": 8}
    assert _lanes(ir) == {8}


@pytest.mark.parametrize("level", [0, 3])
def test_dae_without_a_free_vector_loop_declares_nothing(level):
    """O0 has no vector loop; O3's contiguous row loads build only with 8 lanes."""
    task = load_task("benchmarks/dae/eb_sum_hot.toml")
    assert IR_KEY not in _trace(compile_task(task, level=level), task)


@pytest.mark.slow
def test_a_tuned_lanes_value_reaches_every_column_loop_and_passes():
    task = load_task("benchmarks/dae/eb_sum_hot.toml")
    scalar = _trace(with_values(compile_task(task, level=2), "dae", {"lanes": 1}), task)
    assert _lanes(scalar) == set()
    assert Knobs.of(scalar[IR_KEY]).start == {"lanes": 1}
    verdict = check_ir(task, scalar, seeds=1, seed=1, timing_seed=5)
    assert verdict.status == "passed" and verdict.cycles > 0
