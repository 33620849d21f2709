"""Timing rules of every STeP op, registered by op name: what one op *does per cycle*.

A rule turns the streams of one node (from the functional pass) into a `Plan`: the node's
sequence of events, each with a cost in cycles, which input items it consumes and which
output items it produces. The simulator (`sim.py`) then finds when every event happens.
Every event costs at least one cycle (an op handles at most one element per cycle); a
compute op's element costs max(bytes in / (64 B * c), FLOPs / (512 * c), bytes out /
(64 B * c)) cycles with c = its `compute` (numbers from the target file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dsl.step.ir import Node
from dsl.step.types import DTYPE_BYTES, Buffer, ElemType, Selector, StreamType, Tile, TupleT
from interpreter.step.functions import IMPLS
from interpreter.step.streams import StreamData, tile_shapes

ISSUE, BW_IN, COMPUTE, BW_OUT = 0, 1, 2, 3
BOUND_NAMES = {
    ISSUE: "one element per cycle",
    BW_IN: "on-chip bandwidth (reading)",
    COMPUTE: "compute",
    BW_OUT: "on-chip bandwidth (writing)",
}


@dataclass
class Plan:
    cost: np.ndarray  # float64 [n_events]
    cons: list[np.ndarray]  # per input port: consuming event of each item
    prod: list[np.ndarray]  # per output port: producing event of each item
    requests: np.ndarray | None = None  # HBM bytes per event (off-chip ops)
    bound: np.ndarray | None = None  # per event: which term set its cost
    flops: float = 0.0
    onchip_bytes: float = 0.0
    is_load: bool = False
    # compute ops: the least compute= at which no element costs more than one cycle
    # (more units than this cannot speed the op up)
    useful_units: int = 0


@dataclass
class TimingEnv:
    node: Node
    ins: list[StreamData]
    outs: list[StreamData]
    in_types: list[StreamType]
    target: dict
    extra: dict = field(default_factory=dict)

    @property
    def bw(self) -> float:
        """On-chip bytes per cycle available to this op (one port per compute unit)."""
        return float(self.target["onchip_bw"]) * self.units

    @property
    def rate(self) -> float:
        return float(self.target["flops_per_unit"]) * self.units

    @property
    def units(self) -> int:
        return int(self.node.attrs.get("compute", 1))


TIMING: dict[str, Callable[[TimingEnv], Plan]] = {}


def timing(*names: str) -> Callable:
    def register(rule: Callable[[TimingEnv], Plan]) -> Callable:
        for n in names:
            TIMING[n] = rule
        return rule

    return register


# --- sizes -------------------------------------------------------------------------------------
def value_sizes(values: object, elem: ElemType) -> np.ndarray:
    """Bytes of every value (tiles by their actual shape; dtype size from the type)."""
    if isinstance(elem, TupleT):
        parts = [value_sizes(v, e) for v, e in zip(values, elem.items, strict=True)]
        return np.sum(parts, axis=0) if parts else np.zeros(0)
    n = len(values)
    if isinstance(elem, Tile):
        shapes = tile_shapes(values)
        return (shapes[:, 0] * shapes[:, 1] * DTYPE_BYTES[elem.dtype]).astype(np.float64)
    if isinstance(elem, Selector):
        return np.full(n, float(max(1, -(-elem.n // 8))))
    if isinstance(elem, Buffer):
        return np.full(n, 8.0)
    return np.zeros(n)


def item_sizes(s: StreamData, elem: ElemType) -> np.ndarray:
    """Bytes of every item (0 for bare stops)."""
    out = np.zeros(s.n_items)
    out[s.has_value] = value_sizes(s.values, elem)
    return out


def arg_shapes(values: object, elem: ElemType) -> list[np.ndarray]:
    if isinstance(elem, TupleT):
        return [tile_shapes(v) for v in values]
    return [tile_shapes(values)]


def parents(stop: np.ndarray, shift: int) -> np.ndarray:
    """Index of the parent item of every item of a nested stream (see streams.nest)."""
    if len(stop) == 0:
        return np.zeros(0, dtype=np.int64)
    closes = (stop >= shift).astype(np.int64)
    return np.concatenate([[0], np.cumsum(closes)[:-1]])


def first_of(parent: np.ndarray, n_parents: int) -> np.ndarray:
    """For each parent, the first child position (children are in parent order)."""
    return np.searchsorted(parent, np.arange(n_parents))


def _ones(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.float64)


def _roofline(
    env: TimingEnv,
    n_items: int,
    has_value: np.ndarray,
    bytes_in: np.ndarray,
    flops: np.ndarray,
    bytes_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-event cost and dominant term for a compute op (arrays over events), and the
    op's useful compute units (`Plan.useful_units`)."""
    port, unit = float(env.target["onchip_bw"]), float(env.target["flops_per_unit"])
    per_unit = np.stack([bytes_in / port, flops / unit, bytes_out / port])
    per_unit[:, ~has_value] = 0
    terms = np.vstack([np.ones((1, n_items)), np.ceil(per_unit / env.units)])
    useful = int(np.ceil(per_unit.max(initial=1.0)))
    return terms.max(axis=0), terms.argmax(axis=0), useful


def _in_bytes(env: TimingEnv) -> np.ndarray:
    total = np.zeros(env.ins[0].n_items)
    for s, t in zip(env.ins, env.in_types, strict=True):
        total += item_sizes(s, t.elem)
    return total


def _flops_per_value(env: TimingEnv, kind: str) -> np.ndarray:
    fref = env.node.attrs["fn"]
    if len(env.ins) == 1 and isinstance(env.in_types[0].elem, TupleT):
        shapes = arg_shapes(env.ins[0].values, env.in_types[0].elem)
    else:
        shapes = [
            tile_shapes(s.values)
            if isinstance(t.elem, Tile)
            else np.zeros((s.n_values, 2), np.int64)
            for s, t in zip(env.ins, env.in_types, strict=True)
        ]
    return np.asarray(IMPLS[f"{kind}:{fref.name}"].flops(shapes, dict(fref.args)), np.float64)


# --- off-chip memory -----------------------------------------------------------------------
@timing("linear_offchip_load", "random_offchip_load")
def _load(env: TimingEnv) -> Plan:
    out = env.outs[0]
    n = out.n_items
    req = item_sizes(out, env.node.outputs[0].elem)
    cons: list[np.ndarray] = []
    if env.ins and env.node.op == "linear_offchip_load":
        shift = len(env.node.outputs[0].shape) - len(env.in_types[0].shape)
        cons = [first_of(parents(out.stop, shift), env.ins[0].n_items)]
    elif env.ins:
        cons = [np.arange(n)]
    tile = float(req.max()) if n else 0.0
    return Plan(
        _ones(n),
        cons,
        [np.arange(n)],
        requests=req,
        bound=np.zeros(n, int),
        onchip_bytes=2 * tile,
        is_load=True,
    )


@timing("linear_offchip_store", "random_offchip_store")
def _store(env: TimingEnv) -> Plan:
    x = env.ins[0]
    n = x.n_items
    req = item_sizes(x, env.in_types[0].elem)
    tile = float(req.max()) if n else 0.0
    return Plan(
        _ones(n),
        [np.arange(n)] * len(env.ins),
        [],
        requests=req,
        bound=np.zeros(n, int),
        onchip_bytes=2 * tile,
    )


# --- on-chip memory ----------------------------------------------------------------------------
@timing("bufferize")
def _bufferize(env: TimingEnv) -> Plan:
    x = env.ins[0]
    b = env.node.attrs["rank"]
    size = item_sizes(x, env.in_types[0].elem)
    cost = np.maximum(1.0, np.ceil(size / float(env.target["onchip_bw"])))
    ends = np.flatnonzero(x.stop >= b)
    per_buffer = np.add.reduceat(size, np.concatenate([[0], ends[:-1] + 1])) if len(ends) else [0]
    mem = (float(size.max()) if len(size) else 0.0) + 2 * float(np.max(per_buffer))
    bound = np.where(cost > 1, BW_OUT, ISSUE)
    return Plan(cost, [np.arange(x.n_items)], [ends], bound=bound, onchip_bytes=mem)


@timing("streamify")
def _streamify(env: TimingEnv) -> Plan:
    out = env.outs[0]
    size = item_sizes(out, env.node.outputs[0].elem)
    cost = np.maximum(1.0, np.ceil(size / float(env.target["onchip_bw"])))
    shift = len(env.node.outputs[0].shape) - len(env.in_types[0].shape)
    cons = first_of(parents(out.stop, shift), env.ins[0].n_items)
    return Plan(cost, [cons], [np.arange(out.n_items)], bound=np.where(cost > 1, BW_IN, ISSUE))


# --- routing ---------------------------------------------------------------------------------
def _chunk_of_items(s: StreamData, b: int) -> np.ndarray:
    """Chunk index of every item (b = 0: every value item is a chunk; bare stops belong to
    the next chunk)."""
    if b == 0:
        return np.minimum(np.cumsum(s.has_value) - s.has_value, max(s.n_values - 1, 0))
    return parents(s.stop, b)


@timing("partition")
def _partition(env: TimingEnv) -> Plan:
    x, sel = env.ins
    b = env.node.attrs["rank"]
    n = x.n_items
    chosen = np.asarray(sel.values, dtype=bool).reshape(
        sel.n_values, env.node.attrs["num_consumers"]
    )
    if b == 0:  # sel and x have the same items
        sel_cons = np.arange(n)
        value_of_item = np.cumsum(x.has_value) - 1
        goes = np.zeros((n, chosen.shape[1]), dtype=bool)
        goes[x.has_value] = chosen
    else:  # one selector value per chunk; a bare selector stop rides with the next chunk
        chunk = parents(x.stop, b)
        first = first_of(chunk, sel.n_values)
        next_value = np.minimum(np.cumsum(sel.has_value) - sel.has_value, sel.n_values - 1)
        sel_cons = first[next_value] if sel.n_values else np.zeros(sel.n_items, np.int64)
        value_of_item = chunk
        goes = chosen[chunk] if n else np.zeros((0, chosen.shape[1]), bool)
    del value_of_item
    prod = [np.flatnonzero(goes[:, i]) for i in range(env.node.attrs["num_consumers"])]
    return Plan(
        _ones(n), [np.arange(n), np.minimum(sel_cons, max(n - 1, 0))], prod, bound=np.zeros(n, int)
    )


@timing("reassemble", "eager_merge")
def _merge(env: TimingEnv) -> Plan:
    """Events are output data items; the functional pass recorded where each came from
    (`extra`: source port and item per output item, -1 for a bare group stop)."""
    src_port, src_item = env.extra["src_port"], env.extra["src_item"]
    n = len(src_port)
    n_data = len(env.ins) - (1 if env.node.op == "reassemble" else 0)
    cons = []
    for i in range(n_data):
        events = np.flatnonzero(src_port == i)
        cons.append(events[np.argsort(src_item[events], kind="stable")])
    prod = [np.arange(n)]
    if env.node.op == "reassemble":
        cons.append(np.asarray(env.extra["sel_cons"], dtype=np.int64))
    else:
        prod.append(np.asarray(env.extra["chunk_first"], dtype=np.int64))
    return Plan(_ones(n), cons, prod, bound=np.zeros(n, int))


# --- higher-order ------------------------------------------------------------------------------
def _matmul_memory(env: TimingEnv, with_out: bool) -> float:
    """Paper: 16 x left-tile cols + right tile (+ output tile for accum), in bytes."""
    fref = env.node.attrs["fn"]
    if fref.name != "matmul":
        return 0.0
    elems = env.in_types[0].elem.items if len(env.ins) == 1 else [t.elem for t in env.in_types]
    vals = env.ins[0].values if len(env.ins) == 1 else [s.values for s in env.ins]
    a_shapes, b_shapes = tile_shapes(vals[0]), tile_shapes(vals[1])
    size = DTYPE_BYTES[elems[0].dtype]
    mem = (
        16 * float(a_shapes[:, 1].max(initial=0)) * size
        + float((b_shapes[:, 0] * b_shapes[:, 1]).max(initial=0)) * size
    )
    if with_out:
        out = env.outs[0]
        mem += float(item_sizes(out, env.node.outputs[0].elem).max(initial=0))
    return mem


@timing("map", "scan")
def _map(env: TimingEnv) -> Plan:
    x, out = env.ins[0], env.outs[0]
    n = x.n_items
    flops = np.zeros(n)
    flops[x.has_value] = _flops_per_value(env, env.node.op)
    bytes_out = item_sizes(out, env.node.outputs[0].elem)
    cost, bound, useful = _roofline(env, n, x.has_value, _in_bytes(env), flops, bytes_out)
    mem = _matmul_memory(env, False) if env.node.op == "map" else float(bytes_out.max(initial=0))
    return Plan(
        cost,
        [np.arange(n)] * len(env.ins),
        [np.arange(n)],
        bound=bound,
        flops=float(flops.sum()),
        onchip_bytes=mem,
        useful_units=useful,
    )


@timing("accum")
def _accum(env: TimingEnv) -> Plan:
    x, out = env.ins[0], env.outs[0]
    n = x.n_items
    b = env.node.attrs["rank"]
    flops = np.zeros(n)
    flops[x.has_value] = _flops_per_value(env, "accum")
    ends = np.flatnonzero(x.stop >= b)
    bytes_out = np.zeros(n)
    bytes_out[ends] = item_sizes(out, env.node.outputs[0].elem)
    cost, bound, useful = _roofline(
        env, n, x.has_value | (bytes_out > 0), _in_bytes(env), flops, bytes_out
    )
    mem = max(_matmul_memory(env, True), float(bytes_out.max(initial=0)))
    return Plan(
        cost,
        [np.arange(n)] * len(env.ins),
        [ends],
        bound=bound,
        flops=float(flops.sum()),
        onchip_bytes=mem,
        useful_units=useful,
    )


@timing("flat_map")
def _flat_map(env: TimingEnv) -> Plan:
    x, out = env.ins[0], env.outs[0]
    shift = len(env.node.outputs[0].shape) - len(env.in_types[0].shape)
    first = first_of(parents(out.stop, shift), x.n_items)
    flops = np.zeros(out.n_items)
    in_bytes = np.zeros(out.n_items)
    value_first = first[x.has_value]
    flops[value_first] = _flops_per_value(env, "flat_map")
    in_bytes[first] = _in_bytes(env)
    bytes_out = item_sizes(out, env.node.outputs[0].elem)
    cost, bound, useful = _roofline(
        env, out.n_items, out.has_value | (in_bytes > 0), in_bytes, flops, bytes_out
    )
    return Plan(
        cost,
        [first] * len(env.ins),
        [np.arange(out.n_items)],
        bound=bound,
        flops=float(flops.sum()),
        useful_units=useful,
    )


# --- shape ops and plumbing -------------------------------------------------------------------
@timing("reshape")
def _reshape(env: TimingEnv) -> Plan:
    """One element per cycle; with pad=True the inserted zero tiles take a cycle each."""
    if not env.node.attrs["pad"]:
        return _one_to_one(env)
    n = env.outs[0].n_items
    return Plan(_ones(n), [env.extra["src_event"]], [np.arange(n)] * 2, bound=np.zeros(n, int))


@timing("zip", "copy", "promote", "assume_shape")
def _one_to_one(env: TimingEnv) -> Plan:
    n = env.ins[0].n_items
    return Plan(
        _ones(n),
        [np.arange(n)] * len(env.ins),
        [np.arange(n)] * len(env.outs),
        bound=np.zeros(n, int),
    )


@timing("sink")
def _sink(env: TimingEnv) -> Plan:
    n = env.ins[0].n_items
    return Plan(_ones(n), [np.arange(n)], [], bound=np.zeros(n, int))


@timing("flatten")
def _flatten(env: TimingEnv) -> Plan:
    x = env.ins[0]
    s = x.stop.astype(np.int16)
    lo, hi = env.node.attrs["min_dim"], env.node.attrs["max_dim"]
    new = np.where(s <= lo, s, np.where(s <= hi, lo, s - (hi - lo)))
    keep = np.flatnonzero(x.has_value | (new > 0))
    return Plan(_ones(x.n_items), [np.arange(x.n_items)], [keep], bound=np.zeros(x.n_items, int))


@timing("expand")
def _expand(env: TimingEnv) -> Plan:
    x = env.ins[0]
    out = env.outs[0]
    n = out.n_items
    owner = env.extra["owner"]  # x value index of every output item
    x_value_items = np.flatnonzero(x.has_value)
    cons_x = np.full(x.n_items, max(n - 1, 0), dtype=np.int64)
    if n:
        cons_x[x_value_items] = np.minimum(first_of(owner, len(x_value_items)), n - 1)
    mem = float(item_sizes(out, env.node.outputs[0].elem).max(initial=0))
    return Plan(
        _ones(n), [cons_x, np.arange(n)], [np.arange(n)], bound=np.zeros(n, int), onchip_bytes=mem
    )


@timing("repeat")
def _repeat(env: TimingEnv) -> Plan:
    x, out = env.ins[0], env.outs[0]
    first = first_of(parents(out.stop, 1), x.n_items)
    mem = float(item_sizes(out, env.node.outputs[0].elem).max(initial=0))
    return Plan(
        _ones(out.n_items),
        [first],
        [np.arange(out.n_items)],
        bound=np.zeros(out.n_items, int),
        onchip_bytes=mem,
    )
