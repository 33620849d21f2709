"""The builtin compiler (dsl/step/compiler.py): what it covers compiles to programs that pass
the verifier; what it does not cover is refused with a plain reason."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.task import load_suite
from dsl import step
from dsl.errors import NotCovered
from dsl.step.compiler import compile_task
from interpreter.verifier import verify

TASKS = {t.name: t for t in load_suite("step")}
UNCOVERED = {
    "attention_decode_azure": "ragged",
    "attention_decode_azure_gqa": "ragged",
    "attention_kv_tiled": "symbolic dim 'T'",
    "moe_combine_gather": "data-dependent positions",
    "moe_dispatch_scatter": "data-dependent positions",
    "moe_expert_counts": "routing",
    "moe_expert_token_sum": "routing",
    "moe_layer": "route tokens",
    "moe_layer_mixtral": "route tokens",
    "moe_layer_qwen": "route tokens",
    "moe_layer_shared_expert": "route tokens",
    "rope_positions": "data-dependent positions",
}
COVERED = sorted(set(TASKS) - set(UNCOVERED))
FAST = ["gemm_bias", "multi_head_attention", "rope_heads"]


def build(name: str, source: str) -> step.Program:
    namespace: dict = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)  # trusted: our own compiler's text
    return step.build(namespace["kernel"], TASKS[name].signature())


@pytest.mark.parametrize("name", sorted(UNCOVERED))
def test_uncovered_tasks_say_why(name: str) -> None:
    with pytest.raises(NotCovered, match=UNCOVERED[name]) as info:
        compile_task(TASKS[name])
    assert str(info.value).startswith(f"{name}: ")


def test_coverage_is_the_static_tasks() -> None:
    assert len(COVERED) == 21
    for name in COVERED:
        source = compile_task(TASKS[name])
        assert source == compile_task(TASKS[name]), "deterministic text"
        assert "def kernel(" in source and "static row tiling" in source
        assert all(len(line) <= 100 for line in source.splitlines()), name
        build(name, source)  # a valid graph for the task's symbolic dims


def test_compiled_gemm_reads_like_an_example() -> None:
    source = compile_task(TASKS["gemm"])
    assert "def kernel(a, b, tile_rows=16):" in source
    assert "b_tile = step.linear_offchip_load(b, (128, 64))  # read once" in source
    assert 'c = step.map([a_t0, b_t], "matmul")' in source
    assert source.rstrip().endswith('return step.linear_offchip_store(c, "c")')


def test_broadcast_rows_use_stride_zero() -> None:
    source = compile_task(TASKS["rope_heads"])
    assert "shape=(NH, S_tiles, 1), stride=(0, 1, 1)" in source


@pytest.mark.parametrize("name", FAST)
def test_compiled_program_passes(name: str) -> None:
    verdict = verify(TASKS[name], compile_task(TASKS[name]), seed=5)
    assert verdict.status == "passed", verdict.feedback


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(COVERED) - set(FAST)))
def test_compiled_program_passes_all(name: str) -> None:
    verdict = verify(TASKS[name], compile_task(TASKS[name]), seed=5)
    assert verdict.status == "passed", verdict.feedback


def test_tile_rows_is_a_tunable_parameter() -> None:
    verdict = verify(
        TASKS["softmax"], compile_task(TASKS["softmax"]), params={"tile_rows": 4}, seed=1
    )
    assert verdict.status == "passed", verdict.feedback


def with_spec(name: str, **changes) -> object:
    task = TASKS[name]
    return dataclasses.replace(task, spec={**task.spec, **changes})


MATMUL = {"out": "t", "op": "matmul", "args": ["a", "b"]}


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"ops": [MATMUL, {"out": "c", "op": "cumsum", "args": ["t"]}]}, "op 'cumsum' has no"),
        ({"ops": [MATMUL, {"out": "c", "op": "matmul", "args": ["t", "t"]}]}, "two row-tiled"),
        ({"ops": [{"out": "c", "op": "matmul", "args": ["a", "zz"]}]}, "'zz' is neither an input"),
        ({"ops": [{"out": "c", "op": "exp", "args": ["a"]}]}, "input 'b' is not used"),
        (
            {"ops": [{"out": "u", "op": "exp", "args": ["a"]}, {**MATMUL, "out": "c"}]},
            "'u' is computed but never used",
        ),
        ({"ops": [MATMUL, {"out": "u", "op": "exp", "args": ["t"]}]}, "no op computes output 'c'"),
        ({"rows": 3}, "spec.rows must be a str"),
        ({"rows": "K"}, "whole operand 'a' has the symbolic dim 'M'"),
    ],
)
def test_malformed_specs_are_refused(change: dict, reason: str) -> None:
    with pytest.raises(NotCovered, match=reason):
        compile_task(with_spec("gemm", **change))


def test_static_baselines_are_the_compilers_output() -> None:
    """The covered tasks' baselines are this compiler's programs (regenerate them together)."""
    for name in COVERED:
        assert TASKS[name].baseline_source() == compile_task(TASKS[name]), name
