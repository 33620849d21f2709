"""Known constraints as expressions over parameters, e.g. ``"unroll < chunk and chunk % 4 == 0"``.

Constraint text comes from programs and users, so it is never given to ``eval``: it is parsed by
``ast`` and every node is checked against a small whitelist (comparisons, arithmetic, ``%``,
``and``/``or``/``not``, ``min``/``max``/``len``/``abs``, ``pos(p, k)`` for the position of element
``k`` in permutation ``p`` and ``p[j]`` for the element at position ``j``). The accepted tree is
compiled to nested closures once, so evaluating it on thousands of candidates is cheap. A bad
expression is a one-line ``SpaceError`` quoting it.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from tuner.errors import SpaceError

Env = Mapping[str, Any]
Node = Callable[[Env], Any]

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}


def _position(perm: Any, element: Any) -> int:
    return list(perm).index(element)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "len": len,
    "abs": abs,
    "pos": _position,
}
# A power with a huge exponent could stall the tuner; kernel constraints never need one.
_MAX_EXPONENT = 64
# Nor a number past this many bits: nested powers ((t**64)**64)**64... grow past it in a
# few levels and would otherwise hang the trusted tuner on a program's constraint text.
_MAX_BITS = 1024


class Constraint:
    """One boolean expression over parameter names; ``names`` are the parameters it reads."""

    def __init__(self, text: str, known: set[str] | None = None) -> None:
        self.text = text
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise SpaceError(f"constraint {text!r}: syntax error ({exc.msg})") from None
        self.names: set[str] = set()
        self._fn = self._compile(tree.body)
        if known is not None:
            unknown = sorted(self.names - known)
            if unknown:
                raise SpaceError(f"constraint {text!r}: unknown parameter {unknown[0]!r}")

    def __repr__(self) -> str:
        return f"Constraint({self.text!r})"

    def __call__(self, env: Env) -> bool:
        """True when ``env`` satisfies the constraint; an evaluation fault is a SpaceError."""
        try:
            return bool(self._fn(env))
        except SpaceError:
            raise
        except Exception as exc:  # ZeroDivisionError, TypeError, ValueError from user text
            shown = {name: env[name] for name in sorted(self.names) if name in env}
            raise SpaceError(
                f"constraint {self.text!r} failed on {shown}: {type(exc).__name__}: {exc}"
            ) from None

    def _fail(self, node: ast.AST, what: str) -> SpaceError:
        return SpaceError(
            f"constraint {self.text!r}: {what} is not allowed (column {node.col_offset})"
        )

    def _compile(self, node: ast.AST) -> Node:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | str | bool):
                raise self._fail(node, f"constant {node.value!r}")
            value = node.value
            return lambda env: value
        if isinstance(node, ast.Name):
            name = node.id
            if name in ("True", "False"):
                flag = name == "True"
                return lambda env: flag
            self.names.add(name)
            return lambda env: env[name]
        if isinstance(node, ast.Tuple | ast.List):
            items = [self._compile(item) for item in node.elts]
            return lambda env: tuple(item(env) for item in items)
        if isinstance(node, ast.BoolOp):
            parts = [self._compile(value) for value in node.values]
            if isinstance(node.op, ast.And):
                return lambda env: all(part(env) for part in parts)
            return lambda env: any(part(env) for part in parts)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            fn, operand = _UNARY[type(node.op)], self._compile(node.operand)
            return lambda env: fn(operand(env))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._binary(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Subscript):
            base, index = self._compile(node.value), self._compile(node.slice)
            return lambda env: base(env)[index(env)]
        raise self._fail(node, type(node).__name__)

    def _binary(self, node: ast.BinOp) -> Node:
        fn = _BINARY[type(node.op)]
        left, right = self._compile(node.left), self._compile(node.right)
        text = self.text

        def bounded(a: Any, b: Any) -> Any:
            if fn is operator.mul and (isinstance(a, str | tuple) or isinstance(b, str | tuple)):
                raise SpaceError(f"constraint {text!r}: repeating a string or tuple is not allowed")
            if fn is operator.pow:
                if abs(b) > _MAX_EXPONENT:
                    raise SpaceError(f"constraint {text!r}: exponent {b} is too large")
                if isinstance(a, int) and isinstance(b, int) and a.bit_length() * b > _MAX_BITS:
                    raise SpaceError(f"constraint {text!r}: {a} ** {b} is too large")
            result = fn(a, b)
            if isinstance(result, int) and result.bit_length() > _MAX_BITS:
                raise SpaceError(f"constraint {text!r}: a number past {_MAX_BITS} bits")
            return result

        return lambda env: bounded(left(env), right(env))

    def _compare(self, node: ast.Compare) -> Node:
        operands = [self._compile(node.left)] + [self._compile(c) for c in node.comparators]
        fns = []
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise self._fail(node, type(op).__name__)
            fns.append(_COMPARE[type(op)])

        def chain(env: Env) -> bool:
            left = operands[0](env)
            for fn, operand in zip(fns, operands[1:], strict=True):
                right = operand(env)
                if not fn(left, right):
                    return False
                left = right
            return True

        return chain

    def _call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            shown = ast.unparse(node.func)
            raise self._fail(node, f"call of {shown!r} (allowed: {', '.join(_FUNCTIONS)})")
        if node.keywords:
            raise self._fail(node, "a keyword argument")
        fn = _FUNCTIONS[node.func.id]
        args = [self._compile(arg) for arg in node.args]
        return lambda env: fn(*(arg(env) for arg in args))
