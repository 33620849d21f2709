"""The tiny symbolic-dimension type."""

from __future__ import annotations

import pytest

from dsl.step.symbolic import RAGGED, Expr, Sym, expr_from_json

M, N = Expr.sym("M"), Expr.sym("N")


def test_canonical_polynomials_compare_equal() -> None:
    assert M * 2 + N == N + M + M
    assert (M + 1) * (M - 1) == M * M - 1
    assert M - M == 0
    assert str(2 * M + 3) == "2*M + 3"


def test_division_exact_and_opaque() -> None:
    assert (M * 64).cdiv(16) == M * 4
    assert M.cdiv(16) == M.cdiv(16)
    assert M.cdiv(16) != M // 16
    assert Expr.const(10).cdiv(4) == 3 and Expr.const(10) // 4 == 2
    assert M.cdiv(16).evaluate({"M": 33}) == 3
    assert (M // 16).evaluate({"M": 33}) == 2
    assert M.cdiv(M) == 1
    with pytest.raises(ValueError):
        M.cdiv(0)


def test_evaluate_needs_every_symbol() -> None:
    assert (M * N + 1).evaluate({"M": 3, "N": 4}) == 13
    assert (M * N).evaluate({"M": 3}) is None


def test_ragged_absorbs() -> None:
    r = Expr.sym("r1", RAGGED)
    assert (r * 4 + M).is_ragged and not (M * 4).is_ragged
    assert r.cdiv(4).is_ragged


@pytest.mark.parametrize(
    "e", [Expr.const(7), M, M * N - 3, (M * 4 + N).cdiv(16) * 2, (M // 3) + Expr.sym("r2", RAGGED)]
)
def test_json_round_trip(e: Expr) -> None:
    kinds = {s.name: s.kind for s in e.symbols()}
    assert expr_from_json(e.to_json(), kinds) == e


@pytest.mark.parametrize(
    "bad",
    [True, "M", {"terms": 3}, {"terms": [[1, ["X"]]]}, {"terms": [[1, [{"cdiv": [1]}]]]}, [1, 2]],
)
def test_malformed_json_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        expr_from_json(bad, {"M": "dynamic"})


def test_cached_facts_agree_with_the_terms() -> None:
    """`is_static`, `symbols()` and shared constants are computed once: they must still
    say what the terms say, for every way of building a dim."""
    r = Expr.sym("r1", RAGGED)
    built = [M * N - M * N + 7, (M + 1).cdiv(4), Expr.const(0), M - M, r * 2, (M * 8) // 8]
    for e in built:
        assert e.is_static == all(mono == () for mono, _ in e.terms)
        assert e.symbols() == e.symbols() and e.is_static == (not e.symbols())
    assert built[0].is_static and built[0].value == 7 and built[0].to_json() == 7
    assert (M + 1).cdiv(4).symbols() == {Sym("M")}
    assert Expr.const(5) is Expr.const(5) and Expr.const(5) + M != Expr.const(5)
    assert Expr.const(True) == 1 and Expr.const(5) == 5  # shared constants stay plain ints


@pytest.mark.parametrize(
    ("a", "b"),
    [(3, 4), (0, M), (1, M), (M, 1), (M + 1, 1), (1, M * N), (-1, M), (M, Expr.const(0)), (M, N)],
)
def test_products_by_constants_equal_the_general_product(a: int | Expr, b: int | Expr) -> None:
    """Static-by-static and times-one products take shortcuts: their terms must be the
    ones the term-by-term product gives (canonical, zero terms dropped)."""
    a, b = Expr.of(a), Expr.of(b)
    general: dict = {}
    for m1, c1 in a.terms:
        for m2, c2 in b.terms:
            m = tuple(sorted(m1 + m2))
            general[m] = general.get(m, 0) + c1 * c2
    assert (a * b).terms == Expr(general).terms
    assert (a * b).is_static == Expr(general).is_static


def test_json_is_built_once_and_stays_what_the_terms_say() -> None:
    e = (M * 4 + N).cdiv(16) * 2
    assert e.to_json() is e.to_json()
    assert e.to_json() == {"terms": [[2, [{"cdiv": [{"terms": [[4, ["M"]], [1, ["N"]]]}, 16]}]]]}
