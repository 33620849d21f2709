"""What every STeP op rule shares: the registry, the rule environment, type checks.

The STeP ops are declared on `STEP` (a `dsl.core.spec.Registry`) in four modules by
concern: `ops_memory` (off-chip and on-chip memory), `ops_routing` (dynamic routing),
`ops_compute` (higher-order ops applying library functions) and `ops_shape` (ops that
rewrite stop tokens only). `dsl.step.ops` gathers them.

Stream dims are indexed from the innermost: dim 0 is `shape[-1]`, dim r is `shape[0]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsl.core.errors import RuleError
from dsl.core.spec import REQUIRED, OpSpec, Registry
from dsl.step.symbolic import DYNAMIC, RAGGED, Expr, shape_str
from dsl.step.types import INT_DTYPES, ElemType, Selector, StreamType, Tile, TupleT

STEP = Registry("step", "step/REFERENCE.md", "**`{name}(")
op = STEP.op
"""Declare a STeP op: `@op(name, inputs, outputs, doc, flags=(...), **attrs)` on its rule.

inputs: "" (none), "x", "x?" (optional), "x,y", "x*" (one or more), "x*,sel"; outputs:
"one", "none", "many"; each attribute is (kind, default or REQUIRED_ATTR), kinds "int",
"pos_int", "nat", "bool", "float", "str", "tensor", "tile", "dim", "shape", "fn:<kind>".
The rule takes (input stream types, attributes, RuleEnv) and returns the output types."""

REQUIRED_ATTR = REQUIRED
OpDecl = OpSpec
__all__ = ["REQUIRED_ATTR", "STEP", "OpDecl", "RuleEnv", "RuleError", "TensorDecl", "op"]


@dataclass(frozen=True)
class TensorDecl:
    """An off-chip tensor of the task: an input the program loads or an output it stores."""

    name: str
    dtype: str
    shape: tuple[Expr, ...]
    role: str  # "input" | "output"


@dataclass
class RuleEnv:
    """What a rule may consult besides its inputs: the task's tensors and fresh symbols."""

    tensors: dict[str, TensorDecl]
    node_id: int
    _counter: int = 0

    @property
    def made_fresh(self) -> bool:
        """Whether the rule made a fresh symbol (the builder notes new symbols from it)."""
        return self._counter > 0

    def fresh(self, kind: str = DYNAMIC) -> Expr:
        """A new symbol named after the node, so `load_ir` re-derives the same names."""
        self._counter += 1
        prefix = "r" if kind == RAGGED else "n"
        return Expr.sym(f"{prefix}{self.node_id}_{self._counter}", kind)


def same_shape(a: tuple[Expr, ...], b: tuple[Expr, ...]) -> bool:
    """Dim by dim equality. As tuples: compared in C, which skips `Expr.__eq__` for the
    dims that are the same object (most of them: shapes pass from op to op)."""
    return len(a) == len(b) and tuple(a) == tuple(b)


def prod(dims: tuple[Expr, ...] | list[Expr]) -> Expr:
    out = Expr.const(1)
    for d in dims:
        out = out * d
    return out


def absorb(d: Expr, env: RuleEnv) -> Expr:
    return env.fresh(RAGGED) if d.is_ragged else d


def task_tensor(attrs: dict, env: RuleEnv, role: str) -> TensorDecl:
    t = env.tensors.get(attrs["tensor"])
    if t is None:
        known = ", ".join(n for n, d in env.tensors.items() if d.role == role)
        raise RuleError(f"no task {role} named {attrs['tensor']!r} (task {role}s: {known})")
    if t.role != role:
        raise RuleError(f"{t.name!r} is a task {t.role}, not an {role}")
    return t


def tile_grid(shape: tuple[Expr, ...], tile: tuple[int, int]) -> tuple[Expr, ...]:
    """Tile-grid shape of a tensor: leading dims as they are, the last two divided by the
    tile (rounded up; edge tiles are zero-padded). A 1-D tensor is viewed as [1, n]."""
    if len(shape) == 1:
        shape = (Expr.const(1),) + shape
    return shape[:-2] + (shape[-2].cdiv(tile[0]), shape[-1].cdiv(tile[1]))


def affine(attrs: dict, default_shape: tuple[Expr, ...], what: str) -> tuple[Expr, ...]:
    shape = attrs["shape"] if attrs["shape"] is not None else default_shape
    if attrs["stride"] is not None and len(attrs["stride"]) != len(shape):
        raise RuleError(
            f"stride has {len(attrs['stride'])} entries but {what} shape "
            f"{shape_str(shape)} has {len(shape)}"
        )
    if any(d.is_ragged for d in shape):
        raise RuleError(f"{what} shape {shape_str(shape)} cannot be ragged")
    return shape


def need_tile(t: StreamType, port: str, static: bool = False) -> Tile:
    if not isinstance(t.elem, Tile):
        raise RuleError(f"needs a stream of tiles, got {t}", port)
    if static and not t.elem.is_static:
        raise RuleError(f"needs static tiles, got {t.elem}", port)
    return t.elem


def need_index(t: StreamType, port: str) -> None:
    e = t.elem
    if not (isinstance(e, Tile) and e.dtype in INT_DTYPES and e.rows == 1 and e.cols == 1):
        raise RuleError(
            f"needs a stream of [1, 1] integer tiles (tile-grid indices), got {t}", port
        )


def need_selector(t: StreamType, n: int, port: str) -> None:
    if not isinstance(t.elem, Selector) or t.elem.n != n:
        raise RuleError(f"needs a stream of Selector[{n}], got {t}", port)


def check_rank(r: int, lo: int, hi: int, what: str, t: StreamType, port: str = "x") -> None:
    if not lo <= r <= hi:
        raise RuleError(f"{what}={r} out of range {lo}..{hi} for {t} (rank {t.rank})", port)


def fn_args(ins: list[StreamType], port: str = "x") -> tuple[ElemType, ...]:
    for i, x in enumerate(ins[1:], start=1):
        if not same_shape(x.shape, ins[0].shape):
            raise RuleError(
                f"shape {shape_str(x.shape)} differs from input 0's {shape_str(ins[0].shape)}",
                f"{port}{i}",
            )
    if len(ins) == 1 and isinstance(ins[0].elem, TupleT):
        return ins[0].elem.items
    return tuple(x.elem for x in ins)
