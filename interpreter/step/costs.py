"""Cost rules of every STeP op, registered by op name: what one op *does per cycle*.

A rule turns the streams of one node (from the functional pass) into `OpEvents`: the
node's sequence of events, each with a cost in cycles, which input items it consumes and
which output items it produces. `event_times.py` then finds when every event happens.
Every event costs at least one cycle (an op handles at most one element per cycle); a
compute op's element costs max(bytes in / (64 B * c), FLOPs / (512 * c), bytes out /
(64 B * c)) cycles with c = its `compute` (numbers from the target file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from dsl.core import spec
from dsl.step.ir import Node
from dsl.step.ops import OPS
from dsl.step.types import DTYPE_BYTES, Buffer, ElemType, Selector, StreamType, Tile, TupleT
from interpreter.core.targets import StepTarget
from interpreter.step.facts import (
    ExpandOwners,
    Fact,
    ItemSources,
    Merged,
    PaddedSlots,
    Reassembled,
)
from interpreter.step.functions import IMPLS
from interpreter.step.streams import StreamData, tile_shapes

F = TypeVar("F", bound=Fact)
ISSUE, BW_IN, COMPUTE, BW_OUT = 0, 1, 2, 3
BOUND_NAMES = {
    ISSUE: "one element per cycle",
    BW_IN: "on-chip bandwidth (reading)",
    COMPUTE: "compute",
    BW_OUT: "on-chip bandwidth (writing)",
}


@dataclass
class Feedback:
    """Tokens an op takes from a LATER op of the program (a dispatcher's free signals):
    event `emit[m]` of node `source` sends token m, which this op's event `take[m]` takes."""

    source: int
    emit: np.ndarray
    take: np.ndarray


@dataclass
class OpEvents:
    """One op's events in order (what it does, apart from when): each event's cost, the
    event consuming every input item and producing every output item, and what the op
    asks of the HBM and of the chip."""

    cost: np.ndarray  # float64 [n_events]
    cons: list[np.ndarray]  # per input port: consuming event of each item
    prod: list[np.ndarray]  # per output port: producing event of each item
    requests: np.ndarray | None = None  # HBM bytes per event (off-chip ops)
    bound: np.ndarray | None = None  # per event: which term set its cost
    flops: float = 0.0
    onchip_bytes: float = 0.0  # what the op holds on chip: set by `onchip.held_bytes`
    is_load: bool = False
    # compute ops: the least compute= at which no element costs more than one cycle
    # (more units than this cannot speed the op up)
    useful_units: int = 0
    feedback: Feedback | None = None  # a channel against program order (dispatch)


@dataclass
class CostEnv:
    """What a cost rule sees of one node: its streams, their types, the target, and the
    fact its semantics recorded (if any)."""

    node: Node
    ins: list[StreamData]
    outs: list[StreamData]
    in_types: list[StreamType]
    target: StepTarget
    known: Fact | None = None  # what the functional pass recorded for this node

    def fact(self, kind: type[F]) -> F:
        """The node's fact of `kind` from the functional pass (a bug if it is not there)."""
        if not isinstance(self.known, kind):
            raise AssertionError(f"{self.node.label()}: semantics recorded no {kind.__name__}")
        return self.known

    @property
    def bw(self) -> float:
        """On-chip bytes per cycle available to this op (one port per compute unit)."""
        return self.target.onchip_bw * self.units

    @property
    def rate(self) -> float:
        return self.target.flops_per_unit * self.units

    @property
    def units(self) -> int:
        return int(self.node.attrs.get("compute", 1))


COSTS: dict[str, Callable[[CostEnv], OpEvents]] = {}
OPS.attach(spec.COST, COSTS)  # the registry walk finds every op's cost rule here


def cost_rule(*names: str) -> Callable:
    def register(rule: Callable[[CostEnv], OpEvents]) -> Callable:
        for n in names:
            COSTS[n] = rule
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
        return _tile_bytes(tile_shapes(values), elem)
    if isinstance(elem, Selector):
        return np.full(n, float(max(1, -(-elem.n // 8))))
    if isinstance(elem, Buffer):
        return np.full(n, 8.0)
    return np.zeros(n)


def _tile_bytes(shapes: np.ndarray, elem: Tile) -> np.ndarray:
    return (shapes[:, 0] * shapes[:, 1] * DTYPE_BYTES[elem.dtype]).astype(np.float64)


def item_sizes(s: StreamData, elem: ElemType) -> np.ndarray:
    """Bytes of every item (0 for bare stops), read-only and computed once per stream and
    element type: the op that emits a stream, the ops that take it and the on-chip
    accounting all ask (some 18,000 times in a simulation of 2,400 ops)."""
    out = s.sizes.get(elem)
    if out is None:
        out = np.zeros(s.n_items)
        if isinstance(elem, Tile):  # the stream's tile shapes are computed once
            out[s.has_value] = _tile_bytes(s.value_shapes, elem)
        else:
            out[s.has_value] = value_sizes(s.values, elem)
        out.setflags(write=False)
        s.sizes[elem] = out
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
    env: CostEnv,
    n_items: int,
    has_value: np.ndarray,
    bytes_in: np.ndarray,
    flops: np.ndarray,
    bytes_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-event cost and dominant term for a compute op (arrays over events), and the
    op's useful compute units (`OpEvents.useful_units`)."""
    port, unit = env.target.onchip_bw, env.target.flops_per_unit
    terms = np.empty((4, n_items))  # issue, bytes in, flops, bytes out (built in place)
    terms[0] = 1.0
    per_unit = terms[1:]  # each term's cycles on one unit
    np.divide(bytes_in, port, out=per_unit[0])
    np.divide(flops, unit, out=per_unit[1])
    np.divide(bytes_out, port, out=per_unit[2])
    per_unit[:, ~has_value] = 0
    useful = int(np.ceil(per_unit.max(initial=1.0)))
    np.ceil(np.divide(per_unit, env.units, out=per_unit), out=per_unit)
    return terms.max(axis=0), terms.argmax(axis=0), useful


def _in_bytes(env: CostEnv) -> np.ndarray:
    total = np.zeros(env.ins[0].n_items)
    for s, t in zip(env.ins, env.in_types, strict=True):
        total += item_sizes(s, t.elem)
    return total


def _flops_per_value(env: CostEnv, kind: str) -> np.ndarray:
    fref = env.node.attrs["fn"]
    if len(env.ins) == 1 and isinstance(env.in_types[0].elem, TupleT):
        shapes = arg_shapes(env.ins[0].values, env.in_types[0].elem)
    else:
        shapes = [
            s.value_shapes if isinstance(t.elem, Tile) else np.zeros((s.n_values, 2), np.int64)
            for s, t in zip(env.ins, env.in_types, strict=True)
        ]
    return np.asarray(IMPLS[f"{kind}:{fref.name}"].flops(shapes, dict(fref.args)), np.float64)


# --- off-chip memory -----------------------------------------------------------------------
@cost_rule("linear_offchip_load")
def _linear_load(env: CostEnv) -> OpEvents:
    """One event per item; with a ref stream, each ref item is taken by the first event of
    the sub-stream it starts."""
    cons = []
    if env.ins:
        shift = len(env.node.outputs[0].shape) - len(env.in_types[0].shape)
        cons = [first_of(parents(env.outs[0].stop, shift), env.ins[0].n_items)]
    return _load(env, cons)


@cost_rule("random_offchip_load")
def _random_load(env: CostEnv) -> OpEvents:
    """One event per address item."""
    return _load(env, [np.arange(env.outs[0].n_items)])


def _load(env: CostEnv, cons: list[np.ndarray]) -> OpEvents:
    """A load issues one HBM request per tile (one cycle each)."""
    out = env.outs[0]
    n = out.n_items
    req = item_sizes(out, env.node.outputs[0].elem)
    return OpEvents(
        _ones(n), cons, [np.arange(n)], requests=req, bound=np.zeros(n, int), is_load=True
    )


@cost_rule("linear_offchip_store", "random_offchip_store")
def _store(env: CostEnv) -> OpEvents:
    x = env.ins[0]
    n = x.n_items
    req = item_sizes(x, env.in_types[0].elem)
    return OpEvents(
        _ones(n), [np.arange(n)] * len(env.ins), [], requests=req, bound=np.zeros(n, int)
    )


# --- on-chip memory ----------------------------------------------------------------------------
@cost_rule("bufferize")
def _bufferize(env: CostEnv) -> OpEvents:
    x = env.ins[0]
    b = env.node.attrs["rank"]
    size = item_sizes(x, env.in_types[0].elem)
    cost = np.maximum(1.0, np.ceil(size / env.target.onchip_bw))
    ends = np.flatnonzero(x.stop >= b)
    bound = np.where(cost > 1, BW_OUT, ISSUE)
    return OpEvents(cost, [np.arange(x.n_items)], [ends], bound=bound)


@cost_rule("streamify")
def _streamify(env: CostEnv) -> OpEvents:
    out = env.outs[0]
    size = item_sizes(out, env.node.outputs[0].elem)
    cost = np.maximum(1.0, np.ceil(size / env.target.onchip_bw))
    shift = len(env.node.outputs[0].shape) - len(env.in_types[0].shape)
    cons = first_of(parents(out.stop, shift), env.ins[0].n_items)
    return OpEvents(cost, [cons], [np.arange(out.n_items)], bound=np.where(cost > 1, BW_IN, ISSUE))


# --- routing ---------------------------------------------------------------------------------
def _chunk_of_items(s: StreamData, b: int) -> np.ndarray:
    """Chunk index of every item (b = 0: every value item is a chunk; bare stops belong to
    the next chunk)."""
    if b == 0:
        return np.minimum(np.cumsum(s.has_value) - s.has_value, max(s.n_values - 1, 0))
    return parents(s.stop, b)


@cost_rule("partition")
def _partition(env: CostEnv) -> OpEvents:
    x, sel = env.ins
    b = env.node.attrs["rank"]
    n = x.n_items
    chosen = np.asarray(sel.values, dtype=bool).reshape(
        sel.n_values, env.node.attrs["num_consumers"]
    )
    if b == 0:  # sel and x have the same items
        sel_cons = np.arange(n)
        goes = np.zeros((n, chosen.shape[1]), dtype=bool)
        goes[x.has_value] = chosen
    else:  # one selector value per chunk; a bare selector stop rides with the next chunk
        chunk = parents(x.stop, b)
        first = first_of(chunk, sel.n_values)
        next_value = np.minimum(np.cumsum(sel.has_value) - sel.has_value, sel.n_values - 1)
        sel_cons = first[next_value] if sel.n_values else np.zeros(sel.n_items, np.int64)
        goes = chosen[chunk] if n else np.zeros((0, chosen.shape[1]), bool)
    prod = [np.flatnonzero(goes[:, i]) for i in range(env.node.attrs["num_consumers"])]
    return OpEvents(
        _ones(n), [np.arange(n), np.minimum(sel_cons, max(n - 1, 0))], prod, bound=np.zeros(n, int)
    )


@cost_rule("reassemble")
def _reassemble(env: CostEnv) -> OpEvents:
    """Events are output items; each selector item is taken with its group's first item."""
    fact = env.fact(Reassembled)
    cons = _taken_from(fact.sources, len(env.ins) - 1)
    cons.append(np.asarray(fact.sel_take, dtype=np.int64))
    n = len(fact.sources.port)
    return OpEvents(_ones(n), cons, [np.arange(n)], bound=np.zeros(n, int))


@cost_rule("eager_merge")
def _eager_merge(env: CostEnv) -> OpEvents:
    """Events are output items; a chunk's selector leaves with the chunk's first item."""
    fact = env.fact(Merged)
    n = len(fact.sources.port)
    prod = [np.arange(n), np.asarray(fact.chunk_first, dtype=np.int64)]
    return OpEvents(_ones(n), _taken_from(fact.sources, len(env.ins)), prod, bound=np.zeros(n, int))


def _taken_from(sources: ItemSources, n_ports: int) -> list[np.ndarray]:
    """Per data input: the event taking each of its items, from where each output item came
    (the functional pass recorded it; -1 marks a bare group stop the op made itself)."""
    cons = []
    for i in range(n_ports):
        events = np.flatnonzero(sources.port == i)
        cons.append(events[np.argsort(sources.item[events], kind="stable")])
    return cons


# --- higher-order ------------------------------------------------------------------------------
@cost_rule("map")
def _map(env: CostEnv) -> OpEvents:
    """Per element: the roofline of its bytes and FLOPs."""
    return _elementwise(env, "map")


@cost_rule("scan")
def _scan(env: CostEnv) -> OpEvents:
    """Per element like map."""
    return _elementwise(env, "scan")


def _idle(env: CostEnv) -> OpEvents | None:
    """A compute op's events when none of its streams has an item (an expert no token was
    routed to: most of a MoE layer's compute ops), else None: no event, no FLOP and one
    useful unit, as the rules below find at the cost of some twenty numpy calls on empty
    arrays (the FLOP rules of length-0 shapes give length-0 counts)."""
    if any(s.n_items for s in env.ins) or any(s.n_items for s in env.outs):
        return None
    none = np.zeros(0, np.int64)
    return OpEvents(
        np.zeros(0), [none] * len(env.ins), [none], bound=none, flops=0.0, useful_units=1
    )


def _elementwise(env: CostEnv, kind: str) -> OpEvents:
    idle = _idle(env)
    if idle is not None:
        return idle
    x, out = env.ins[0], env.outs[0]
    n = x.n_items
    flops = np.zeros(n)
    flops[x.has_value] = _flops_per_value(env, kind)
    bytes_out = item_sizes(out, env.node.outputs[0].elem)
    cost, bound, useful = _roofline(env, n, x.has_value, _in_bytes(env), flops, bytes_out)
    return OpEvents(
        cost,
        [np.arange(n)] * len(env.ins),
        [np.arange(n)],
        bound=bound,
        flops=float(flops.sum()),
        useful_units=useful,
    )


@cost_rule("accum")
def _accum(env: CostEnv) -> OpEvents:
    idle = _idle(env)
    if idle is not None:
        return idle
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
    return OpEvents(
        cost,
        [np.arange(n)] * len(env.ins),
        [ends],
        bound=bound,
        flops=float(flops.sum()),
        useful_units=useful,
    )


@cost_rule("flat_map")
def _flat_map(env: CostEnv) -> OpEvents:
    idle = _idle(env)
    if idle is not None:
        return idle
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
    return OpEvents(
        cost,
        [first] * len(env.ins),
        [np.arange(out.n_items)],
        bound=bound,
        flops=float(flops.sum()),
        useful_units=useful,
    )


# --- shape ops and plumbing -------------------------------------------------------------------
@cost_rule("reshape")
def _reshape(env: CostEnv) -> OpEvents:
    """One element per cycle; with pad=True the inserted zero tiles take a cycle each."""
    if not env.node.attrs["pad"]:
        return _one_to_one(env)
    n = env.outs[0].n_items
    return OpEvents(
        _ones(n), [env.fact(PaddedSlots).slot], [np.arange(n)] * 2, bound=np.zeros(n, int)
    )


@cost_rule("zip", "copy", "promote", "assume_shape")
def _one_to_one(env: CostEnv) -> OpEvents:
    n = env.ins[0].n_items
    return OpEvents(
        _ones(n),
        [np.arange(n)] * len(env.ins),
        [np.arange(n)] * len(env.outs),
        bound=np.zeros(n, int),
    )


@cost_rule("sink")
def _sink(env: CostEnv) -> OpEvents:
    n = env.ins[0].n_items
    return OpEvents(_ones(n), [np.arange(n)], [], bound=np.zeros(n, int))


@cost_rule("flatten")
def _flatten(env: CostEnv) -> OpEvents:
    x = env.ins[0]
    s = x.stop.astype(np.int16)
    lo, hi = env.node.attrs["min_dim"], env.node.attrs["max_dim"]
    new = np.where(s <= lo, s, np.where(s <= hi, lo, s - (hi - lo)))
    keep = np.flatnonzero(x.has_value | (new > 0))
    return OpEvents(
        _ones(x.n_items), [np.arange(x.n_items)], [keep], bound=np.zeros(x.n_items, int)
    )


@cost_rule("expand")
def _expand(env: CostEnv) -> OpEvents:
    x = env.ins[0]
    out = env.outs[0]
    n = out.n_items
    owner = env.fact(ExpandOwners).owner  # x value index of every output item
    x_value_items = np.flatnonzero(x.has_value)
    cons_x = np.full(x.n_items, max(n - 1, 0), dtype=np.int64)
    if n:
        cons_x[x_value_items] = np.minimum(first_of(owner, len(x_value_items)), n - 1)
    return OpEvents(_ones(n), [cons_x, np.arange(n)], [np.arange(n)], bound=np.zeros(n, int))


@cost_rule("repeat")
def _repeat(env: CostEnv) -> OpEvents:
    x, out = env.ins[0], env.outs[0]
    first = first_of(parents(out.stop, 1), x.n_items)
    return OpEvents(
        _ones(out.n_items), [first], [np.arange(out.n_items)], bound=np.zeros(out.n_items, int)
    )
