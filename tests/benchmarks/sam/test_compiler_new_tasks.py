"""The builtin SAM compiler on tasks written for it after the suite (benchmarks/sam_new):
segment reductions by max and min (issue 16's segment max/min kind). `max(j, e)` and
`min(j, e)` lower to a reducer with that op; what only a sparse accumulator could reduce
(the index not innermost) is a refusal naming the reason, never a sum."""

from __future__ import annotations

import pytest

from benchmarks.task import load_suite
from dsl.errors import NotCovered
from dsl.sam.compiler import Operand, compile_spec, compile_task
from dsl.sam.index_notation import IndexNotationError, Sum, parse_program, to_text
from interpreter.verifier import verify

TASKS = {t.name: t for t in load_suite("benchmarks/sam_new")}
A = Operand("A", ("N", "N"), "csr")
X = Operand("X", ("N", "F"), "dense")


def test_the_new_tasks_compile_to_their_reducer() -> None:
    assert sorted(TASKS) == ["gnn_max_aggregate", "segment_min"]
    assert "sam.reduce(A_val, 'min')" in compile_task(TASKS["segment_min"])
    assert "sam.reduce(mul, 'max')" in compile_task(TASKS["gnn_max_aggregate"])


def test_max_and_min_parse_and_print_back() -> None:
    (stmt,) = parse_program("y(i) = max(j, A(i,j) * x(j))")
    assert isinstance(stmt.rhs, Sum) and stmt.rhs.op == "max"
    assert to_text(stmt.rhs) == "max(j, (A(i,j) * x(j)))"
    (implicit,) = parse_program("y(i) = A(i,j) * x(j)")
    assert implicit.rhs.op == "add"
    with pytest.raises(IndexNotationError, match="min over k, which the body lacks"):
        parse_program("y(i) = min(k, A(i,j))")


def test_a_sum_still_compiles_to_a_plain_reducer() -> None:
    text = compile_spec({"expr": "y(i) = A(i,j)"}, [A], [Operand("y", ("N",))])
    assert "sam.reduce(A_val)" in text


def test_max_needs_its_index_innermost() -> None:
    """Order ijf leaves f after j: a sum would take a sparse accumulator, which only adds."""
    spec = {"expr": "y(i,f) = max(j, A(i,j) * X(j,f))", "order": "ijf"}
    with pytest.raises(NotCovered, match="only a reducer takes a max"):
        compile_spec(spec, [A, X], [Operand("y", ("N", "F"))])


def test_mixed_nested_reductions_are_refused() -> None:
    spec = {"expr": "y(i) = max(j, sum(k, B(i,j,k)))"}
    b = Operand("B", ("N", "N", "N"), ["dense", "compressed", "compressed"])
    with pytest.raises(NotCovered, match="different kinds"):
        compile_spec(spec, [b], [Operand("y", ("N",))])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TASKS))
def test_the_builtin_and_the_baseline_pass(name: str) -> None:
    task = TASKS[name]
    for source in (compile_task(task), task.baseline_source()):
        verdict = verify(task, source, seeds=2)
        assert verdict.correct, verdict.feedback
