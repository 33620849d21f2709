"""The builtin compiler (dsl/step/compiler.py): what it covers compiles to programs that pass
the verifier; what it does not cover is refused with a plain reason."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.task import load_suite
from dsl import step
from dsl.errors import NotCovered
from dsl.step.compiler import compile_task, row_tiled
from interpreter.verifier import verify

TASKS = {t.name: t for t in load_suite("step")}
# Lowered by row tiling, static tiles (their baselines are this compiler's output).
ROW_TILED = sorted(n for n, t in TASKS.items() if row_tiled(t))
# Dynamic kinds: ragged lengths, gathers / scatters, routing, a symbolic key count.
DYNAMIC = sorted(set(TASKS) - set(ROW_TILED))
FAST = ["gemm_bias", "multi_head_attention", "rope_heads"]
FAST_DYNAMIC = ["moe_combine_gather", "moe_dispatch_scatter", "moe_expert_counts", "rope_positions"]


def build(name: str, source: str) -> step.Program:
    namespace: dict = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)  # trusted: our own compiler's text
    return step.build(namespace["kernel"], TASKS[name].signature())


def test_every_suite_task_compiles() -> None:
    assert len(ROW_TILED) == 21 and len(DYNAMIC) == 12
    for name in sorted(TASKS):
        source = compile_task(TASKS[name])
        assert source == compile_task(TASKS[name]), "deterministic text"
        assert "def kernel(" in source and "builtin compiler" in source
        assert ("static row tiling" in source) == (name in ROW_TILED), name
        assert all(len(line) <= 100 for line in source.splitlines()), name
        build(name, source)  # a valid graph for the task's symbolic dims


def test_compiled_gemm_reads_like_an_example() -> None:
    source = compile_task(TASKS["gemm"])
    assert (
        "@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])\n"
        "def kernel(a, b, tile_rows=16, compute=1):" in source
    )
    assert "b_tile = step.linear_offchip_load(b, (128, 64))  # read once" in source
    assert 'c = step.map([a_t0, b_t], "matmul", compute=compute)' in source
    assert source.rstrip().endswith('return step.linear_offchip_store(c, "c")')


def test_broadcast_rows_use_stride_zero() -> None:
    source = compile_task(TASKS["rope_heads"])
    assert "shape=(NH, S_tiles, 1), stride=(0, 1, 1)" in source


@pytest.mark.parametrize("name", FAST + FAST_DYNAMIC)
def test_compiled_program_passes(name: str) -> None:
    verdict = verify(TASKS[name], compile_task(TASKS[name]), seed=5)
    assert verdict.status == "passed", verdict.feedback


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(TASKS) - set(FAST) - set(FAST_DYNAMIC)))
def test_compiled_program_passes_all(name: str) -> None:
    verdict = verify(TASKS[name], compile_task(TASKS[name]), seed=5)
    assert verdict.status == "passed", verdict.feedback


def test_tile_rows_is_a_tunable_parameter() -> None:
    verdict = verify(
        TASKS["softmax"], compile_task(TASKS["softmax"]), params={"tile_rows": 8}, seed=1
    )
    assert verdict.status == "passed", verdict.feedback


def test_compute_is_a_tunable_parameter_of_every_map() -> None:
    source = compile_task(TASKS["gemm"])
    plain = verify(TASKS["gemm"], source, seed=1)
    fast = verify(TASKS["gemm"], source, params={"compute": 4}, seed=1)
    assert plain.status == fast.status == "passed", (plain.feedback, fast.feedback)
    assert fast.cycles < plain.cycles / 2  # the matmul was bound by its one unit's ports
    softmax = compile_task(TASKS["softmax"])
    assert softmax.count("step.map(") == softmax.count("compute=compute") == 5


def test_a_compute_outside_its_domain_is_a_one_line_error_naming_it() -> None:
    verdict = verify(TASKS["gemm"], compile_task(TASKS["gemm"]), params={"compute": 3}, seed=1)
    assert verdict.status == "invalid"
    assert "tunable parameter 'compute': value 3 is outside its domain" in verdict.feedback
    assert "\n" not in verdict.feedback.strip()


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
    """The row-tiled tasks' baselines are this compiler's programs (regenerate them together:
    python -m benchmarks.step.regenerate_baselines)."""
    for name in ROW_TILED:
        assert TASKS[name].baseline_source() == compile_task(TASKS[name]), name


def test_kind_specs_refuse_what_they_do_not_know() -> None:
    with pytest.raises(NotCovered, match=r"spec key\(s\) \['padding_idx'\] are not understood"):
        compile_task(with_spec("moe_layer", padding_idx=0))
    with pytest.raises(NotCovered, match="spec kind 'top_p_sampling' has no lowering"):
        compile_task(with_spec("moe_layer", kind="top_p_sampling"))
    with pytest.raises(NotCovered, match=r"spec key\(s\) \['unroll'\] are not understood"):
        compile_task(with_spec("gemm", unroll=2))
    ops = [{**MATMUL, "out": "c", "accumulate": "bf16"}]
    with pytest.raises(NotCovered, match=r"\['accumulate'\] are not understood by row tiling"):
        compile_task(with_spec("gemm", ops=ops))


def test_kind_lowerings_check_the_inputs_they_assume() -> None:
    task = TASKS["moe_combine_gather"]
    floats = tuple(dataclasses.replace(t, dtype="float32") for t in task.inputs)
    with pytest.raises(NotCovered, match=r"gather_rows lowering expects inputs .* src: float32"):
        compile_task(dataclasses.replace(task, inputs=floats))
    task = TASKS["moe_layer"]
    with pytest.raises(NotCovered, match="expects inputs"):
        compile_task(dataclasses.replace(task, inputs=task.inputs[:5]))


def test_symbolic_key_attention_must_be_the_attention_chain() -> None:
    ops = [dict(op) for op in TASKS["attention_kv_tiled"].spec["ops"]]
    ops[0]["transpose_b"] = False
    with pytest.raises(NotCovered, match="look like attention over a symbolic key count"):
        compile_task(with_spec("attention_kv_tiled", ops=ops))
    ops = [{"out": "o", "op": "exp", "args": ["q"]}]
    with pytest.raises(NotCovered, match="symbolic dim 'T'"):
        compile_task(with_spec("attention_kv_tiled", ops=ops))


@pytest.mark.slow
def test_symbolic_key_blocks_are_tunable_and_masked() -> None:
    """A 16-row key block over T = 64 / 128 / 288 keys, and q tiles of 8 rows."""
    params = {"tile_kv": 16, "tile_rows": 8, "compute": 1}
    source = compile_task(TASKS["attention_kv_tiled"])
    verdict = verify(TASKS["attention_kv_tiled"], source, params=params, seed=3)
    assert verdict.status == "passed", verdict.feedback
