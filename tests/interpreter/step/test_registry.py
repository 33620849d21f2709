"""One function, one place per concern: every declared element function has an implementation
and a FLOP count (the ops are walked for every dialect in tests/dsl/core/test_registry_walk.py)."""

from __future__ import annotations

from dsl.step.functions import FUNCTIONS
from interpreter.step.functions import IMPLS


def test_every_function_has_an_implementation_and_flops() -> None:
    assert set(IMPLS) == set(FUNCTIONS)
    for key, impl in IMPLS.items():
        assert callable(impl.apply) and callable(impl.flops), key
