"""Tunable parameters a program declares, the same way in every dialect.

A kernel's keyword parameters with a default are its knobs (tile sizes, vector lengths, a
loop order). Declaring their domains lets the trusted side re-run the same program text with
other values and tune it, so the declaration travels in the IR beside the values the program
ran with:

    @step.tunable(tile_rows=[8, 16, 32, 64], order=step.tunable.permutation("i", "j", "k"),
                  constraints=["tile_rows * 4 <= 256"])
    def kernel(a, b, tile_rows=16, order=("i", "j", "k")):

A domain is a list of numbers (an ordinal; searched on a log scale when it spans a factor of
8 or more), a list of strings or booleans (a categorical), ``range(lo, hi)`` (an integer),
or ``tunable.integer / real / ordinal / categorical / permutation`` for the explicit forms.
A permutation's value is a tuple of its items in the chosen order.

This module runs inside the sandbox (pure Python): it checks the declaration's form, that
every constraint parses and reads only declared parameters, and that the values the kernel
gets lie in their domains. Evaluating constraints is the tuner's business on the trusted side
(``tuner.program``), which never runs program text.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dsl.core.errors import ProgramError

IR_KEY = "tunable"
# The functions a constraint may call (the tuner's expression language, tuner.expr).
CONSTRAINT_FUNCTIONS = frozenset({"min", "max", "len", "abs", "pos"})
# An ordinal of positive numbers spanning this factor or more is searched on a log scale.
_LOG_SPAN = 8
# Most items a permutation may order: the tuner's model and local search grow with n² per
# ask (40 items stalled one ask past 40 s); a loop nest has far fewer loops.
MAX_PERMUTATION = 8


def _fail(name: str, reason: str) -> ProgramError:
    return ProgramError(f"tunable parameter {name!r}: {reason}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Domain:
    """A parameter's declared domain as JSON (``{"type": ..., ...}``), checked on creation."""

    def __init__(self, kind: str, **fields: Any) -> None:
        self.kind, self.fields = kind, fields

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, **self.fields}

    def named(self, name: str) -> Domain:
        """This domain checked for parameter ``name`` (errors name it)."""
        return domain_from_json(name, self.to_json())


def _integer(low: int, high: int, log: bool = False) -> Domain:
    return Domain("integer", low=low, high=high, log=log)


def _real(low: float, high: float, log: bool = False) -> Domain:
    return Domain("real", low=low, high=high, log=log)


def _ordinal(values: Sequence[float], log: bool | None = None) -> Domain:
    values = list(values)
    if log is None:
        log = bool(values) and all(_is_number(v) and v > 0 for v in values)
        log = log and max(values) >= _LOG_SPAN * min(values)
    return Domain("ordinal", values=values, log=log)


def _categorical(values: Sequence[Any]) -> Domain:
    return Domain("categorical", values=list(values))


def _permutation(*items: Any) -> Domain:
    return Domain("permutation", items=list(items))


def as_domain(name: str, spec: Any) -> Domain:
    """The domain a ``tunable(name=spec)`` shorthand stands for, checked."""
    if isinstance(spec, Domain):
        return spec.named(name)
    if isinstance(spec, range):
        if spec.step != 1 or len(spec) == 0:
            return _ordinal(list(spec)).named(name)
        return _integer(spec.start, spec.stop - 1).named(name)
    if isinstance(spec, list | tuple):
        if spec and all(_is_number(v) for v in spec):
            return _ordinal(spec).named(name)
        return _categorical(spec).named(name)
    raise _fail(name, f"domain {spec!r} is not a list of values, a range or a tunable.* domain")


def domain_from_json(name: str, data: Any) -> Domain:
    """Check a domain's JSON form (from a declaration or from an IR) and rebuild it."""
    if not isinstance(data, dict) or data.get("type") not in _CHECKS:
        raise _fail(name, f"domain type must be one of {', '.join(_CHECKS)}")
    fields = {k: v for k, v in data.items() if k != "type"}
    _CHECKS[data["type"]](name, fields)
    return Domain(data["type"], **fields)


def _check_range(name: str, f: dict, integral: bool) -> None:
    low, high, log = f.get("low"), f.get("high"), f.get("log", False)
    kind = (lambda v: isinstance(v, int) and not isinstance(v, bool)) if integral else _is_number
    if not (kind(low) and kind(high) and low <= high and (integral or low < high)):
        raise _fail(name, f"needs {'integers' if integral else 'finite numbers'} low < high")
    if not isinstance(log, bool) or (log and low <= 0):
        raise _fail(name, "a log scale needs low > 0")
    f["log"] = log


def _check_values(name: str, f: dict, numbers: bool) -> None:
    values = f.get("values")
    if not isinstance(values, list) or not values:
        raise _fail(name, "needs a non-empty list of values")
    if numbers and not all(_is_number(v) for v in values):
        raise _fail(name, "an ordinal's values must be numbers")
    if not all(isinstance(v, str | bool | int | float) for v in values):
        raise _fail(name, "values must be numbers, strings or booleans")
    if len({(type(v), v) for v in values}) != len(values):
        raise _fail(name, "repeated values")
    log = f.setdefault("log", False) if numbers else False
    if not isinstance(log, bool) or (log and min(values) <= 0):
        raise _fail(name, "a log scale needs positive values")


def _check_permutation(name: str, f: dict) -> None:
    items = f.get("items")
    if not isinstance(items, list) or not items:
        raise _fail(name, "a permutation needs at least one item")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in items):
        raise _fail(name, "permutation items must be strings or integers")
    if len(set(items)) != len(items):
        raise _fail(name, "repeated permutation items")
    if len(items) > MAX_PERMUTATION:
        raise _fail(name, f"a permutation orders at most {MAX_PERMUTATION} items")


_CHECKS: dict[str, Callable[[str, dict], None]] = {
    "integer": lambda n, f: _check_range(n, f, True),
    "real": lambda n, f: _check_range(n, f, False),
    "ordinal": lambda n, f: _check_values(n, f, True),
    "categorical": lambda n, f: _check_values(n, f, False),
    "permutation": _check_permutation,
}


def contains(domain: Domain, value: Any) -> bool:
    """Whether ``value`` (as a kernel receives it) lies in ``domain``."""
    f = domain.fields
    if domain.kind == "integer":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and f["low"] <= value <= f["high"]
        )
    if domain.kind == "real":
        return _is_number(value) and f["low"] <= value <= f["high"]
    if domain.kind == "permutation":
        items = f["items"]
        return (
            isinstance(value, tuple | list)
            and len(value) == len(items)
            and all(isinstance(v, str | int) for v in value)
            and set(value) == set(items)
        )
    return any(v == value and isinstance(v, bool) == isinstance(value, bool) for v in f["values"])


def check_constraint(text: Any, names: set[str]) -> str:
    """``text`` if it parses as an expression reading only ``names``; else a one-line error."""
    if not isinstance(text, str):
        raise ProgramError(f"constraint {text!r}: must be a string expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ProgramError(f"constraint {text!r}: not a Python expression") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in names | CONSTRAINT_FUNCTIONS:
            raise ProgramError(f"constraint {text!r}: {node.id!r} is not a tunable parameter")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in CONSTRAINT_FUNCTIONS
        ):
            raise ProgramError(
                f"constraint {text!r}: may call only {', '.join(sorted(CONSTRAINT_FUNCTIONS))}"
            )
    return text


class Declaration:
    """The domains and constraints a kernel declared, attached to it by ``tunable``."""

    def __init__(self, domains: Mapping[str, Domain], constraints: Sequence[str]) -> None:
        self.domains = dict(domains)
        self.constraints = [check_constraint(c, set(self.domains)) for c in constraints]

    def to_json(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "params": {n: d.to_json() for n, d in self.domains.items()},
            "constraints": list(self.constraints),
            "values": {n: list(v) if isinstance(v, tuple) else v for n, v in values.items()},
        }


def declaration_from_json(data: Any) -> tuple[Declaration, dict[str, Any]]:
    """A declaration and its values from an IR's ``tunable`` section (checked)."""
    if not isinstance(data, dict) or set(data) != {"params", "constraints", "values"}:
        raise ProgramError(f"the IR's {IR_KEY!r} section needs params, constraints and values")
    params, constraints, values = data["params"], data["constraints"], data["values"]
    if not isinstance(params, dict) or not params or not isinstance(constraints, list):
        raise ProgramError(f"the IR's {IR_KEY!r} section declares no parameters")
    declaration = Declaration(
        {str(n): domain_from_json(str(n), d) for n, d in params.items()}, constraints
    )
    if not isinstance(values, dict) or set(values) != set(params):
        raise ProgramError(f"the IR's {IR_KEY!r} values must give each declared parameter")
    for name, domain in declaration.domains.items():
        if not contains(domain, values[name]):
            raise _fail(name, f"value {values[name]!r} is outside its domain")
    return declaration, dict(values)


class Tunable:
    """``tunable(**domains, constraints=[...])``: the decorator programs declare knobs with.

    Its attributes build the explicit domains: ``tunable.integer(1, 64, log=True)``,
    ``tunable.real(lo, hi)``, ``tunable.ordinal([...])``, ``tunable.categorical([...])``,
    ``tunable.permutation("i", "j", "k")``.
    """

    integer = staticmethod(_integer)
    real = staticmethod(_real)
    ordinal = staticmethod(_ordinal)
    categorical = staticmethod(_categorical)
    permutation = staticmethod(_permutation)

    def __call__(self, constraints: Sequence[str] = (), **domains: Any) -> Callable:
        if isinstance(constraints, str):
            constraints = [constraints]
        if not domains:
            raise ProgramError("tunable: declare at least one parameter, e.g. tile=[16, 32, 64]")
        declaration = Declaration({n: as_domain(n, s) for n, s in domains.items()}, constraints)

        def attach(kernel: Callable) -> Callable:
            defaults = _keyword_defaults(kernel)
            for name, domain in declaration.domains.items():
                if name not in defaults:
                    raise _fail(
                        name, "the kernel needs a keyword parameter of that name with a default"
                    )
                if not contains(domain, defaults[name]):
                    raise _fail(name, f"default {defaults[name]!r} is outside its domain")
            kernel.__tunable__ = declaration
            return kernel

        return attach

    @staticmethod
    def with_defaults(kernel: Callable, **values: Any) -> Callable:
        """``kernel`` whose declared parameters default to ``values``: how a tuned program
        states its values (``kernel = step.tunable.with_defaults(kernel, tile=32)``)."""
        declaration = getattr(kernel, "__tunable__", None)
        if not isinstance(declaration, Declaration):
            raise ProgramError("tunable.with_defaults: the kernel declares no tunable parameters")
        for name, value in values.items():
            if name not in declaration.domains:
                raise _fail(name, "not declared by the kernel")
            if declaration.domains[name].kind == "permutation" and isinstance(value, list):
                values[name] = tuple(value)
            if not contains(declaration.domains[name], values[name]):
                raise _fail(name, f"value {value!r} is outside its domain")
        tuned = functools.partial(kernel, **values)
        tuned.__tunable__ = declaration
        return tuned


tunable = Tunable()


def _keyword_defaults(kernel: Callable) -> dict[str, Any]:
    try:
        parameters = inspect.signature(kernel).parameters.values()
    except (TypeError, ValueError):
        raise ProgramError("tunable: decorate the kernel function itself") from None
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def bind(kernel: Callable, given: Mapping[str, Any]) -> tuple[dict[str, Any], dict | None]:
    """The keyword arguments to call ``kernel`` with, and the IR's ``tunable`` section.

    ``given`` are the signature's parameters (task parameters, and the values a tuner
    chose). A declared parameter takes its given value, else its default; a permutation
    given as a JSON list reaches the kernel as a tuple. A value outside its domain is a
    one-line error naming the parameter.
    """
    kwargs = dict(given)
    declaration = getattr(kernel, "__tunable__", None)
    if not isinstance(declaration, Declaration):
        return kwargs, None
    defaults = _keyword_defaults(kernel)
    values = {}
    for name, domain in declaration.domains.items():
        value = kwargs.get(name, defaults.get(name))
        if domain.kind == "permutation" and isinstance(value, list):
            value = tuple(value)
        if not contains(domain, value):
            raise _fail(name, f"value {value!r} is outside its domain")
        values[name] = kwargs[name] = value
    return kwargs, declaration.to_json(values)
