"""The walk state of the SAM lowering: the expression as a mutable tree of accesses,
constants, operators, sums and hoisted values, each remembering how far its walk has come.

`compiler_lower` owns the algorithm; this module only holds the state it mutates and small
pure helpers on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsl.sam.compiler_graph import Edge
from dsl.sam.compiler_order import Level
from dsl.sam.index_notation import BinOp


@dataclass(eq=False)
class Leaf:
    """One access of a stored tensor and where its walk stands."""

    tensor: str
    vars: tuple[str, ...]  # index variables by storage level
    levels: tuple[Level, ...]
    ref: Edge
    depth: int = 0  # storage levels scanned so far
    maybe_empty: bool = False  # the ref may be Empty (it came out of a union)

    @property
    def next_var(self) -> str | None:
        return self.vars[self.depth] if self.depth < len(self.vars) else None


@dataclass(eq=False)
class Const:
    value: float


@dataclass(eq=False)
class Bin:
    op: BinOp
    a: Node
    b: Node
    free: frozenset[str]


@dataclass(eq=False)
class Call:
    func: str
    a: Node
    free: frozenset[str]


@dataclass(eq=False)
class Sum:
    var: str
    child: Node
    free: frozenset[str]
    done: bool = False
    val: Edge | None = None  # once done: values, aligned with the enclosing walk
    crds: list[Edge] = field(default_factory=list)  # a sparse accumulator's coordinates
    pending: list[str] = field(default_factory=list)  # ... of these later variables
    op: str = "add"  # the `reduce` op: add, or max/min over the stored coordinates


@dataclass(eq=False)
class Value:
    """A finished subexpression hoisted out of an inner loop: its values, computed once per
    coordinate of the variables it has, then repeated like a reference would be."""

    val: Edge
    free: frozenset[str]
    orient: tuple[str, ...] | None


Node = Leaf | Const | Bin | Call | Sum | Value


def free(node: Node) -> frozenset[str]:
    if isinstance(node, Leaf):
        return frozenset(node.vars)
    if isinstance(node, Const):
        return frozenset()
    return node.free


@dataclass
class Merge:
    """The merged coordinates of a subtree at one variable and each member's payload."""

    crd: Edge
    payloads: list[tuple[Leaf | Sum, Edge]] = field(default_factory=list)
    full: bool = False  # every coordinate of the dimension comes out
    dense_leaf: Leaf | None = None  # a plain scan of this dense level (locate instead)


def chain(node: Bin, product: bool) -> list[Node]:
    """Operands of a chain of products (or of sums) under `node`, flattened, so one n-ary
    joiner serves the whole chain."""
    ops = (BinOp.MUL, BinOp.DIV) if product else (BinOp.ADD, BinOp.SUB)
    if node.op not in ops:
        return [node]
    out: list[Node] = []
    for x in (node.a, node.b):
        out += chain(x, product) if isinstance(x, Bin) else [x]
    return out


def fold(op: BinOp, a: float, b: float) -> float:
    return {BinOp.ADD: a + b, BinOp.SUB: a - b, BinOp.MUL: a * b, BinOp.DIV: a / b}[op]
