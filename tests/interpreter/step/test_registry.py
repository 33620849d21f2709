"""One op, one place per concern: every declared op and function has the other halves."""

from __future__ import annotations

from dsl.step.functions import FUNCTIONS
from dsl.step.ops import OPS
from interpreter.step.costs import COSTS as TIMING
from interpreter.step.functions import IMPLS
from interpreter.step.semantics import SEMANTICS


def test_every_op_has_doc_semantics_and_timing() -> None:
    for name, decl in OPS.items():
        assert decl.doc, name
        assert name in SEMANTICS, f"{name} has no semantics"
        assert name in TIMING, f"{name} has no timing rule"
    assert set(SEMANTICS) == set(OPS)
    assert set(TIMING) == set(OPS)


def test_every_function_has_an_implementation_and_flops() -> None:
    assert set(IMPLS) == set(FUNCTIONS)
    for key, impl in IMPLS.items():
        assert callable(impl.apply) and callable(impl.flops), key
