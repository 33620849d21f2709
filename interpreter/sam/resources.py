"""What a SAM program takes of its target's hardware, under the `[budget]` table's names.

- `lanes`: the parallelization factor, the largest product of `fork` lanes that any
  primitive runs under (a fork inside a fork's lane multiplies). Lanes are bought with
  copies of the primitives below the fork, and the chip has only so many parallel units.
- `primitives`: primitive instances in one graph. Graphs run one after another and reuse the
  fabric, so the largest graph is what the chip must hold at once.
- `block_size`: the largest b of the b×b value blocks a tensor is stored in (Comal's block
  modes go up to 64).
- `fifo_depth`: the deepest FIFO the timing relied on: the smallest depth at which bounded
  FIFOs would give the same cycles (counted by `interpreter.sam.cycles`).

The static ones are known from the IR alone, so an over-budget program is refused before
anything runs; `fifo_depth` is known only after timing.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsl.sam.ir import Graph, Program
from interpreter.budget import budget_of, check_budget


def lane_factors(graph: Graph) -> dict[int, int]:
    """How many lanes each node of `graph` is one of (1 outside any fork).

    A node runs under the largest factor of its inputs; a fork's outputs under its input's
    factor times its lanes; a join's output under its lanes' factor divided by its lanes."""
    factor_of: dict[int, int] = {}
    out_factor: dict[int, int] = {}
    for node in graph.nodes:
        ins = [out_factor[p.node] for p in node.inputs]
        if node.op == "join":
            lanes = int(node.attrs["lanes"])
            here = max(ins)
            out = max(ins[0], -(-max(ins[1:]) // lanes))
        else:
            here = max(ins, default=1)
            out = here * int(node.attrs["lanes"]) if node.op == "fork" else here
        factor_of[node.id] = here
        out_factor[node.id] = out
    return factor_of


def static_use(program: Program) -> dict[str, float]:
    """The resources the program's IR asks for (everything but FIFO depth)."""
    lanes = 1
    for graph in program.graphs:
        factors = lane_factors(graph)
        forks = [factors[n.id] * int(n.attrs["lanes"]) for n in graph.nodes if n.op == "fork"]
        lanes = max([lanes, *factors.values(), *forks])
    return {
        "lanes": float(lanes),
        "primitives": float(max((len(g.nodes) for g in program.graphs), default=0)),
        "block_size": float(max((t.block for t in program.tensors.values()), default=1)),
    }


def check_static(program: Program, target: Mapping) -> dict[str, float]:
    """The program's static use, after `BudgetError` if any exceeds the target's budget."""
    used = static_use(program)
    check_budget(target, used)
    return used


def full_lanes(target: Mapping) -> float:
    """The target's parallel units (1 when its budget does not bound lanes: then the
    program's own lanes are the most the floor can assume)."""
    return max(1.0, budget_of(target).get("lanes", 1.0))
