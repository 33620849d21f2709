"""What each primitive is counted for, apart from what it computes and when.

A rule (`interpreter.sam.rules`) says what a primitive emits; its cost (`costs`) how long a
step takes; its count rule, here, what the step moves and computes: FLOPs, the seg/crd/val
words it reads from a tensor's storage (`words`, the memory words the HBM model charges,
which for a locate also covers the seg words of its Empty references, and for a writer its
writes), and `tokens`, the most tokens it emits on one output (a sink: takes on its input;
an intersect: also takes on a crd input, one per step).

A primitive emits at most one token per output per step, so `tokens` bounds its steps
from below; with the lane factors and the target's full lanes that gives the compute
part of the roofline floor, and `words` over the HBM channels its memory part. Neither
looks at a step plan or a time: the floor holds whatever the timing pass computes.
Count rules read the streams of the functional pass after it ran, only when simulating.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from dsl.core.spec import COUNT
from dsl.sam.formats import COMPRESSED
from dsl.sam.ir import READS, Graph, Node, TensorDecl
from dsl.sam.primitives import SAM
from interpreter.sam.costs import Cost
from interpreter.sam.cycles import HbmModel
from interpreter.sam.execute import GraphRun
from interpreter.sam.resources import lane_factors
from interpreter.sam.rules import block_size
from interpreter.sam.streams import DATA, EMPTY, Tokens

READ_COUNTERS = ("seg_reads", "crd_reads", "val_reads")
WRITE_COUNTERS = ("seg_writes", "crd_writes", "val_writes")
COUNTERS = (
    "flops",
    *READ_COUNTERS,
    *WRITE_COUNTERS,
    "intermediate_reads",
    "intermediate_writes",
)
"""The program-wide counters a simulation reports (and `memory_words`, the six in the
middle summed)."""

CountRule = Callable[[Node, list[Tokens], list[Tokens], Mapping[str, TensorDecl]], dict[str, int]]
COUNTS: dict[str, CountRule] = {}
SAM.attach(COUNT, COUNTS)


def count(*names: str) -> Callable[[CountRule], CountRule]:
    def register(fn: CountRule) -> CountRule:
        for name in names:
            COUNTS[name] = fn
        return fn

    return register


def _tokens(ins: list[Tokens], outs: list[Tokens]) -> int:
    streams = outs or ins
    return max((len(s.ctl) for s in streams), default=0)


def _n(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def _items(ctl: np.ndarray) -> np.ndarray:
    return (ctl == DATA) | (ctl == EMPTY)


def _compressed(node: Node, decls: Mapping[str, TensorDecl]) -> bool:
    return decls[node.attrs["tensor"]].levels[node.attrs["level"]] == COMPRESSED


@count(
    "root", "repeat_signal", "repeat", "union", "crd_drop", "crd_hold", "val_drop",
    "stkn_drop", "broadcast", "fork", "join", "empty_stkn_drop", "split", "flatten", "bv",
    "bv_chunk", "crdpt_convert", "crdpt_accumulate", "bv_drop", "intersect_bv",
)  # fmt: skip
def moves_tokens(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """Moves tokens between streams: no memory, no arithmetic."""
    return {"tokens": _tokens(ins, outs)}


@count("intersect")
def intersect(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """Steps once per distinct coordinate of any input, so at least once per token of each
    crd input (its refs may lose dropped phantoms alongside, so they bound nothing)."""
    return {"tokens": max(len(s.ctl) for s in [*ins[::2], *outs])}


@count("scan")
def scan(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """A compressed level: two seg words per fiber opened (a data reference), one crd word
    per coordinate emitted. A dense level computes its coordinates: no reads."""
    counts = {"tokens": _tokens(ins, outs)}
    if _compressed(node, decls):
        counts["seg_reads"] = 2 * _n(ins[0].ctl == DATA)
        counts["crd_reads"] = _n(outs[0].ctl == DATA)
        counts["words"] = counts["seg_reads"] + counts["crd_reads"]
    return counts


@count("scan_bv")
def scan_bv(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """Like `scan`, the coordinates read being the bits set in the masks it emits."""
    counts = {"tokens": _tokens(ins, outs)}
    if _compressed(node, decls):
        masks = outs[0].val[outs[0].ctl == DATA]
        counts["seg_reads"] = 2 * _n(ins[0].ctl == DATA)
        counts["crd_reads"] = int(np.bitwise_count(masks).sum())
    return counts


@count("locate")
def locate(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """A compressed level: two seg words per fiber looked into, one crd word per coordinate
    looked up. The memory model also moves the seg words of an Empty reference's fiber."""
    counts = {"tokens": _tokens(ins, outs)}
    if _compressed(node, decls):
        crd, ref = ins
        looked_up = _n(crd.ctl == DATA)
        counts["seg_reads"] = 2 * _n(ref.ctl == DATA)
        counts["crd_reads"] = looked_up
        counts["words"] = 2 * _n(_items(ref.ctl)) + looked_up
    return counts


@count("load")
def load(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """One value (b² words in block mode) per data reference."""
    b = decls[node.attrs["tensor"]].block
    words = _n(ins[0].ctl == DATA) * b * b
    return {"tokens": _tokens(ins, outs), "val_reads": words, "words": words}


@count("alu")
def alu(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """One operation per value (b² per block; a block matmul 2b³)."""
    b = block_size(outs[0].val)
    per_value = 2 * b**3 if node.attrs["op"].startswith("matmul") and b > 1 else b * b
    return {"tokens": _tokens(ins, outs), "flops": _n(outs[0].ctl == DATA) * per_value}


@count("reduce")
def reduce(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """One operation per value taken (b² per block)."""
    b = block_size(ins[0].val)
    return {"tokens": _tokens(ins, outs), "flops": _n(_items(ins[0].ctl)) * b * b}


@count("spacc")
def spacc(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """One accumulation per coordinate taken (b² per block): the value stream's phantoms,
    values that stand for no coordinate, are dropped, not accumulated."""
    b = block_size(ins[-1].val)
    return {"tokens": _tokens(ins, outs), "flops": _n(_items(ins[-2].ctl)) * b * b}


@count("write_level", "write_vals")
def writer(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """The words the memory model moves: a value (b² words) per value token, a crd word
    per coordinate and a seg word per fiber of a compressed level. The writes the tensor
    keeps (phantoms dropped) are counted when the tensor is assembled."""
    s = ins[0]
    decl = decls[node.attrs["tensor"]]
    items = _items(s.ctl)
    if node.op == "write_vals":
        words = _n(items) * decl.block**2
    elif decl.levels[node.attrs["level"]] == COMPRESSED:
        words = _n(items | (s.ctl >= 0))
    else:
        words = 0
    return {"tokens": len(s.ctl), "words": words}


def counts_of(
    node: Node, ins: list[Tokens], outs: list[Tokens], decls: Mapping[str, TensorDecl]
) -> dict[str, int]:
    """What `node` moved and computed; reads of an intermediate tensor are also counted
    as `intermediate_reads`."""
    counts = COUNTS[node.op](node, ins, outs, decls)
    tensor = node.attrs.get("tensor")
    if tensor and node.op in READS and decls[tensor].role == "intermediate":
        counts["intermediate_reads"] = sum(counts.get(k, 0) for k in READ_COUNTERS)
    return counts


@dataclass
class GraphCounts:
    """One graph's counts: per node (by id) and summed over the graph and its writes."""

    nodes: dict[int, dict[str, int]]
    total: dict[str, int]


def count_graph(run: GraphRun, decls: Mapping[str, TensorDecl]) -> GraphCounts:
    """Count every node of a run graph from its streams, plus the writes of the tensors the
    graph assembled."""
    nodes = {
        n.id: counts_of(n, run.inputs[n.id], run.results[n.id].outputs, decls)
        for n in run.graph.nodes
    }
    total = dict.fromkeys(COUNTERS, 0)
    for counts in nodes.values():
        for key in COUNTERS:
            total[key] += counts.get(key, 0)
    for name, writes in run.written.items():
        for key, value in writes.items():
            total[key] += value
        if decls[name].role == "intermediate":
            total["intermediate_writes"] += sum(writes.values())
    return GraphCounts(nodes, total)


def graph_floor(
    graph: Graph,
    counts: GraphCounts,
    costs: Mapping[int, Cost],
    full_lanes: float,
    hbm: HbmModel | None,
) -> float:
    """Cycles the graph needs at the chip's full budget: the busiest primitive's tokens,
    one per II, with all its lane copies' work spread over every lane of the chip (the
    program's own parallel factor cannot lower it), and, with a memory model, its words
    over the shared channels."""
    factors = lane_factors(graph)
    floor = 0.0
    for node in graph.nodes:
        tokens = counts.nodes[node.id]["tokens"]
        serial = (tokens - 1) * costs[node.id].ii + 1 if tokens else 0
        floor = max(floor, serial * factors[node.id] / full_lanes)
    if hbm is not None:
        words = sum(c.get("words", 0) for c in counts.nodes.values())
        if words:
            floor = max(floor, hbm.startup + -(-words // hbm.channels) * hbm.ii)
    return floor
