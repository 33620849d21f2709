"""One op, one place per concern, for every dialect: walking each dialect's registry, every
op has an entry in its REFERENCE.md, a semantics and a cost (timing rule)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from dsl import DIALECTS
from dsl.core.spec import COST, COUNT, SEMANTICS, Registry, registry


def _loaded(dialect: str) -> Registry:
    """The dialect's registry once every module of `interpreter/<dialect>` is imported, so
    each has attached its rules wherever it keeps them."""
    reg = registry(dialect)
    package = importlib.import_module(f"interpreter.{dialect}")
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)
    return reg


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_op_has_a_reference_entry_a_semantics_and_a_cost(dialect: str) -> None:
    reg = _loaded(dialect)
    assert len(reg) > 0, f"{dialect} declares no ops"
    assert reg.undocumented() == [], f"{dialect}: ops missing from {reg.reference}"
    assert reg.missing(SEMANTICS) == [], f"{dialect}: ops without semantics"
    assert reg.missing(COST) == [], f"{dialect}: ops without a cost"
    assert reg.stray(SEMANTICS) == [] and reg.stray(COST) == [], f"{dialect}: rules of no op"
    assert all(spec.doc for spec in reg.values())
    assert all(callable(rule) for c in (SEMANTICS, COST) for rule in reg.rules(c).values())


def test_every_sam_primitive_has_a_count_rule() -> None:
    """SAM counts (FLOPs, memory words, the tokens behind the floor) per primitive, apart
    from its semantics and its cost."""
    reg = _loaded("sam")
    assert reg.missing(COUNT) == [], "sam: primitives without a count rule"
    assert reg.stray(COUNT) == [], "sam: count rules of no primitive"
    assert all(callable(rule) for rule in reg.rules(COUNT).values())
