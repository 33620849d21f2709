"""The op-spec registry: declarations, rules by concern, and what the walk reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dsl.core.spec import COST, REGISTRIES, SEMANTICS, VALUE_TIMED, OpSpec, Registry, registry


@pytest.fixture
def toy() -> Iterator[Registry]:
    """A throwaway dialect whose REFERENCE is the STeP one (it documents `map(` etc.)."""
    reg = Registry("toy", "step/REFERENCE.md", "**`{name}(")
    yield reg
    del REGISTRIES["toy"]


def test_declare_by_decorator_keeps_rule_attrs_and_flags(toy: Registry) -> None:
    @toy.op("map", "x*", "one", "Apply fn.", flags=(VALUE_TIMED,), fn=("fn:map", None))
    def rule(ins: list, attrs: dict, env: object) -> list:
        return ins

    spec = toy["map"]
    assert (spec.name, spec.inputs, spec.outputs, spec.doc) == ("map", "x*", "one", "Apply fn.")
    assert spec.attrs == {"fn": ("fn:map", None)} and spec.rule is rule
    assert spec.has(VALUE_TIMED) and toy.flagged(VALUE_TIMED) == ("map",)
    assert list(toy) == ["map"] and "map" in toy and len(toy) == 1
    assert registry("toy") is toy


def test_bad_declarations_are_refused(toy: Registry) -> None:
    toy.declare(OpSpec("zip", "Pair up."))
    with pytest.raises(ValueError, match="declared twice"):
        toy.declare(OpSpec("zip", "Again."))
    with pytest.raises(ValueError, match="unknown flags \\['fast'\\]"):
        toy.declare(OpSpec("copy", "Copy.", flags=frozenset({"fast"})))
    with pytest.raises(ValueError, match="has no doc"):
        toy.declare(OpSpec("sink", ""))
    with pytest.raises(ValueError, match="already has an op registry"):
        Registry("toy", "x", "{name}")


def test_walk_reports_missing_stray_and_undocumented(toy: Registry) -> None:
    for name in ("map", "zip", "teleport"):
        toy.declare(OpSpec(name, f"{name} doc"))

    @toy.implement(SEMANTICS, "map", "zip")
    def shared(node: object, ins: list, ctx: object) -> list:
        return ins

    assert toy.rules(SEMANTICS) == {"map": shared, "zip": shared}
    assert toy.missing(SEMANTICS) == ["teleport"]
    assert toy.missing(COST) == ["map", "zip", "teleport"]
    assert toy.undocumented() == ["teleport"]  # STeP's REFERENCE has map( and zip(

    table = {"map": len}
    toy.attach(COST, table)
    table["zip"] = len  # the attached table stays live
    table["warp"] = len
    assert toy.missing(COST) == ["teleport"] and toy.stray(COST) == ["warp"]
    with pytest.raises(ValueError, match="already registered"):
        toy.attach(COST, {})
    with pytest.raises(ValueError, match="two semantics rules"):
        toy.implement(SEMANTICS, "map")(len)


def test_unknown_dialect_is_named() -> None:
    with pytest.raises(ModuleNotFoundError):
        registry("nonesuch")
