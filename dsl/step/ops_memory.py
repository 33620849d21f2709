"""STeP memory ops: off-chip loads and stores (through the HBM model) and on-chip buffers."""

from __future__ import annotations

from dsl.core.spec import VALUE_TIMED
from dsl.step.ops_common import (
    REQUIRED_ATTR,
    RuleEnv,
    RuleError,
    affine,
    check_rank,
    need_index,
    need_tile,
    op,
    prod,
    same_shape,
    task_tensor,
    tile_grid,
)
from dsl.step.symbolic import Expr, shape_str
from dsl.step.types import Buffer, StreamType, Tile


# --- off-chip memory -----------------------------------------------------------------------
@op(
    "linear_offchip_load",
    "ref?",
    "one",
    "For each element of `ref` (or once, without ref) read tiles of `tensor` at "
    "base + sum(i_k * stride_k) over the index space `shape` (tile-grid units, row-major "
    "grid order). Output shape: ref.shape + shape.",
    tensor=("tensor", REQUIRED_ATTR),
    tile=("tile", REQUIRED_ATTR),
    shape=("shape", None),
    stride=("shape", None),
    base=("dim", 0),
)
def _linear_load(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = task_tensor(attrs, env, "input")
    grid = tile_grid(t.shape, attrs["tile"])
    shape = affine(attrs, grid, "read")
    if (
        attrs["stride"] is None
        and attrs["shape"] is not None
        and not (all(d.is_static for d in shape + grid) or prod(shape) == prod(grid))
    ):
        raise RuleError(
            f"shape {shape_str(shape)} reads {prod(shape)} tiles but "
            f"{t.name!r} has tile grid {shape_str(grid)}; give stride= as well"
        )
    outer = ins[0].shape if ins else ()
    return [
        StreamType(
            Tile(t.dtype, Expr.const(attrs["tile"][0]), Expr.const(attrs["tile"][1])), outer + shape
        )
    ]


@op(
    "linear_offchip_store",
    "x",
    "none",
    "Write every tile of x to `tensor`, the k-th tile at grid index base + sum(i * stride) "
    "(default: x's shape walked row-major over the tile grid). Edge tiles are clipped.",
    tensor=("tensor", REQUIRED_ATTR),
    stride=("shape", None),
    base=("dim", 0),
)
def _linear_store(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = task_tensor(attrs, env, "output")
    elem = need_tile(ins[0], "x", static=True)
    if elem.dtype != t.dtype:
        raise RuleError(f"tile dtype {elem.dtype} differs from {t.name!r} ({t.dtype})", "x")
    grid = tile_grid(t.shape, (elem.rows.value, elem.cols.value))
    if attrs["stride"] is not None:
        if len(attrs["stride"]) != len(ins[0].shape):
            raise RuleError(
                f"stride has {len(attrs['stride'])} entries but x has shape "
                f"{shape_str(ins[0].shape)}",
                "x",
            )
    elif not (same_shape(ins[0].shape, grid) or prod(ins[0].shape) == prod(grid)):
        raise RuleError(
            f"x has shape {shape_str(ins[0].shape)} of {elem} but {t.name!r} "
            f"{shape_str(t.shape)} is a tile grid {shape_str(grid)}",
            "x",
        )
    return []


@op(
    "random_offchip_load",
    "addr",
    "one",
    "For each [1, 1] integer element of `addr` read the tile at that linear tile-grid "
    "index of `tensor`. Output shape: addr.shape.",
    tensor=("tensor", REQUIRED_ATTR),
    tile=("tile", REQUIRED_ATTR),
    flags=(VALUE_TIMED,),
)
def _random_load(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = task_tensor(attrs, env, "input")
    need_index(ins[0], "addr")
    rows, cols = attrs["tile"]
    return [StreamType(Tile(t.dtype, Expr.const(rows), Expr.const(cols)), ins[0].shape)]


@op(
    "random_offchip_store",
    "x,addr",
    "none",
    "Write each tile of x to the linear tile-grid index given by the matching addr element.",
    tensor=("tensor", REQUIRED_ATTR),
    flags=(VALUE_TIMED,),
)
def _random_store(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = task_tensor(attrs, env, "output")
    elem = need_tile(ins[0], "x", static=True)
    if elem.dtype != t.dtype:
        raise RuleError(f"tile dtype {elem.dtype} differs from {t.name!r} ({t.dtype})", "x")
    need_index(ins[1], "addr")
    if not same_shape(ins[0].shape, ins[1].shape):
        raise RuleError(
            f"x shape {shape_str(ins[0].shape)} differs from addr shape {shape_str(ins[1].shape)}",
            "addr",
        )
    return []


# --- on-chip memory ------------------------------------------------------------------------
@op(
    "bufferize",
    "x",
    "one",
    "Store the inner `rank` dims of x on chip; emit one buffer reference per stored block. "
    "Stream<T>[d_a..d_0] -> Stream<Buffer<T>[d_(rank-1)..d_0]>[d_a..d_rank].",
    rank=("pos_int", REQUIRED_ATTR),
)
def _bufferize(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, b = ins[0], attrs["rank"]
    check_rank(b, 1, x.rank, "rank", x)
    need_tile(x, "x")
    inner = x.shape[-b:]
    if any(d.is_ragged for d in inner[1:]):
        raise RuleError(
            f"only the outermost buffered dim may be ragged, got {shape_str(inner)}", "x"
        )
    return [StreamType(Buffer(x.elem, inner), x.shape[:-b])]


@op(
    "streamify",
    "buf",
    "one",
    "For each buffer reference emit the buffered tiles, walking `shape` with `stride` "
    "(default: the whole buffer in order). Output shape: buf.shape + shape.",
    shape=("shape", None),
    stride=("shape", None),
)
def _streamify(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    buf = ins[0].elem
    if not isinstance(buf, Buffer):
        raise RuleError(f"needs a stream of buffer references, got {ins[0]}", "buf")
    shape = attrs["shape"] if attrs["shape"] is not None else buf.shape
    if attrs["stride"] is not None and len(attrs["stride"]) != len(shape):
        raise RuleError(
            f"stride has {len(attrs['stride'])} entries but shape "
            f"{shape_str(shape)} has {len(shape)}"
        )
    if (
        attrs["shape"] is not None
        and attrs["stride"] is None
        and not (prod(shape) == prod(buf.shape))
    ):
        raise RuleError(
            f"shape {shape_str(shape)} does not cover buffer "
            f"{shape_str(buf.shape)}; give stride= for a partial or repeated read"
        )
    return [StreamType(buf.elem, ins[0].shape + tuple(shape))]
