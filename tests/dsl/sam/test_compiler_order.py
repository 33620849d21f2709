"""Front half of the compiler: formats, fusion groups, inlining, dataflow orders."""

from __future__ import annotations

import pytest

from dsl.sam.compiler_order import (
    Level,
    dataflow_order,
    fusion_groups,
    inline,
    legal_orders,
    parse_format,
)
from dsl.sam.index_notation import IndexNotationError, parse_program, to_text

D, C = Level.DENSE, Level.COMPRESSED


@pytest.mark.parametrize(
    ("text", "rank", "mode_order", "levels", "order"),
    [
        ("csr", 2, None, (D, C), (0, 1)),
        ("csc", 2, None, (D, C), (1, 0)),
        ("dcsr", 2, None, (C, C), (0, 1)),
        ("csf", 3, None, (C, C, C), (0, 1, 2)),
        ("dense", 1, None, (D,), (0,)),
        ("dc", 2, [1, 0], (D, C), (1, 0)),
        ("cdc", 3, [2, 0, 1], (C, D, C), (2, 0, 1)),
        (["dense", "compressed"], 2, None, (D, C), (0, 1)),
    ],
)
def test_formats(text, rank, mode_order, levels, order) -> None:
    fmt = parse_format("A", text, rank, mode_order)
    assert fmt.levels == levels and fmt.mode_order == order
    assert fmt.level_vars(tuple("ijk"[:rank])) == tuple("ijk"[m] for m in order)


@pytest.mark.parametrize(
    ("text", "rank", "mode_order", "message"),
    [
        ("csr", 3, None, "for matrices"),
        ("dcx", 3, None, "unknown format 'dcx'"),
        ("dc", 3, None, "rank 3"),
        ("dc", 2, [0, 0], "not a permutation"),
    ],
)
def test_bad_formats(text, rank, mode_order, message) -> None:
    with pytest.raises(IndexNotationError, match=message):
        parse_format("A", text, rank, mode_order)


def test_cycle_is_rejected_naming_the_tensors() -> None:
    # X(i,j) = A(i,k) B(k,j) with B stored (j, k) and X stored (i, j): i<k, j<k, k<j?
    constraints = [("A", ("i", "k")), ("B", ("j", "k")), ("C", ("k", "j"))]
    with pytest.raises(IndexNotationError) as info:
        dataflow_order(["i", "j", "k"], constraints)
    message = str(info.value)
    assert "cycle" in message and "B stores j above k" in message
    assert "C stores k above j" in message


def test_requested_order_must_respect_levels() -> None:
    constraints = [("A", ("i", "k")), ("B", ("k", "j")), ("X", ("i", "j"))]
    assert dataflow_order(["i", "j", "k"], constraints, "ikj") == ("i", "k", "j")
    assert dataflow_order(["i", "j", "k"], constraints, ["i", "k", "j"]) == ("i", "k", "j")
    with pytest.raises(IndexNotationError) as info:
        dataflow_order(["i", "j", "k"], constraints, "ijk")
    assert "visits j before k, but B stores k above j; legal orders: ikj" in str(info.value)
    with pytest.raises(IndexNotationError, match="missing k"):
        dataflow_order(["i", "j", "k"], constraints, "ij")
    with pytest.raises(IndexNotationError, match="once"):
        dataflow_order(["i", "j", "k"], constraints, "ikjk")


def test_default_order_is_the_first_by_appearance() -> None:
    assert dataflow_order(["i", "k", "j"], [("A", ("i", "k"))]) == ("i", "k", "j")
    assert dataflow_order(["i", "k", "j"], [("B", ("j", "i"))]) == ("k", "j", "i")


def test_legal_orders_enumerates_topological_sorts() -> None:
    arcs = {"i": {"k": "A", "j": "X"}, "k": {}, "j": {}, "l": {}}
    orders = legal_orders(["i", "j", "k", "l"], arcs)
    assert len(orders) == 8  # i first among i, j, k: 4!/3
    assert all(o.index("i") < o.index("j") and o.index("i") < o.index("k") for o in orders)


def test_fusion_groups() -> None:
    stmts = parse_program(["T(i) = a(i)", "U(i) = T(i)", "Y(i) = U(i)"])
    assert fusion_groups(stmts, True) == [[0, 1, 2]]
    assert fusion_groups(stmts, False) == [[0], [1], [2]]
    assert fusion_groups(stmts, [["T", "U"], ["Y"]]) == [[0, 1], [2]]
    assert fusion_groups(stmts, [[0], [1, 2]]) == [[0], [1, 2]]
    with pytest.raises(IndexNotationError, match="exactly once"):
        fusion_groups(stmts, [["T"], ["Y"]])
    with pytest.raises(IndexNotationError, match=r"group \['Y'\] reads U before"):
        fusion_groups(stmts, [["Y"], ["T", "U"]])
    independent = parse_program(["T(i) = a(i)", "U(i) = b(i)", "Y(i) = T(i) + U(i)"])
    assert fusion_groups(independent, [["U"], ["T", "Y"]]) == [[1], [0, 2]]
    with pytest.raises(IndexNotationError, match="neither"):
        fusion_groups(stmts, [["T", "Q"], ["U", "Y"]])


def test_inline_renames_through_the_read() -> None:
    t, y = parse_program(["T(a,b) = A(a,k) * B(k,b)", "Y(i,j) = T(i,j) + c(j)"])
    aliases: dict[str, str] = {}
    fused = inline(y, {"T": t}, aliases)
    assert to_text(fused.rhs) == "(sum(k, (A(i,k) * B(k,j))) + c(j))"
    assert aliases == {}


def test_inline_gives_a_captured_sum_index_a_fresh_name() -> None:
    s, y = parse_program(["s(i) = A(i,j)", "Y(i,j) = A(i,j) / s(i)"])
    aliases: dict[str, str] = {}
    fused = inline(y, {"s": s}, aliases)
    assert to_text(fused.rhs) == "(A(i,j) / sum(j_2, A(i,j_2)))"
    assert aliases == {"j_2": "j"}
    # the copy goes just before the original in any order naming the original
    assert dataflow_order(
        ["i", "j", "j_2"], [("A", ("i", "j")), ("A", ("i", "j_2"))], "ij", aliases
    ) == ("i", "j_2", "j")


def test_inline_renames_a_sum_index_that_an_enclosing_sum_uses() -> None:
    t, y = parse_program(["T(i,j) = A(i,k) * B(k,j)", "Y(i) = T(i,k) * c(k)"])
    aliases: dict[str, str] = {}
    fused = inline(y, {"T": t}, aliases)
    assert to_text(fused.rhs) == "sum(k, (sum(k_2, (A(i,k_2) * B(k_2,k))) * c(k)))"
    assert aliases == {"k_2": "k"}
