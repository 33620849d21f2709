"""What each primitive's steps cost in time, apart from what it computes.

A rule (`interpreter.sam.rules`) says what a primitive emits and which step takes and emits
each token; its cost says how long a step occupies the primitive (II) and how long its
tokens take to reach the consumer (latency). Comal's model: one step per cycle, latency 1;
block mode (b x b values) charges as Comal's block modes do: a value load, reducer or
accumulator b² cycles of latency, an elementwise ALU op b², a block matmul 2b-1 at II b.
The cycle pass (`interpreter.sam.cycles`) reads these through `cost_of` only when it
simulates; the functional run never computes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dsl.core.spec import COST
from dsl.sam.ir import Node
from dsl.sam.primitives import SAM
from interpreter.sam.rules import block_size
from interpreter.sam.streams import Tokens


@dataclass(frozen=True)
class Cost:
    latency: int = 1  # cycles from a step's start to its tokens' arrival at the consumer
    ii: int = 1  # cycles from a step's start to the next step's earliest start


CostRule = Callable[[Node, list[Tokens]], Cost]
COSTS: dict[str, CostRule] = {}
SAM.attach(COST, COSTS)


def cost(*names: str) -> Callable[[CostRule], CostRule]:
    def register(fn: CostRule) -> CostRule:
        for name in names:
            COSTS[name] = fn
        return fn

    return register


def _block(outputs: list[Tokens]) -> int:
    return max((block_size(s.val) for s in outputs), default=1)


@cost(
    "root", "scan", "locate", "repeat_signal", "repeat", "intersect", "union", "crd_drop",
    "crd_hold", "val_drop", "stkn_drop", "write_level", "write_vals", "broadcast", "fork", "join",
    "empty_stkn_drop", "split", "flatten", "bv", "bv_chunk",
    "crdpt_convert", "crdpt_accumulate", "bv_drop", "intersect_bv",
    "scan_bv",
)  # fmt: skip
def token_per_cycle(node: Node, outputs: list[Tokens]) -> Cost:
    """Moves tokens (a b x b block as one): one step per cycle, latency 1."""
    return Cost()


@cost("load", "reduce", "spacc")
def per_value(node: Node, outputs: list[Tokens]) -> Cost:
    """Reads, reduces or accumulates every value of a block: b² cycles of latency."""
    b = _block(outputs)
    return Cost(latency=b * b if b > 1 else 1)


@cost("alu")
def alu(node: Node, outputs: list[Tokens]) -> Cost:
    """A block matmul is 2b-1 deep and takes a new block every b cycles; other ops work on
    the b² values of a block one after the other."""
    b = _block(outputs)
    if node.attrs["op"].startswith("matmul") and b > 1:
        return Cost(latency=2 * b - 1, ii=b)
    return Cost(latency=b * b if b > 1 else 1)


def cost_of(node: Node, outputs: list[Tokens]) -> Cost:
    return COSTS[node.op](node, outputs)
