"""Helpers for SAM interpreter tests: typed token spelling and one-primitive runs."""

from __future__ import annotations

import numpy as np

from dsl.sam.ir import Node, make_tensor
from interpreter.sam.execute import GraphRun  # noqa: F401  (registers the rules)
from interpreter.sam.fibertree import Fibertree
from interpreter.sam.rules import RULES, Context, Result
from interpreter.sam.streams import DONE_TOKEN, EMPTY_TOKEN, R_TOKEN, Stop, Tokens, make_stream

S0, S1, S2, S3 = (Stop(k) for k in range(4))
N, D, R = EMPTY_TOKEN, DONE_TOKEN, R_TOKEN


def crd(*tokens) -> Tokens:
    return make_stream(list(tokens))


def val(*tokens) -> Tokens:
    return make_stream(list(tokens), floats=True)


def tensor(name: str, array, fmt, mode_order=None, block: int = 1) -> Fibertree:
    a = np.asarray(array, dtype=np.float64)
    decl = make_tensor(name, "input", list(a.shape), fmt, mode_order, block)
    return Fibertree.from_dense(a, decl, {})


def run(op: str, attrs: dict, *streams: Tokens, tensors: tuple[Fibertree, ...] = ()) -> Result:
    ctx = Context({t.decl.name: t for t in tensors}, {t.decl.name: t.decl for t in tensors})
    return RULES[op](Node(0, op, (), attrs), list(streams), ctx)


def toks(result: Result, port: int = 0) -> list:
    """Output tokens of one port, numbers as Python ints or floats."""
    return result.outputs[port].tokens()
