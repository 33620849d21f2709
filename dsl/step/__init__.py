"""STeP (Streaming Tensor Programs): the builder surface agents write kernels in.

    from dsl import step

    def kernel(x, w, tile=64):
        ...
        return step.linear_offchip_store(y, "y")

See `dsl/step/REFERENCE.md` for every op. This package only builds and checks IR; the
semantics and the cycle simulator live in `interpreter/step`.
"""

from __future__ import annotations

from dsl.core.params import tunable
from dsl.step.builder import (
    Store,
    Stream,
    Tensor,
    accum,
    assume_shape,
    bufferize,
    copy,
    dispatch,
    eager_merge,
    expand,
    flat_map,
    flatten,
    free_signal,
    linear_offchip_load,
    linear_offchip_store,
    map,
    partition,
    promote,
    random_offchip_load,
    random_offchip_store,
    reassemble,
    repeat,
    reshape,
    scan,
    sink,
    streamify,
    zip,
)
from dsl.step.functions import FnRef, fn
from dsl.step.ir import Program
from dsl.step.symbolic import Expr
from dsl.step.trace import build, trace
from dsl.step.types import Buffer, Selector, StreamType, Tile, TupleT
from dsl.step.validate import load_ir


def cdiv(a: int | Expr, b: int | Expr) -> Expr:
    """Ceiling division of dims (e.g. the number of 64-row tiles of M: cdiv(M, 64))."""
    return Expr.of(a).cdiv(b)


__all__ = [
    "Buffer",
    "Expr",
    "FnRef",
    "Program",
    "Selector",
    "Store",
    "Stream",
    "StreamType",
    "Tensor",
    "Tile",
    "TupleT",
    "accum",
    "assume_shape",
    "bufferize",
    "build",
    "cdiv",
    "copy",
    "dispatch",
    "eager_merge",
    "expand",
    "flat_map",
    "flatten",
    "fn",
    "free_signal",
    "linear_offchip_load",
    "linear_offchip_store",
    "load_ir",
    "map",
    "partition",
    "promote",
    "random_offchip_load",
    "random_offchip_store",
    "reassemble",
    "repeat",
    "reshape",
    "scan",
    "sink",
    "streamify",
    "trace",
    "tunable",
    "zip",
]
