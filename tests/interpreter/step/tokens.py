"""Token strings for golden tests: "1 2 S1 3 S2 D" <-> StreamData, and single-op runs."""

from __future__ import annotations

import numpy as np

from dsl.step.functions import make_ref
from dsl.step.ir import Node, Port, Program
from dsl.step.ops import OPS, REQUIRED_ATTR, RuleEnv
from dsl.step.symbolic import Expr
from dsl.step.types import Selector, StreamType, Tile
from interpreter.step.semantics import SEMANTICS, RunContext
from interpreter.step.streams import StreamData, vstack

SCALAR = Tile("float32", Expr.const(1), Expr.const(1))


def parse(text: str, n_choices: int = 0) -> StreamData:
    """Numbers are [1, 1] tiles; {0,2} is a selector over n_choices; S<k> stops; D ends."""
    stop: list[int] = []
    has: list[bool] = []
    values: list = []
    after_value = False
    for tok in text.split():
        if tok == "D":
            break
        if tok.startswith("S"):
            if after_value:
                stop[-1] = int(tok[1:])
            else:
                stop.append(int(tok[1:]))
                has.append(False)
            after_value = False
            continue
        if tok.startswith("{"):
            sel = np.zeros(n_choices, dtype=bool)
            inner = tok.strip("{}")
            if inner:
                sel[[int(i) for i in inner.split(",")]] = True
            values.append(sel)
        else:
            values.append(np.array([[float(tok)]], dtype=np.float32))
        stop.append(0)
        has.append(True)
        after_value = True
    vals = np.stack(values) if values else np.zeros((0, 1, 1), np.float32)
    return StreamData(np.array(stop, np.int8), np.array(has, bool), vals)


def render(s: StreamData) -> str:
    out = []
    values = s.values
    j = 0
    for stop, has in zip(s.stop.tolist(), s.has_value.tolist(), strict=True):
        if has:
            v = values[j]
            j += 1
            v = np.asarray(v)
            if v.dtype == bool:
                out.append("{" + ",".join(str(i) for i in np.flatnonzero(v)) + "}")
            elif v.size == 1:
                f = float(v.reshape(-1)[0])
                out.append(str(int(f)) if f == int(f) else f"{f:g}")
            else:
                out.append("[" + " ".join(f"{float(x):g}" for x in v.reshape(-1)) + "]")
        if stop:
            out.append(f"S{stop}")
    return " ".join(out + ["D"])


def stream_type(shape: list, elem: object = SCALAR) -> StreamType:
    return StreamType(
        elem, tuple(Expr.sym(d, "ragged") if isinstance(d, str) else Expr.of(d) for d in shape)
    )


def selector_type(n: int, shape: list) -> StreamType:
    return stream_type(shape, Selector(n))


def run_op(
    op: str, inputs: list[tuple[str | StreamData, StreamType]], **attrs: object
) -> list[str]:
    """Run one op on token-string inputs; returns the outputs as token strings."""
    return [render(s) for s in run_op_streams(op, inputs, **attrs)]


def run_op_streams(
    op: str, inputs: list[tuple[str | StreamData, StreamType]], **attrs: object
) -> list[StreamData]:
    decl = OPS[op]
    full = {}
    for key, (kind, default) in decl.attrs.items():
        value = attrs.get(key, default)
        assert value is not REQUIRED_ATTR, key
        if kind.startswith("fn:"):
            value = make_ref(kind[3:], value)
        elif kind == "dim" and value is not None:
            value = Expr.of(value)
        elif kind == "shape" and value is not None:
            value = tuple(Expr.of(v) for v in value)
        full[key] = value
    producers = [Node(i, "copy", (), {}, (t,)) for i, (_, t) in enumerate(inputs)]
    n = len(producers)
    outputs = decl.rule([t for _, t in inputs], full, RuleEnv({}, n))
    node = Node(n, op, tuple(Port(i, 0) for i in range(n)), full, tuple(outputs))
    program = Program(tuple(producers) + (node,), {}, {}, ())
    ctx = RunContext(program, {}, {})
    streams = [
        text
        if isinstance(text, StreamData)
        else parse(text, t.elem.n if isinstance(t.elem, Selector) else 0)
        for text, t in inputs
    ]
    return SEMANTICS[op](node, streams, ctx)


def scalars(s: StreamData) -> list[float]:
    return [float(v) for v in np.asarray(vstack(s.values)).reshape(-1)]
