"""The builtin compilers' declared knobs: the tuner reads them and the program honours them."""

from __future__ import annotations

from typing import Any

import pytest

from agents.tuning import Knobs, tune_program, with_values
from benchmarks.task import load_task
from dsl import dae, sam, step
from dsl.core.params import IR_KEY
from dsl.dae.compiler import compile_task
from dsl.errors import ProgramError
from dsl.sam.compiler import compile_task as compile_sam
from dsl.step.compiler import compile_task as compile_step
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


def _sam_trace(source: str, task: Any, params: dict[str, Any] | None = None) -> dict:
    namespace: dict[str, Any] = {}
    exec(compile(source, "compiled.py", "exec"), namespace)  # the compiler's own text
    return sam.trace(namespace["kernel"], {**task.signature(), "params": params or {}})


def _blocks(ir: dict) -> set[int]:
    return {t["block"] for t in ir["tensors"]}


def test_sam_block_mode_declares_the_block_sizes_that_divide_its_own():
    task = load_task("benchmarks/sam/bigbird_attention_b64.toml")
    ir = _sam_trace(compile_sam(task), task)
    knobs = Knobs.of(ir[IR_KEY])
    assert [p.name for p in knobs.space.params] == ["block"]
    assert list(knobs.space.params[0].values()) == [16, 32, 64]  # Comal's block modes
    assert knobs.start == {"block": 64}
    assert _blocks(ir) == {64}
    # Another declared size reaches every tensor; the graph is the same.
    retuned = _sam_trace(compile_sam(task), task, {"block": 32})
    assert _blocks(retuned) == {32}
    assert retuned["graphs"] == ir["graphs"]
    # A larger block than the compiled one would store zeros of the mask: not declared.
    small = load_task("benchmarks/sam/bigbird_attention_b32.toml")
    assert _sam_trace(compile_sam(small), small)[IR_KEY]["params"]["block"]["values"] == [16, 32]


def test_sam_block_outside_its_declared_domain_is_one_line_naming_it():
    task = load_task("benchmarks/sam/bigbird_attention_b32.toml")
    with pytest.raises(ProgramError, match="tunable parameter 'block': value 64 is outside"):
        _sam_trace(compile_sam(task), task, {"block": 64})


def test_sam_without_block_mode_declares_nothing():
    task = load_task("benchmarks/sam/spmv.toml")
    assert IR_KEY not in _sam_trace(compile_sam(task), task)


@pytest.mark.slow
def test_agent_tune_tunes_a_compiled_sam_block_size():
    """`agent tune`'s engine on the builtin compiler's blocked attention: every declared
    block size is a real verified evaluation, starting from the program's own, and each
    gives the right results."""
    task = load_task("benchmarks/sam/bigbird_attention_b64.toml")
    run = tune_program(task, compile_sam(task), budget=5, seed=0, timing_seed=5)
    assert run.trials[0].params == {"block": 64}
    assert sorted(t.params["block"] for t in run.trials) == [16, 32, 64]  # 3 points: done
    assert all(t.status == "passed" for t in run.trials), [t.feedback for t in run.trials]
    assert run.best is not None and run.best.cycles <= run.start.cycles


def _step_trace(source: str, task: Any, params: dict[str, Any] | None = None) -> dict:
    namespace: dict[str, Any] = {}
    exec(compile(source, "compiled.py", "exec"), namespace)  # the compiler's own text
    return step.trace(namespace["kernel"], {**task.signature(), "params": params or {}})


def _values_of(ir: Any, key: str) -> list[Any]:
    """Every value of ``key`` anywhere in the IR."""
    if isinstance(ir, dict):
        own = [ir[key]] if key in ir and not isinstance(ir[key], dict | list) else []
        return own + [v for value in ir.values() for v in _values_of(value, key)]
    if isinstance(ir, list):
        return [v for value in ir for v in _values_of(value, key)]
    return []


def test_step_ragged_attention_declares_its_matmuls_compute_allocation():
    task = load_task("benchmarks/step/attention_decode_azure.toml")
    source = compile_step(task)
    ir = _step_trace(source, task)
    knobs = Knobs.of(ir[IR_KEY])
    assert [p.name for p in knobs.space.params] == ["regions", "tile_kv", "compute"]
    assert knobs.start == {"regions": 4, "tile_kv": 16, "compute": 2}
    more = _step_trace(source, task, {"compute": 4})
    # The two matmuls of each of the 4 regions take the tuned allocation (the default 2
    # before); nothing else does.
    ir.pop(IR_KEY), more.pop(IR_KEY)
    assert _values_of(more, "compute").count(4) == _values_of(ir, "compute").count(2) == 2 * 4
    assert _values_of(ir, "compute").count(4) == 0
    with pytest.raises(ProgramError, match="tunable parameter 'compute': value 3 is outside"):
        _step_trace(source, task, {"compute": 3})


@pytest.mark.slow
def test_agent_tune_tunes_a_compiled_step_compute_allocation():
    task = load_task("benchmarks/step/attention_decode_azure.toml")
    run = tune_program(task, compile_step(task), budget=3, seed=0, timing_seed=5)
    assert run.trials[0].params == {"regions": 4, "tile_kv": 16, "compute": 2}
    assert len({tuple(t.params.values()) for t in run.trials}) == 3
    assert run.best is not None and run.best.cycles <= run.start.cycles
