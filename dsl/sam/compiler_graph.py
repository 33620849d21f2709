"""The compiler's intermediate form: a hash-consed graph of SAM primitives.

The lowering (compiler_lower) adds primitives here; the emitter (compiler_emit) prints them
as a program. Adding a node that already exists with the same inputs and parameters returns
the existing outputs, so pipelines that fused statements share (the same tensor scanned
under the same references, the same subexpression under the same context) are built once
and fanned out, which is FuseFlow's common-subexpression step. Streams are consumed once
in the dialect, so the emitter inserts the broadcasts for streams used several times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsl.sam.primitives import SAM


@dataclass(frozen=True)
class Edge:
    node: int
    port: int
    kind: str  # a stream kind of dsl.sam.primitives (crd, ref, val, repsig)


@dataclass(frozen=True)
class Node:
    id: int
    op: str  # a primitive's name in dsl.sam.primitives.SAM
    inputs: tuple[Edge, ...]
    params: tuple[tuple[str, object], ...]
    outputs: tuple[Edge, ...]

    def param(self, name: str) -> object:
        return dict(self.params)[name]


@dataclass
class Graph:
    """One dataflow graph (a fusion group): nodes in a valid build order."""

    nodes: list[Node] = field(default_factory=list)
    hints: dict[Edge, str] = field(default_factory=dict)
    _index: dict[tuple, Node] = field(default_factory=dict)

    def add(
        self,
        op: str,
        inputs: tuple[Edge, ...],
        params: dict[str, object],
        out_kinds: tuple[str, ...],
        hints: tuple[str, ...] = (),
        *,
        shared: bool = True,
    ) -> tuple[Edge, ...]:
        """Add a primitive (or find the identical one) and return its output streams.

        `hints` name the outputs in the emitted program; `shared=False` is for primitives
        with effects (writers, lane forks) that must never merge.
        """
        if op not in SAM:
            raise ValueError(f"the compiler emitted {op!r}, which is not a SAM primitive")
        frozen = tuple(sorted((k, _freeze(v)) for k, v in params.items()))
        key = (op, inputs, frozen)
        if shared and key in self._index:
            return self._index[key].outputs
        node_id = len(self.nodes)
        outputs = tuple(Edge(node_id, port, kind) for port, kind in enumerate(out_kinds))
        node = Node(node_id, op, inputs, frozen, outputs)
        self.nodes.append(node)
        for stream, hint in zip(outputs, hints, strict=False):
            self.hints[stream] = hint
        if shared:
            self._index[key] = node
        return outputs

    def uses(self) -> dict[Edge, int]:
        """How many inputs read each stream (the emitter broadcasts those read twice)."""
        count: dict[Edge, int] = {}
        for node in self.nodes:
            for stream in node.inputs:
                count[stream] = count.get(stream, 0) + 1
        return count

    def live(self) -> Graph:
        """The graph without nodes whose outputs nobody reads (writers are always live)."""
        needed: set[int] = set()
        for node in reversed(self.nodes):
            if node.op in ("write_level", "write_vals") or node.id in needed:
                needed.add(node.id)
                needed.update(s.node for s in node.inputs)
        return Graph([n for n in self.nodes if n.id in needed], self.hints)


def _freeze(value: object) -> object:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value
