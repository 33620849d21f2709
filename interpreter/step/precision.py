"""Precision is what it says: a tile typed bfloat16 or float16 holds values of that type.

The interpreter computes in float32 (numpy has no bfloat16), so every value a compute op
emits with a half-precision type is rounded to it on the way out: float16 through numpy's
IEEE conversion, bfloat16 round-to-nearest-even on the float32 bit pattern (what
`torch.Tensor.to(torch.bfloat16)` does). Both are kept in float32 arrays. Without this a
cast to bfloat16 would be charged 2 bytes per element while keeping 4 bytes of precision.
Accumulators (accum, scan) fold in float32, as a compute tile's accumulator does, and the
values they emit are rounded.
"""

from __future__ import annotations

import numpy as np

from dsl.step.types import ElemType, Tile, TupleT
from interpreter.step.streams import LazyTiles, StreamData

HALF_DTYPES = ("bfloat16", "float16")


def to_bfloat16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), as float32."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32)
    # add half an ulp of bfloat16 (less one, plus the lowest kept bit: ties go to even),
    # then drop the 16 low bits; a carry into the exponent is the correct rounding up
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))) & np.uint32(
        0xFFFF0000
    )
    return np.where(np.isnan(x), x, rounded.view(np.float32))


def to_float16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest float16 (overflow to inf), as float32."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


ROUND = {"bfloat16": to_bfloat16, "float16": to_float16}


def round_values(values: object, elem: ElemType) -> object:
    """`values` (a stream's value container) rounded to the precision of `elem`."""
    if isinstance(elem, TupleT):
        return tuple(round_values(v, e) for v, e in zip(values, elem.items, strict=True))
    if not (isinstance(elem, Tile) and elem.dtype in HALF_DTYPES):
        return values
    to = ROUND[elem.dtype]
    if isinstance(values, LazyTiles):
        values = values.materialize()
    if isinstance(values, np.ndarray):
        return to(values)
    return [to(v) for v in values]


def round_stream(s: StreamData, elem: ElemType) -> StreamData:
    """The stream with its values rounded to `elem`'s precision (the same object when
    nothing needs rounding)."""
    if not s.n_values or not has_half(elem):
        return s
    return StreamData(s.stop, s.has_value, round_values(s.values, elem))


def has_half(elem: ElemType) -> bool:
    """Whether values of `elem` (or of a part of it) are rounded (`round_stream`)."""
    if isinstance(elem, TupleT):
        return any(has_half(e) for e in elem.items)
    return isinstance(elem, Tile) and elem.dtype in HALF_DTYPES
