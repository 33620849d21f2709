"""Recall: the best verified program of each similar task, most similar first."""

from __future__ import annotations

import pytest

from memory import ExperienceStore
from memory.features import description_words, program_ops, task_ops
from tests.memory.task_factory import make_task


def prog(body: str, dialect: str = "step") -> str:
    return f"from dsl import {dialect}\n\n\ndef kernel(x):\n    {body}\n"


def ok(cycles: int = 100) -> dict:
    return {"status": "passed", "correct": True, "cycles": cycles, "feedback": ""}


@pytest.fixture
def store(tmp_path):
    return ExperienceStore(tmp_path / "m.sqlite")


def put(store, task, program, verdict):
    return store.record_attempt(
        task=task, program=program, model="m", prompt_hash="h", verdict=verdict
    )


QUERY = make_task(
    "softmax_rows", description="Row-wise softmax of a matrix.", spec={"fn": "softmax"}
)


def test_ranking(store):
    cols = make_task(
        "softmax_cols", description="Column-wise softmax of a matrix.", spec={"fn": "softmax"}
    )
    exp = make_task(
        "exp_elementwise", description="Row-wise exponential of a matrix.", spec={"fn": "exp"}
    )
    gemm = make_task(
        "gemm", description="Matrix multiply of two matrix inputs.", spec={"op": "matmul"}
    )
    fft = make_task("fft", description="Fast Fourier transform of a signal.", spec={"op": "fft"})
    sam_twin = make_task("softmax_rows", dialect="sam", description="Row-wise softmax of a matrix.")

    self_id = put(store, QUERY, prog("return step.softmax_the_long_way(x, 'softmax')"), ok(900))
    cols_fast = put(store, cols, prog("return step.a_longer_program_for_columns(x)"), ok(400))
    put(store, cols, prog("return step.cols(x)"), ok(500))  # shorter, but slower
    put(store, cols, prog("x"), {"status": "incorrect", "correct": False, "cycles": None})
    exp_id = put(store, exp, prog("return step.map(x, 'exp')"), ok())
    put(store, gemm, prog("return step.matmul_tiles_with_a_long_name(x)"), ok())
    put(store, fft, prog("return step.fft(x)"), ok())
    put(store, sam_twin, prog("return x", "sam"), ok())

    got = store.recall(QUERY, k=10)
    # The task itself; then softmax_cols (shares the op "softmax": its best, the fastest, not
    # its shortest); then exp_elementwise (no op, but "row", "wise" and "matrix" in common). gemm
    # shares only the word "matrix": below the floor. fft shares nothing; the sam twin is
    # another dialect; no failure ever comes back.
    assert [a.id for a in got] == [self_id, cols_fast, exp_id]
    assert all(a.verified for a in got)
    assert [a.id for a in store.recall(QUERY, k=2)] == [self_id, cols_fast]
    assert store.recall(QUERY, k=0) == []


def test_op_overlap_through_the_program(store):
    """A task whose description says nothing alike is still recalled when its verified
    program uses an op the new task names."""
    other = make_task("row_stats", description="Per-row statistics.", spec={})
    attempt = put(store, other, prog("return step.map(x, 'softmax')"), ok())
    query = make_task("norm_probs", description="Normalised probabilities.", spec={"fn": "softmax"})
    assert [a.id for a in store.recall(query)] == [attempt]


def test_unrelated_tasks_are_not_recalled(store):
    put(
        store,
        make_task("fft", description="Fast Fourier transform.", spec={"op": "fft"}),
        prog("return step.fft(x)"),
        ok(),
    )
    assert store.recall(QUERY) == []


def test_recalled_examples_carry_their_task_description(store):
    cols = make_task(
        "softmax_cols", description="Column-wise softmax of a matrix.", spec={"fn": "softmax"}
    )
    put(store, cols, prog("return x"), ok())
    (example,) = store.recall(QUERY)
    assert example.task_description == "Column-wise softmax of a matrix."


def test_task_ops_ignore_the_tasks_own_names():
    task = make_task(
        "gemm_silu",
        spec={
            "rows": "M",
            "ops": [
                {"out": "xw", "op": "matmul", "args": ["x", "w"]},
                {"out": "y", "op": "silu", "args": ["xw"]},
            ],
        },
    )
    assert task_ops(task) == {"gemm", "silu", "matmul"}


def test_program_ops():
    text = (
        "from dsl import step\nfrom dsl.step import copy as dup\n\n"
        "def kernel(x, w):\n"
        "    a, b = dup(step.linear_offchip_load(x, (16, 64)))\n"
        "    return step.linear_offchip_store(step.map(a, 'silu'), 'y')\n"
    )
    assert program_ops(text, "step") == {
        "dup",
        "linear_offchip_load",
        "linear_offchip_store",
        "map",
        "silu",
    }
    assert program_ops("def kernel(:", "step") == set()


def test_description_words_drop_noise():
    assert description_words('Row-wise "softmax" of a matrix; M is symbolic.') == {
        "row",
        "wise",
        "softmax",
        "matrix",
        "symbolic",
    } - {"symbolic"}
    assert description_words("a of the") == set()


def test_fts_syntax_in_descriptions_is_harmless(store):
    odd = make_task("odd", description='NEAR(a b) "quoted" * col:umn -minus AND OR', spec={})
    put(store, odd, prog("return x"), ok())
    assert [a.task_key for a in store.recall(odd)] == ["step/odd"]


def test_recall_on_the_real_step_suite_finds_the_same_family(tmp_path):
    """Every step task solved once (placeholder programs: only the tasks' own specs and
    descriptions speak); a new task like a known one recalls its family first."""
    from dataclasses import replace
    from pathlib import Path

    from benchmarks.task import TaskError, parse_task

    root = Path(__file__).resolve().parents[2] / "benchmarks" / "step"
    tasks = {}
    for path in sorted(root.glob("*.toml")):
        try:
            task = parse_task(path)
        except TaskError:  # a task still being written
            continue
        tasks[task.name] = task
    store = ExperienceStore(tmp_path / "m.sqlite")
    for task in tasks.values():
        put(store, task, prog("return x"), ok())
    families = {
        "rmsnorm": {"rmsnorm", "add_rmsnorm", "layernorm"},
        "rope_qk": {"rope", "rope_heads", "rope_qk", "rope_positions"},
        "swiglu": {"swiglu", "swiglu_linear_layout", "expert_ffn_scaled", "gemm_silu"},
        "bmm": {"bmm", "bmm_shared_weight", "bmm_transposed"},
    }
    probed = 0
    for name, family in families.items():
        if name not in tasks:
            continue
        probed += 1
        newcomer = replace(tasks[name], name=f"{name}_variant")
        got = [a.task_key.split("/")[1] for a in store.recall(newcomer, k=3)]
        assert len(got) == 3 and set(got) <= family, (name, got)
    assert probed >= 3
