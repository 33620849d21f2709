"""The SAM bottleneck sentence: the critical path's main resource, the primitive it is spent
in (quoted as the program spells the call: the SAM IR keeps no source lines, so `A.scan(1,
...)` or `sam.alu('mul', ...)` with its node id), and a change that can help that
resource — no other.

Which change helps which resource:
- primitive steps of a primitive under the outermost level (it walks a level below one
  that a reference from the graph's outer scan reaches): fork/join lanes over the
  outermost level split its steps among the lanes (the builtin compiler's `parallel`);
  a primitive of the outermost level or a writer is outside any lane: only fewer tokens
  (a compressed level, an intermediate never written) cut its steps;
- token latency: a chain of dependent tokens, each paying its producer's latency (b² per
  b x b block): lanes overlap independent chains when the chain runs under the outer
  level, smaller blocks shorten each hop;
- HBM latency and bandwidth: fewer words (compressed levels, fused intermediates, fewer
  repeated loads);
- a full FIFO: the consumer that made room is the slower side; shorten that one.
"""

from __future__ import annotations

from dsl.sam.ir import Graph, Node, Port
from interpreter.sam.critical_path import FULL, HBM, HBM_LATENCY, LATENCY, STEPS, CriticalPath
from interpreter.sam.cycles import WRITERS, GraphTiming
from interpreter.sam.execute import GraphRun
from interpreter.sam.resources import lane_factors

_REF_OUT = frozenset({"scan", "locate", "repeat", "scan_bv"})
_ALTERNATIVE = {
    "intersect": "; locating into the denser operand instead of co-iterating it also cuts"
    " its steps",
    "spacc": "; an order whose sum closes inside the row (`reduce`) also avoids the"
    " accumulator's flush",
    "scan": "; a locate instead of a scan of a dense level also cuts its steps",
}


def call(node: Node) -> str:
    """The builder call that made `node`, as a program spells it."""
    a = node.attrs
    if "tensor" in a:
        args = f"{a['level']}, ..." if "level" in a else "..."
        return f"`{a['tensor']}.{node.op}({args})`"
    if node.op == "alu":
        return f"`sam.alu({a['op']!r}, ...)`"
    return f"`sam.{node.op}(...)`"


def lane_region(graph: Graph) -> tuple[set[int], bool]:
    """The nodes under the graph's outermost level — those that take (directly or through
    their inputs) a reference below the outermost one, up to a join or a writer: what
    fork/join lanes over the outermost level copy — and whether that level's coordinates
    reach a writer (lanes over a level that is summed away would need a sum across
    lanes, which `sam.join` does not do)."""
    depth: dict[Port, int] = {}
    outer_crd: set[Port] = set()
    inner: set[int] = set()
    written = False
    for node in graph.nodes:
        ref_in = max((depth.get(p, -1) for p in node.inputs), default=-1)
        from_outer = any(p in outer_crd for p in node.inputs)
        for p, (_, kind) in zip(node.ports(), node.outputs, strict=True):
            if kind == "ref":
                depth[p] = ref_in + 1 if node.op in _REF_OUT or ref_in < 0 else ref_in
            if kind == "crd" and (from_outer if node.op not in _REF_OUT else ref_in == 0):
                outer_crd.add(p)
        written |= node.op == "write_level" and from_outer
        if node.op in WRITERS or node.op == "join":
            continue
        if ref_in >= 1 or any(p.node in inner for p in node.inputs):
            inner.add(node.id)
    return inner, written


def sentence(
    path: CriticalPath, runs: list[GraphRun], timings: list[GraphTiming], budget_lanes: float
) -> str:
    """One sentence (+ an excerpt of the path) naming what the run waits on and what helps."""
    top = path.top()
    span = max(1, path.cycles)
    if top is None:
        return "Critical path: the program takes no steps."
    g, v, resource = top
    graph = runs[g].graph
    node = next(n for n in graph.nodes if n.id == v)
    cycles = path.by_resource()[resource]
    place = f" of graph {graph.name!r}" if len(runs) > 1 else ""
    head = (
        f"Critical path: {cycles / span:.0%} of {span:,} cycles wait for {resource}, most in"
        f" {call(node)} (node {v}{place})"
    )
    lanes = lane_factors(graph)[v]
    wider = 2 * lanes if 2 * lanes <= budget_lanes else 0
    inner, outer_written = lane_region(graph)
    inside = v in inner
    if inside and not outer_written:
        wider = 0
    steps = runs[g].results[v].plan.steps
    if resource == STEPS:
        ii = timings[g].costs[v].ii
        advice = _steps(node, steps, ii, inside, lanes, wider, outer_written)
    elif resource == LATENCY:
        advice = _latency(node, inside, wider)
    elif resource in (HBM, HBM_LATENCY):
        advice = (
            "only fewer words help: compressed levels, fused intermediates (never written"
            " and read back), fewer repeated loads"
        )
    else:
        advice = f"{call(node)} waits for room in a full FIFO: {_stalled(path, runs)}"
    return f"{head}; {advice}. {_excerpt(path, runs, span)}"


def _lanes_advice(wider: int, lanes: int) -> str:
    if lanes > 1:
        return (
            f"deal the outermost level over {wider} fork/join lanes instead of {lanes} (the"
            f" factor of its `sam.fork`, or the builtin's parallel factor = {wider})"
        )
    return (
        f"deal the outermost level over {wider} fork/join lanes: `sam.fork` each of its"
        f" reference streams into {wider} lanes, copy the inner walk per lane and `sam.join`"
        f" the lanes' values (the builtin's parallel = {{level, factor = {wider}}})"
    )


def _steps(
    node: Node, steps: int, ii: int, inside: bool, lanes: int, wider: int, outer_written: bool
) -> str:
    each = f" of {ii} cycles" if ii > 1 else ""
    own = f"it takes one step per token ({steps:,} steps{each})"
    alternative = _ALTERNATIVE.get(node.op, "")
    if inside and wider:
        return f"{own}: {_lanes_advice(wider, lanes)}{alternative}"
    if inside and not outer_written:
        return (
            f"{own}; the outermost level is summed away, so lanes over it would need a sum"
            " across lanes: a dataflow order with an index of the result outermost lets"
            f" lanes split it{alternative}"
        )
    if inside:
        return f"{own} and the lanes budget is spent: only fewer tokens cut it"
    if node.op in WRITERS:
        return (
            f"{own}, after the lanes join: only writing fewer tokens cuts it (a compressed"
            " level of the result, or an intermediate fused into its consumer and never"
            " written)"
        )
    return (
        f"{own} at the outermost level, which lanes do not split: only fewer coordinates"
        " there cut it (a compressed outer level skips empty fibers)"
    )


def _latency(node: Node, inside: bool, wider: int) -> str:
    chain = (
        f"a chain of dependent tokens, each waiting for its producer's latency (most for"
        f" {call(node)})"
    )
    if inside and wider:
        return f"{chain}: {_lanes_advice(wider, 1)} so independent chains overlap"
    return f"{chain}: smaller value blocks shorten each hop; only a shorter chain helps"


def _stalled(path: CriticalPath, runs: list[GraphRun]) -> str:
    if not path.stalls:
        return "the consumer is the slower side; shorten its work"
    (g, _, c), n = max(path.stalls.items(), key=lambda kv: kv[1])
    consumer = next(x for x in runs[g].graph.nodes if x.id == c)
    return f"{call(consumer)} (node {c}) made room {n:,}x on the path; shorten its work"


def _excerpt(path: CriticalPath, runs: list[GraphRun], span: int) -> str:
    parts = sorted(path.share.items(), key=lambda kv: -kv[1])[:3]
    shown = []
    for (g, v, res), c in parts:
        if c < 0.01 * span and shown:
            break
        node = next(n for n in runs[g].graph.nodes if n.id == v)
        shown.append(f"{call(node)} (node {v}) {res} {c / span:.0%}")
    text = f"Largest parts of the path: {', '.join(shown)}"
    if len(runs) > 1:
        per_graph: dict[str, float] = {}
        for (g, _, _), c in path.share.items():
            name = runs[g].graph.name
            per_graph[name] = per_graph.get(name, 0.0) + c
        top = sorted(per_graph.items(), key=lambda kv: -kv[1])[:3]
        text += "; graphs " + ", ".join(f"{name!r} {c / span:.0%}" for name, c in top)
    if path.stalls:
        text += f"; {sum(path.stalls.values()):,} waits for room in a {FULL}"
    return text + "."
