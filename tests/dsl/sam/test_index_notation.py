"""The index-notation parser: tokens, trees, implicit sums and errors with their column."""

from __future__ import annotations

import pytest

from dsl.sam.index_notation import (
    Access,
    Binary,
    BinOp,
    Call,
    Const,
    IndexNotationError,
    Sum,
    Tok,
    parse_program,
    parse_statement,
    to_text,
    tokenize,
)


def test_tokens_are_typed_with_columns() -> None:
    tokens = tokenize("X(i,j) = 0.5*B(i,k)")
    assert [t.kind for t in tokens] == [
        Tok.NAME,
        Tok.LPAREN,
        Tok.NAME,
        Tok.COMMA,
        Tok.NAME,
        Tok.RPAREN,
        Tok.EQUALS,
        Tok.NUMBER,
        Tok.STAR,
        Tok.NAME,
        Tok.LPAREN,
        Tok.NAME,
        Tok.COMMA,
        Tok.NAME,
        Tok.RPAREN,
        Tok.END,
    ]
    assert [t.column for t in tokens[:3]] == [1, 2, 3]
    assert tokens[7].text == "0.5" and tokens[7].column == 10


def test_matmul_tree_with_implicit_sum() -> None:
    stmt = parse_statement("X(i,j) = B(i,k) * C(k,j)")
    assert stmt.lhs == Access("X", ("i", "j"))
    assert stmt.rhs == Sum("k", Binary(BinOp.MUL, Access("B", ("i", "k")), Access("C", ("k", "j"))))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a sum covers the smallest subexpression that uses its index: D is added once
        ("X(i,j) = B(i,k) * C(k,j) + D(i,j)", "(sum(k, (B(i,k) * C(k,j))) + D(i,j))"),
        # a product chain is one subexpression: both sums over the whole product
        ("A(i,j) = B(i,k,l) * C(k,j) * D(l,j)", "sum(l, sum(k, ((B(i,k,l) * C(k,j)) * D(l,j))))"),
        # a function of a reduction reduces first
        ("y(i) = relu(A(i,j) * x(j) + b(i))", "relu((sum(j, (A(i,j) * x(j))) + b(i)))"),
        # an index used by one factor only is summed inside that factor
        ("y(i) = A(i,j) * (x(j) + z(j,k))", "sum(j, (A(i,j) * (x(j) + sum(k, z(j,k)))))"),
        # precedence and unary minus
        ("y(i) = -a(i) + 2 * b(i) / c(i) - -3", "((neg(a(i)) + ((2.0 * b(i)) / c(i))) - -3.0)"),
        ("s = A(i,j)", "sum(j, sum(i, A(i,j)))"),
        ("S(i,j) = M(i,j) * sum(k, Q(i,k) * K(j,k))", "(M(i,j) * sum(k, (Q(i,k) * K(j,k))))"),
    ],
)
def test_trees(text: str, expected: str) -> None:
    assert to_text(parse_statement(text).rhs) == expected


def test_numbers_and_calls() -> None:
    stmt = parse_statement("E(i,j) = exp(1.5e-1 * S(i,j))")
    assert stmt.rhs == Call("exp", Binary(BinOp.MUL, Const(0.15), Access("S", ("i", "j"))))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "X(i,j) = B(i,k) *",
            "expected a tensor, a number, a function or '(', found end of statement at column 18",
        ),
        ("X(i,j) = B(i,k) * C(k,j", "expected ')' closing C(, found end of statement at column 24"),
        ("X(i,j) = A(i,k) @ B(k,j)", "unexpected character '@' at column 17"),
        ("X(i,j) B(i,j)", "expected '=', found 'B' at column 8"),
        ("X(i,i) = A(i,i)", "result X repeats an index at column 1"),
        ("X(i,j) = A(i,k)", "result index j of X does not appear on the right"),
        (
            "X(i,j) = A(i,j) A(i,j)",
            "expected an operator or the end of the statement, found 'A' at column 17",
        ),
        ("y(i) = sum(k, A(i,j))", "sum over k, which the body lacks at column 8"),
        ("y(i) = exp A(i)", "expected '(' after exp, found 'A' at column 12"),
        ("(i) = A(i)", "expected the result tensor's name, found '(' at column 1"),
        ("y(i) = A(i,)", "expected an index variable, found ')' at column 12"),
        (
            "X(i,j) = sum(k, B(i,k) * C(k,j)) * B(i,k) * C(k,j)",
            "index k is summed inside a sum over k",
        ),
    ],
)
def test_errors_name_the_column(text: str, message: str) -> None:
    with pytest.raises(IndexNotationError) as info:
        parse_statement(text)
    assert message in str(info.value)
    assert repr(text) in str(info.value)


def test_program_checks_results() -> None:
    stmts = parse_program(["T(i,j) = A(i,k) * B(k,j)", "Y(i,j) = T(i,j) + b(j)"])
    assert [s.lhs.tensor for s in stmts] == ["T", "Y"]
    with pytest.raises(IndexNotationError, match="writes T a second time"):
        parse_program(["T(i) = a(i)", "T(i) = b(i)"])
    with pytest.raises(IndexNotationError, match="reads its own result T"):
        parse_program(["T(i) = T(i) + a(i)"])
    with pytest.raises(IndexNotationError, match="no statements"):
        parse_program([])
    with pytest.raises(IndexNotationError, match="statement 1 is not a string"):
        parse_program([3])  # type: ignore[list-item]
