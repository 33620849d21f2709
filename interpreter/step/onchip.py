"""On-chip memory of a STeP program, counted the way the STeP paper counts it.

Which buffers. The paper's evaluation (its artifact's `on_chip_requirement`, the mode every
dynamic-tiling and time-multiplexing figure uses) gives each op the buffers it holds: an
off-chip load or store one tile (the staging buffer the HBM fills or drains); bufferize the
tile in flight plus its buffer twice (one filling, one being read); accum and scan their
accumulator; repeat and expand the element they repeat. A matmul reads its operands where
their producers keep them, so it holds none of its own (the paper's 16-row formula is the
FIFO-counting mode, not what its figures use). We add one thing the paper leaves out: an op
that computes a tile (map, flat_map) or reads one out of a buffer (streamify) holds the tile
it writes. Without it a chain of maps could build tiles of any size for free (an outer
product reduced by a row sum never touches a counted buffer); with it every tile a program
makes is counted once, where it is made. Routing and shape ops move tiles that exist
already and hold nothing.

Which lifetimes. The paper compares statically tiled programs (what Revet can express: the
dataflow graph and its buffers are fixed when it is mapped to the chip) with dynamically
tiled ones, whose tile sizes come from the data:
- a buffer whose size the program's types fix is *reserved* when the graph is mapped, for the
  whole run, whether or not its op ever runs — one region per expert keeps its weight and
  token buffers even for an expert no token chose, at the padded tile size it declares;
- a buffer whose size depends on data (a tile or buffer type with a dynamic dimension) can
  only be allocated when the data is there, and so can every buffer of an op such a tile
  reaches (the paper allocates a dynamically tiled region's buffers "on demand"): those
  count at the largest element the op actually builds, and nothing when the op never runs.
Buffers are never freed during a run: the requirement is the sum over ops, so no schedule,
order or timing can make two buffers share bytes, and a program cannot hide one.
"""

from __future__ import annotations

import math

import numpy as np

from dsl.step.ir import Node, Program
from dsl.step.types import Buffer, ElemType, Selector, StreamType, Tile, TupleT, elem_bytes
from interpreter.step.costs import CostEnv, item_sizes

LOADS = ("linear_offchip_load", "random_offchip_load")
STORES = ("linear_offchip_store", "random_offchip_store")
MAKERS = ("map", "flat_map", "streamify", "accum", "scan", "repeat", "expand")
"""Ops that hold the largest element they emit: the tile a compute op writes, an
accumulator, the element a repeat or expand re-emits, the tile streamify reads out."""


def held_bytes(env: CostEnv) -> float:
    """Bytes one op holds at the largest element it actually built (0 if it never ran)."""
    op = env.node.op
    if op in LOADS or op in MAKERS:
        return _largest(item_sizes(env.outs[0], env.node.outputs[0].elem))
    if op in STORES:
        return _largest(item_sizes(env.ins[0], env.in_types[0].elem))
    if op == "bufferize":
        x = env.ins[0]
        size = item_sizes(x, env.in_types[0].elem)
        ends = np.flatnonzero(x.stop >= env.node.attrs["rank"])
        starts = np.concatenate([[0], ends[:-1] + 1])
        buffers = np.add.reduceat(size, starts) if len(ends) else np.zeros(0)
        return _largest(size) + 2 * _largest(buffers)
    return 0.0


def declared_bytes(node: Node, in_types: list[StreamType]) -> float | None:
    """What `held_bytes` gives at the sizes the program's types declare, or None when a
    size depends on data (a dynamic tile or buffer dimension)."""
    if node.op in LOADS or node.op in MAKERS:
        return type_bytes(node.outputs[0].elem)
    if node.op in STORES:
        return type_bytes(in_types[0].elem)
    if node.op == "bufferize":
        tile, buffer = type_bytes(in_types[0].elem), type_bytes(node.outputs[0].elem)
        return None if tile is None or buffer is None else tile + 2 * buffer
    return 0.0


def type_bytes(elem: ElemType) -> float | None:
    """Bytes of one element as its type declares it (a buffer: the tiles it holds, not the
    reference), or None when a dimension is dynamic."""
    if isinstance(elem, Buffer):
        inner = type_bytes(elem.elem)
        if inner is None or not all(d.is_static for d in elem.shape):
            return None
        return inner * math.prod(d.value for d in elem.shape)
    if isinstance(elem, TupleT):
        parts = [type_bytes(e) for e in elem.items]
        return None if any(p is None for p in parts) else float(sum(parts))
    if isinstance(elem, Tile) and not elem.is_static:
        return None
    size = elem_bytes(elem) if isinstance(elem, Tile | Selector) else None
    return None if size is None else float(size)


def on_demand(program: Program) -> set[int]:
    """Ids of the ops whose buffers are allocated on demand: every op a dynamically sized
    element reaches (the op that makes it included), following data edges."""
    consumers: dict[int, list[int]] = {n.id: [] for n in program.nodes}
    for node in program.nodes:
        for port in node.inputs:
            consumers[port.node].append(node.id)
    todo = [n.id for n in program.nodes if any(type_bytes(t.elem) is None for t in n.outputs)]
    seen = set(todo)
    while todo:
        for nxt in consumers[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def requirement(program: Program, held: list[float]) -> list[float]:
    """Each op's share of the on-chip requirement: reserved ops at their declared size (at
    least what they built), on-demand ops at what they built."""
    dynamic = on_demand(program)
    out = []
    for node, built in zip(program.nodes, held, strict=True):
        declared = None
        if node.id not in dynamic:
            declared = declared_bytes(
                node, [program.node(p.node).outputs[p.index] for p in node.inputs]
            )
        out.append(built if declared is None else max(built, declared))
    return out


def _largest(sizes: np.ndarray) -> float:
    return float(sizes.max()) if len(sizes) else 0.0
