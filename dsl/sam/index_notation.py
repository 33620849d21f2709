"""Tensor index notation: the source language of the SAM compiler.

A statement assigns an expression over indexed tensors to an indexed result:

    X(i,j) = B(i,k) * C(k,j)          # k appears only on the right: summed
    y(i)   = relu(A(i,j) * x(j) + b(i))
    E(i,j) = M(i,j) * exp(0.125 * S(i,j))

Grammar (usual precedence, left associative):

    statement := access '=' expr
    expr      := term (('+' | '-') term)*
    term      := unary (('*' | '/') unary)*
    unary     := '-' unary | atom
    atom      := NUMBER | access | FUNC '(' expr ')' | RED '(' IDX ',' expr ')' | '(' expr ')'
    RED       := 'sum' | 'max' | 'min'
    access    := NAME '(' IDX (',' IDX)* ')' | NAME

Index variables that appear on the right but not on the left are summed (Einstein's
convention, as TACO); `sum(k, e)` makes the scope explicit. An implicit sum scopes the
smallest subexpression that holds every use of its variable, so
`X(i,j) = B(i,k) * C(k,j) + D(i,j)` adds D to the product, not once per k.

Functions apply to the stored values of their argument only (sparse semantics): `exp(S)`
is computed where S has an entry, which is why masked models write `M(i,j) * exp(...)`.
Errors raise `IndexNotationError` with the statement and column of the fault.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

REDUCTIONS = {"sum": "add", "max": "max", "min": "min"}
"""Reductions by their name in the notation, with the SAM `reduce` op each lowers to."""
FUNCTIONS = ("exp", "relu", "sigmoid", "rsqrt", "sin", "cos", "neg")
"""Unary functions with a SAM ALU counterpart (ReLU is MAX with the scalar 0)."""


class IndexNotationError(ValueError):
    """A statement that does not parse or does not make sense; the message says where."""


# --------------------------------------------------------------------------- tokens


class Tok(enum.Enum):
    NAME = "name"
    NUMBER = "number"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    EQUALS = "="
    PLUS = "+"
    MINUS = "-"
    STAR = "*"
    SLASH = "/"
    END = "end of statement"


@dataclass(frozen=True)
class Token:
    kind: Tok
    text: str
    column: int  # 1-based


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<number>\d+\.\d*(?:[eE][-+]?\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<punct>[()=+\-*/,]))"
)
_PUNCT = {
    t.value: t
    for t in (
        Tok.LPAREN,
        Tok.RPAREN,
        Tok.COMMA,
        Tok.EQUALS,
        Tok.PLUS,
        Tok.MINUS,
        Tok.STAR,
        Tok.SLASH,
    )
}


def tokenize(text: str) -> list[Token]:
    """Split one statement into typed tokens, ending with `Tok.END`."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise _error(text, col, f"unexpected character {text[col - 1]!r}")
        column = match.start(match.lastgroup) + 1
        value = match.group(match.lastgroup)
        if match.lastgroup == "number":
            tokens.append(Token(Tok.NUMBER, value, column))
        elif match.lastgroup == "name":
            tokens.append(Token(Tok.NAME, value, column))
        else:
            tokens.append(Token(_PUNCT[value], value, column))
        pos = match.end()
    tokens.append(Token(Tok.END, "", len(text) + 1))
    return tokens


def _error(text: str, column: int, message: str) -> IndexNotationError:
    return IndexNotationError(f"{message} at column {column} of {text!r}")


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Access:
    """`name(idx...)`: a tensor read (or the result being written)."""

    tensor: str
    indices: tuple[str, ...]


@dataclass(frozen=True)
class Const:
    value: float


class BinOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"


@dataclass(frozen=True)
class Binary:
    op: BinOp
    lhs: Expr
    rhs: Expr


@dataclass(frozen=True)
class Call:
    func: str
    arg: Expr


@dataclass(frozen=True)
class Sum:
    """Reduction of `body` over the index variable `index`: a sum, or (written `max(k, e)`,
    `min(k, e)`) the largest or smallest value over the stored coordinates of k — what SAM's
    `reduce` computes, 0 for a fiber that stores none."""

    index: str
    body: Expr
    op: str = "add"  # one of REDUCTIONS' values


Expr = Access | Const | Binary | Call | Sum


@dataclass(frozen=True)
class Statement:
    lhs: Access
    rhs: Expr
    text: str


def free_indices(expr: Expr) -> frozenset[str]:
    """Index variables of `expr` that are not bound by a `Sum` inside it."""
    match expr:
        case Access(_, indices):
            return frozenset(indices)
        case Const():
            return frozenset()
        case Binary(_, lhs, rhs):
            return free_indices(lhs) | free_indices(rhs)
        case Call(_, arg):
            return free_indices(arg)
        case Sum(index, body):
            return free_indices(body) - {index}
    raise TypeError(expr)


def tensors_read(expr: Expr) -> list[Access]:
    """Every access in `expr`, left to right."""
    match expr:
        case Access():
            return [expr]
        case Const():
            return []
        case Binary(_, lhs, rhs):
            return tensors_read(lhs) + tensors_read(rhs)
        case Call(_, arg) | Sum(_, arg):
            return tensors_read(arg)
    raise TypeError(expr)


def to_text(expr: Expr) -> str:
    """Print an expression back in index notation (fully parenthesised binaries)."""
    match expr:
        case Access(tensor, indices):
            return f"{tensor}({','.join(indices)})" if indices else tensor
        case Const(value):
            return repr(value)
        case Binary(op, lhs, rhs):
            return f"({to_text(lhs)} {op.value} {to_text(rhs)})"
        case Call(func, arg):
            return f"{func}({to_text(arg)})"
        case Sum(index, body, op):
            name = next(k for k, v in REDUCTIONS.items() if v == op)
            return f"{name}({index}, {to_text(body)})"
    raise TypeError(expr)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self, kind: Tok, what: str) -> Token:
        tok = self.peek()
        if tok.kind is not kind:
            found = tok.kind.value if tok.kind is Tok.END else repr(tok.text)
            raise _error(self.text, tok.column, f"expected {what}, found {found}")
        self.pos += 1
        return tok

    def statement(self) -> Statement:
        lhs_tok = self.peek()
        lhs = self.access(self.take(Tok.NAME, "the result tensor's name"))
        if len(set(lhs.indices)) != len(lhs.indices):
            raise _error(self.text, lhs_tok.column, f"result {lhs.tensor} repeats an index")
        self.take(Tok.EQUALS, "'='")
        rhs = self.expr()
        self.take(Tok.END, "an operator or the end of the statement")
        return Statement(lhs, rhs, self.text)

    def expr(self) -> Expr:
        node = self.term()
        while self.peek().kind in (Tok.PLUS, Tok.MINUS):
            op = BinOp(self.tokens[self.pos].text)
            self.pos += 1
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.peek().kind in (Tok.STAR, Tok.SLASH):
            op = BinOp(self.tokens[self.pos].text)
            self.pos += 1
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Expr:
        if self.peek().kind is Tok.MINUS:
            self.pos += 1
            inner = self.unary()
            return Const(-inner.value) if isinstance(inner, Const) else Call("neg", inner)
        return self.atom()

    def atom(self) -> Expr:
        tok = self.peek()
        if tok.kind is Tok.NUMBER:
            self.pos += 1
            return Const(float(tok.text))
        if tok.kind is Tok.LPAREN:
            self.pos += 1
            inner = self.expr()
            self.take(Tok.RPAREN, "')'")
            return inner
        name = self.take(Tok.NAME, "a tensor, a number, a function or '('")
        if name.text in REDUCTIONS:
            self.take(Tok.LPAREN, f"'(' after {name.text}")
            index = self.take(Tok.NAME, f"the index variable {name.text}( reduces over").text
            self.take(Tok.COMMA, f"',' after the index of {name.text}(")
            body = self.expr()
            self.take(Tok.RPAREN, "')'")
            if index not in free_indices(body):
                raise _error(
                    self.text, name.column, f"{name.text} over {index}, which the body lacks"
                )
            return Sum(index, body, REDUCTIONS[name.text])
        if name.text in FUNCTIONS:
            self.take(Tok.LPAREN, f"'(' after {name.text}")
            arg = self.expr()
            self.take(Tok.RPAREN, f"')' closing {name.text}(")
            return Call(name.text, arg)
        return self.access(name)

    def access(self, name: Token) -> Access:
        if self.peek().kind is not Tok.LPAREN:
            return Access(name.text, ())
        self.pos += 1
        indices = [self.take(Tok.NAME, "an index variable").text]
        while self.peek().kind is Tok.COMMA:
            self.pos += 1
            indices.append(self.take(Tok.NAME, "an index variable").text)
        self.take(Tok.RPAREN, f"')' closing {name.text}(")
        return Access(name.text, tuple(indices))


def parse_statement(text: str) -> Statement:
    """Parse one statement, make its implicit sums explicit and check its indices."""
    stmt = _Parser(text).statement()
    lhs_vars = set(stmt.lhs.indices)
    rhs = _scope_sums(stmt.rhs, free_indices(stmt.rhs) - lhs_vars)
    _check_nesting(rhs, frozenset(), text)
    missing = lhs_vars - free_indices(rhs)
    if missing:
        raise IndexNotationError(
            f"result index {', '.join(sorted(missing))} of {stmt.lhs.tensor} does not appear "
            f"on the right of {text!r} (a broadcast result is not supported)"
        )
    return Statement(stmt.lhs, rhs, text)


def _check_nesting(expr: Expr, bound: frozenset[str], text: str) -> None:
    """One name, one loop: a sum over k inside another sum over k is ambiguous."""
    match expr:
        case Sum(index, body):
            if index in bound:
                raise IndexNotationError(
                    f"index {index} is summed inside a sum over {index} in {text!r}: an explicit"
                    f" sum({index}, ...) shadows a use of {index} outside it; rename one"
                )
            _check_nesting(body, bound | {index}, text)
        case Binary(_, lhs, rhs):
            _check_nesting(lhs, bound, text)
            _check_nesting(rhs, bound, text)
        case Call(_, arg):
            _check_nesting(arg, bound, text)


def _scope_sums(expr: Expr, summed: frozenset[str]) -> Expr:
    """Wrap each implicitly summed variable around the smallest subexpression using it.

    A chain of products counts as one subexpression: `B(i,k,l) * C(k,j) * D(l,j)` sums k
    and l over the whole product, as Einstein's convention reads it, rather than
    factorising it.
    """
    if not summed:
        return expr
    if isinstance(expr, Binary) and expr.op in (BinOp.MUL, BinOp.DIV):
        factors = _factors(expr)
        here = frozenset(v for v in summed if sum(v in free_indices(f) for f in factors) >= 2)
        rest = summed - here
        node = _map_factors(expr, lambda f: _scope_sums(f, rest & free_indices(f)))
        return _wrap(node, here)
    if isinstance(expr, Binary):
        here = frozenset(
            v for v in summed if v in free_indices(expr.lhs) and v in free_indices(expr.rhs)
        )
        rest = summed - here
        node = Binary(
            expr.op,
            _scope_sums(expr.lhs, rest & free_indices(expr.lhs)),
            _scope_sums(expr.rhs, rest & free_indices(expr.rhs)),
        )
        return _wrap(node, here)
    if isinstance(expr, Call):
        # relu(A(i,j) * x(j)) reduces the product first, then applies relu.
        return Call(expr.func, _scope_sums(expr.arg, summed))
    if isinstance(expr, Sum):
        return Sum(expr.index, _scope_sums(expr.body, summed), expr.op)
    return _wrap(expr, summed)


def _factors(expr: Expr) -> list[Expr]:
    if isinstance(expr, Binary) and expr.op in (BinOp.MUL, BinOp.DIV):
        return _factors(expr.lhs) + _factors(expr.rhs)
    return [expr]


def _map_factors(expr: Expr, fn) -> Expr:
    if isinstance(expr, Binary) and expr.op in (BinOp.MUL, BinOp.DIV):
        return Binary(expr.op, _map_factors(expr.lhs, fn), _map_factors(expr.rhs, fn))
    return fn(expr)


def _wrap(expr: Expr, summed: frozenset[str]) -> Expr:
    for v in sorted(summed):
        expr = Sum(v, expr)
    return expr


def parse_program(statements: list[str] | str) -> list[Statement]:
    """Parse several statements; later ones may read earlier results.

    Rejects a result written twice and a statement reading its own result.
    """
    if isinstance(statements, str):
        statements = [statements]
    if not statements:
        raise IndexNotationError("no statements given")
    parsed: list[Statement] = []
    written: set[str] = set()
    for n, text in enumerate(statements, 1):
        if not isinstance(text, str):
            raise IndexNotationError(f"statement {n} is not a string: {text!r}")
        stmt = parse_statement(text)
        name = stmt.lhs.tensor
        if name in written:
            raise IndexNotationError(f"statement {n} writes {name} a second time: {text!r}")
        if any(a.tensor == name for a in tensors_read(stmt.rhs)):
            raise IndexNotationError(f"statement {n} reads its own result {name}: {text!r}")
        written.add(name)
        parsed.append(stmt)
    return parsed
