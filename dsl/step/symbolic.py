"""Symbolic stream dimensions: static ints, dynamic-regular symbols and ragged symbols.

A dimension is an `Expr`: a polynomial with integer coefficients over *atoms*. An atom is a
symbol (`Sym`: a task dim such as `M`, or a data-dependent count created by an op) or an
opaque quotient (`cdiv(a, b)` / `fdiv(a, b)` that does not divide exactly). Two dims are equal
when their canonical polynomials are equal, which is all the builders need (shapes are
compared, never solved).

Ragged symbols stand for a size that may differ from one sub-stream to the next. They are
absorbing: an expression containing one is ragged (`Expr.is_ragged`), and shape rules that
combine dims replace a ragged result by a fresh ragged symbol.

Kept tiny on purpose: `dsl/` is imported inside the sandbox on every evaluation, so no
sympy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from dsl.step.limits import MAX_DIM_DEPTH, MAX_INT, check_int

DYNAMIC = "dynamic"
RAGGED = "ragged"
MAX_TERMS = 64  # terms of one dim, atoms of one term (in untrusted IR)


@dataclass(frozen=True, order=True)
class Sym:
    """A named dimension symbol; `kind` is DYNAMIC (one value per run) or RAGGED."""

    name: str
    kind: str = DYNAMIC

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, order=True)
class Quot:
    """An inexact quotient kept as an atom: ceil (`ceil=True`) or floor of num / den."""

    num: Expr
    den: Expr
    ceil: bool

    def __str__(self) -> str:
        return f"{'cdiv' if self.ceil else 'fdiv'}({self.num}, {self.den})"


Atom = Sym | Quot
Monomial = tuple  # sorted tuple of atoms (with repetition for powers)
_ONE = (((), 1),)  # the terms of the constant 1


def _atom_key(atom: Atom) -> tuple:
    return (0, atom.name) if isinstance(atom, Sym) else (1, str(atom))


def _term_key(term: tuple[Monomial, int]) -> list:
    return [_atom_key(a) for a in term[0]]


class Expr:
    """An immutable canonical polynomial over atoms (see module doc)."""

    __slots__ = ("_terms", "_hash", "_static", "_ragged", "_symbols", "_json")

    def __init__(self, terms: dict[Monomial, int]) -> None:
        items = [(m, c) for m, c in terms.items() if c != 0]
        if len(items) > 1:
            items.sort(key=_term_key)
        self._terms = tuple(items)
        self._hash = hash(self._terms)
        # Asked of every dim many times while a program is traced, loaded and run: once here.
        self._static = all(m == () for m, _ in items)
        self._ragged: bool | None = None  # computed on first use (checked per run)
        self._symbols: frozenset[Sym] | None = None
        self._json: int | dict | None = None

    # --- construction -------------------------------------------------------------
    @staticmethod
    def const(value: int) -> Expr:
        return _const(int(value))

    @staticmethod
    def sym(name: str, kind: str = DYNAMIC) -> Expr:
        return Expr({(Sym(name, kind),): 1})

    @staticmethod
    def of(value: int | Expr) -> Expr:
        if isinstance(value, Expr):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a dimension must be an int or a symbolic dim, got {value!r}")
        return Expr.const(value)

    # --- inspection ---------------------------------------------------------------
    @property
    def terms(self) -> tuple:
        return self._terms

    def atoms(self) -> set[Atom]:
        return {a for m, _ in self._terms for a in m}

    def symbols(self) -> frozenset[Sym]:
        if self._symbols is None:
            out: set[Sym] = set()
            for atom in self.atoms():
                if isinstance(atom, Sym):
                    out.add(atom)
                else:
                    out |= atom.num.symbols() | atom.den.symbols()
            self._symbols = frozenset(out)
        return self._symbols

    @property
    def is_static(self) -> bool:
        return self._static

    @property
    def is_ragged(self) -> bool:
        if self._ragged is None:
            self._ragged = any(s.kind == RAGGED for s in self.symbols())
        return self._ragged

    @property
    def value(self) -> int:
        """The int value of a static dim (raises ValueError otherwise)."""
        if not self._static:
            raise ValueError(f"dimension {self} is not static")
        return self._terms[0][1] if self._terms else 0

    def evaluate(self, dims: dict[str, int]) -> int | None:
        """The value with `dims` substituted, or None when a symbol has no value."""
        if self._static:  # asked of every dim of every stream a program runs
            return self._terms[0][1] if self._terms else 0
        total = 0
        for mono, coef in self._terms:
            term = coef
            for atom in mono:
                if isinstance(atom, Sym):
                    if atom.name not in dims:
                        return None
                    v = int(dims[atom.name])
                else:
                    n, d = atom.num.evaluate(dims), atom.den.evaluate(dims)
                    if n is None or d is None or d == 0:
                        return None
                    v = -(-n // d) if atom.ceil else n // d
                term *= v
            total += term
        return total

    # --- arithmetic ---------------------------------------------------------------
    def __add__(self, other: int | Expr) -> Expr:
        terms = dict(self._terms)
        for m, c in Expr.of(other)._terms:
            terms[m] = terms.get(m, 0) + c
        return Expr(terms)

    __radd__ = __add__

    def __neg__(self) -> Expr:
        return Expr({m: -c for m, c in self._terms})

    def __sub__(self, other: int | Expr) -> Expr:
        return self + (-Expr.of(other))

    def __rsub__(self, other: int | Expr) -> Expr:
        return Expr.of(other) - self

    def __mul__(self, other: int | Expr) -> Expr:
        other = Expr.of(other)
        # shortcuts, same canonical result: shape products multiply static dims by the
        # thousand while a program is traced and loaded
        if self._static and other._static:
            return Expr.const(self.value * other.value)
        if self._terms == _ONE:
            return other
        if other._terms == _ONE:
            return self
        terms: dict[Monomial, int] = {}
        for m1, c1 in self._terms:
            for m2, c2 in other._terms:
                m = tuple(sorted(m1 + m2, key=_atom_key))
                terms[m] = terms.get(m, 0) + c1 * c2
        return Expr(terms)

    __rmul__ = __mul__

    def _divide(self, other: int | Expr, ceil: bool) -> Expr:
        den = Expr.of(other)
        if den.is_static:
            d = den.value
            if d <= 0:
                raise ValueError(f"cannot divide dimension {self} by {d}")
            if self.is_static:
                n = self.value
                return Expr.const(-(-n // d) if ceil else n // d)
            if all(c % d == 0 for _, c in self._terms):
                return Expr({m: c // d for m, c in self._terms})
        elif self == den:
            return Expr.const(1)
        return Expr({(Quot(self, den, ceil),): 1})

    def cdiv(self, other: int | Expr) -> Expr:
        return self._divide(other, ceil=True)

    def __floordiv__(self, other: int | Expr) -> Expr:
        return self._divide(other, ceil=False)

    # --- comparison, printing -------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if isinstance(other, int) and not isinstance(other, bool):
            other = Expr.const(other)
        return isinstance(other, Expr) and self._terms == other._terms

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: Expr) -> bool:  # only so that Quot atoms can be ordered
        return str(self) < str(other)

    def __str__(self) -> str:
        if not self._terms:
            return "0"
        parts = []
        for mono, coef in sorted(self._terms, key=lambda mc: mc[0] == ()):
            body = "*".join(str(a) for a in mono)
            if not body:
                parts.append(str(coef))
            elif coef == 1:
                parts.append(body)
            elif coef == -1:
                parts.append("-" + body)
            else:
                parts.append(f"{coef}*{body}")
        return " + ".join(parts).replace("+ -", "- ")

    __repr__ = __str__

    # --- JSON ---------------------------------------------------------------------
    def to_json(self) -> int | dict:
        """An int for static dims, else {"terms": [[coef, [atom, ...]], ...]}.

        Built once and shared (callers must not mutate it): tracing and loading a program
        ask it of the same dims, passed from op to op, tens of thousands of times."""
        if self._json is None:
            if self._static:
                self._json = self._terms[0][1] if self._terms else 0
            else:
                self._json = {"terms": [[c, [_atom_json(a) for a in m]] for m, c in self._terms]}
        return self._json


def _atom_json(atom: Atom) -> str | dict:
    if isinstance(atom, Sym):
        return atom.name
    return {"cdiv" if atom.ceil else "fdiv": [atom.num.to_json(), atom.den.to_json()]}


def expr_from_json(data: object, symbols: dict[str, str], depth: int = 0) -> Expr:
    """Parse `Expr.to_json` output; `symbols` maps each symbol name to its kind.

    Raises ValueError with a short reason on anything malformed (untrusted input), and on
    coefficients beyond MAX_INT or cdiv/fdiv nested deeper than MAX_DIM_DEPTH: the trusted
    side sizes arrays from dims.
    """
    if isinstance(data, bool):
        raise ValueError("a dimension cannot be a boolean")
    if isinstance(data, int):
        return Expr.const(check_int(data, MAX_INT))
    if depth > MAX_DIM_DEPTH:
        raise ValueError(f"dimension nests cdiv/fdiv deeper than {MAX_DIM_DEPTH}")
    if (
        not isinstance(data, dict)
        or set(data) != {"terms"}
        or not isinstance(data["terms"], list)
        or len(data["terms"]) > MAX_TERMS
    ):
        raise ValueError(f"malformed dimension {data!r}")
    total = Expr.const(0)
    for term in data["terms"]:
        if (
            not isinstance(term, list)
            or len(term) != 2
            or not isinstance(term[0], int)
            or not isinstance(term[1], list)
            or len(term[1]) > MAX_TERMS
        ):
            raise ValueError(f"malformed dimension term {term!r}")
        part = Expr.const(check_int(term[0], MAX_INT))
        for atom in term[1]:
            part = part * _atom_from_json(atom, symbols, depth)
        total = total + part
    return total


def _atom_from_json(atom: object, symbols: dict[str, str], depth: int) -> Expr:
    if isinstance(atom, str):
        if atom not in symbols:
            raise ValueError(f"dimension uses undeclared symbol {atom!r}")
        return Expr.sym(atom, symbols[atom])
    if isinstance(atom, dict) and len(atom) == 1:
        ((kind, args),) = atom.items()
        if kind in ("cdiv", "fdiv") and isinstance(args, list) and len(args) == 2:
            num, den = (expr_from_json(a, symbols, depth + 1) for a in args)
            return num.cdiv(den) if kind == "cdiv" else num // den
    raise ValueError(f"malformed dimension atom {atom!r}")


@lru_cache(maxsize=4096)
def _const(value: int) -> Expr:
    """Static dims, shared: they are immutable, and tracing a program makes thousands."""
    return Expr({(): value})


def shape_str(shape: tuple[Expr, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
