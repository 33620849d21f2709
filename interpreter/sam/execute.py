"""The functional pass: run every graph of a program on real tensors, stream by stream.

Each node's rule turns whole input streams into whole output streams (numpy arrays), so a
graph runs in one walk over its nodes, made by the shared pass walker
(`interpreter.core.walker`). The writers' streams are assembled into fibertrees;
intermediates feed later graphs and outputs become dense arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsl.sam.ir import WRITES, Graph, Node, Program, TensorDecl
from interpreter.core.walker import Walker
from interpreter.errors import ExecutionError
from interpreter.sam import bitvector, compute, merge, points, route, tiling, walk  # noqa: F401  (register the rules)
from interpreter.sam.fibertree import Fibertree, assemble, resolve_shape
from interpreter.sam.inputs import load_inputs
from interpreter.sam.malloc_tuning import keep_freed_memory
from interpreter.sam.rules import RULES, Context, Result, block_size, check_size
from interpreter.sam.streams import Tokens


@dataclass
class GraphRun:
    """Everything the timing and counting passes need about one executed graph: every
    node's input streams and result, and the seg/crd/val writes of each tensor the graph
    assembled (phantom fibers dropped, so only assembly knows them)."""

    graph: Graph
    inputs: dict[int, list[Tokens]] = field(default_factory=dict)
    results: dict[int, Result] = field(default_factory=dict)
    written: dict[str, dict[str, int]] = field(default_factory=dict)


def storage_sizes(decl: TensorDecl, dims: dict[str, int]) -> tuple[int, ...]:
    shape = resolve_shape(decl, dims)
    b = decl.block
    return tuple(-(-shape[m] // b) for m in decl.mode_order)


class GraphPass(Walker):
    """The shared walker with SAM's rules (`interpreter.sam.rules.RULES`): a rule returns a
    `Result` (streams and step plan), of which the walker keeps the streams; the pass also
    records every node's inputs and result for the timing and counting passes, and refuses
    streams too long to hold."""

    def __init__(self, graph: Graph, ctx: Context) -> None:
        super().__init__(graph, RULES, ctx)
        self.record = GraphRun(graph)

    def call(self, node: Node, inputs: list[Tokens]) -> list[Tokens]:
        result: Result = super().call(node, inputs)  # a SAM rule answers with a `Result`
        for s in result.outputs:
            check_size(node, len(s.ctl), block_size(s.val))
            s.ctl.flags.writeable = False  # streams share arrays: consumers must not write them
            s.val.flags.writeable = False
        self.record.inputs[node.id] = inputs
        self.record.results[node.id] = result
        return result.outputs

    def fail(self, node: Node, exc: Exception) -> Exception:
        if isinstance(exc, ExecutionError):
            return exc
        return ExecutionError(
            f"{node.label()}: its input streams are malformed ({type(exc).__name__}: {exc})"
        )


def run_graph(graph: Graph, ctx: Context, dims: dict[str, int]) -> GraphRun:
    walker = GraphPass(graph, ctx)
    walker.run()
    run = walker.record
    written: dict[str, dict[str, Tokens]] = {}
    for node in graph.nodes:
        if node.op in WRITES:
            slot = str(node.attrs.get("level", "vals"))
            written.setdefault(node.attrs["tensor"], {})[slot] = run.inputs[node.id][0]
    for name, parts in written.items():
        decl = ctx.decls[name]
        levels = [parts[str(lv)] for lv in range(decl.rank)]
        where = f"writers of {name!r} in graph {graph.name!r}"
        try:
            tree, counts = assemble(decl, storage_sizes(decl, dims), levels, parts["vals"], where)
        except (IndexError, ValueError, TypeError) as exc:
            raise ExecutionError(
                f"{where}: the written streams do not form a {list(decl.levels)}"
                f" tensor with block {decl.block} ({exc})"
            ) from None
        ctx.tensors[name] = tree
        run.written[name] = counts
    return run


def run_graphs(
    program: Program,
    tensors: dict[str, Fibertree],
    dims: dict[str, int],
    memory_steps: bool = True,
) -> list[GraphRun]:
    """Run every graph in order; written tensors are added to `tensors`. Without
    `memory_steps` the step plans leave out when memory words move (no memory model)."""
    keep_freed_memory()
    ctx = Context(tensors, program.tensors, memory_steps)
    return [run_graph(graph, ctx, dims) for graph in program.graphs]


def run_program(
    program: Program, inputs: Mapping[str, Any], dims: dict[str, int]
) -> tuple[dict[str, Fibertree], list[GraphRun]]:
    """Run every graph in order; returns the final tensors (by name) and the graph runs.
    Inputs may be dense or sparse (`interpreter.sam.inputs`)."""
    tensors = load_inputs(program, inputs, dims)
    return tensors, run_graphs(program, tensors, dims)


@dataclass(frozen=True)
class CheckedRun:
    """What `execute` ran, for `interpreter.sam.simulate` to time instead of running the
    same program on the same inputs again (the verifier's timed input: checked, then
    simulated). The graph runs hold streams and step plans only; their plans include memory
    steps exactly when `memory_steps` is set, so they serve a simulation that wants the same
    (`reusable`)."""

    program: Program
    dims: dict[str, int]
    memory_steps: bool
    runs: list[GraphRun]

    def reusable(self, program: Program, dims: dict[str, int], memory_steps: bool) -> bool:
        return self.program is program and self.dims == dims and self.memory_steps == memory_steps


def execute(
    program: Program,
    inputs: Mapping[str, Any],
    outputs: dict[str, np.ndarray],
    dims: dict[str, int],
    memory_steps: bool = True,
) -> CheckedRun:
    """Functional run: write every output tensor into its pre-allocated array. Without
    `memory_steps` the step plans leave out memory words (see `run_graphs`: the outputs are
    the same); returns the run for a simulation of these inputs (`CheckedRun`)."""
    tensors = load_inputs(program, inputs, dims)
    runs = run_graphs(program, tensors, dims, memory_steps)
    for name, out in outputs.items():
        decl = program.tensors.get(name)
        if decl is None or decl.role != "output":
            raise ExecutionError(f"output {name!r} is not written by the program")
        dense = tensors[name].to_dense(resolve_shape(decl, dims))
        if dense.shape != out.shape:
            raise ExecutionError(f"output {name!r} has shape {dense.shape}, expected {out.shape}")
        out[...] = dense.astype(out.dtype)
    return CheckedRun(program, dict(dims), memory_steps, runs)
