"""Test helpers for the SAM compiler: a dense NumPy evaluator of index notation and a
compile -> trace -> execute pipeline through the trusted interpreter."""

from __future__ import annotations

import numpy as np

from dsl import sam
from dsl.sam.compiler import Operand, compile_spec
from dsl.sam.index_notation import Access, Binary, BinOp, Call, Const, Expr, Sum, parse_program

_FUNCS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "neg": np.negative,
    "sin": np.sin,
    "exp": np.exp,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "cos": np.cos,
    "rsqrt": lambda x: 1 / np.sqrt(x),
}


def dense_eval(statements: list[str], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every statement's result, evaluated densely (functions on every entry)."""
    env = dict(arrays)
    for stmt in parse_program(statements):
        value, free = _eval(stmt.rhs, env)
        env[stmt.lhs.tensor] = np.einsum(f"{''.join(free)}->{''.join(stmt.lhs.indices)}", value)
    return env


def _eval(expr: Expr, env: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    match expr:
        case Access(tensor, indices):
            return np.asarray(env[tensor], dtype=np.float64), list(indices)
        case Const(value):
            return np.asarray(value), []
        case Call(func, arg):
            value, free = _eval(arg, env)
            return _FUNCS[func](value), free
        case Sum(index, body):
            value, free = _eval(body, env)
            return value.sum(axis=free.index(index)), [v for v in free if v != index]
        case Binary(op, lhs, rhs):
            a, fa = _eval(lhs, env)
            b, fb = _eval(rhs, env)
            free = fa + [v for v in fb if v not in fa]
            a = _expand(a, fa, free)
            b = _expand(b, fb, free)
            match op:
                case BinOp.ADD:
                    return a + b, free
                case BinOp.SUB:
                    return a - b, free
                case BinOp.MUL:
                    return a * b, free
                case BinOp.DIV:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        return a / b, free
    raise TypeError(expr)


def _expand(value: np.ndarray, have: list[str], want: list[str]) -> np.ndarray:
    """Transpose `value` to `want` order with size-1 axes for missing variables."""
    if not have:
        return value
    present = [v for v in want if v in have]
    value = np.transpose(value, [have.index(v) for v in present])
    return value.reshape([value.shape[present.index(v)] if v in have else 1 for v in want])


def compile_and_run(
    spec: dict,
    inputs: list[Operand],
    outputs: list[Operand],
    arrays: dict[str, np.ndarray],
    dims: dict[str, int],
    simulate: bool = False,
):
    """Compile, trace and execute; returns (outputs, program text, SimReport or None)."""
    from interpreter.sam import BACKEND

    source = compile_spec(spec, inputs, outputs)
    namespace: dict = {}
    exec(compile(source, "<compiled>", "exec"), namespace)
    signature = {
        "inputs": [_entry(o) for o in inputs],
        "outputs": [{"name": o.name, "shape": list(o.shape)} for o in outputs],
        "dims": dict(dims),
        "params": {},
    }
    program = BACKEND.load(sam.trace(namespace["kernel"], signature))
    out = {o.name: np.full(_shape(o, dims), np.nan) for o in outputs}
    BACKEND.execute(program, arrays, out, dims)
    report = BACKEND.simulate(program, arrays, dims, {}) if simulate else None
    return out, source, report


def _entry(op: Operand) -> dict:
    fmt = op.format
    if isinstance(fmt, str) and set(fmt) <= {"d", "c"}:  # the compiler's letter shorthand
        fmt = ["dense" if ch == "d" else "compressed" for ch in fmt]
    entry = {"name": op.name, "shape": list(op.shape), "format": fmt}
    if op.mode_order is not None:
        entry["mode_order"] = list(op.mode_order)
    return entry


def _shape(op: Operand, dims: dict[str, int]) -> tuple[int, ...]:
    return tuple(dims[d] if isinstance(d, str) else d for d in op.shape)


def sparse(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    values = rng.normal(size=shape)
    values[rng.random(shape) >= density] = 0.0
    return values
