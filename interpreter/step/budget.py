"""What a STeP program asks of its target's hardware budget, and the checks.

The target's `[budget]` table names the resources (see `interpreter/budget.py`):

- `compute_units`: the sum of `compute=` over the compute ops (map, accum, scan, flat_map).
  A unit is one 16x16 BF16 tile; `compute=c` is what buys an op speed, so it is bounded per
  op and in total, and a program cannot time faster than the chip it would run on.
- `memory_ports`: 64 B/cycle memory-unit ports: a compute op with `compute=c` owns c of them,
  bufferize and streamify one each.
- `onchip_bytes`: the on-chip memory requirement (the paper's accounting, `onchip.py`):
  statically sized buffers at their declared size whether or not their op runs, dynamically
  sized ones at the size actually built. It depends on the data, so it is counted and
  checked at simulation.

The static resources are checked before any run (`check_static`), naming the largest user.
"""

from __future__ import annotations

from collections.abc import Mapping

from dsl.core.spec import USES_COMPUTE
from dsl.step.ir import Program
from dsl.step.ops import OPS
from interpreter.budget import budget_of, check_budget
from interpreter.errors import BudgetError

COMPUTE_OPS = OPS.flagged(USES_COMPUTE)  # the ops that take compute= (units and ports)
PORT_OPS = ("bufferize", "streamify")
COMPUTE, PORTS, ONCHIP = "compute_units", "memory_ports", "onchip_bytes"


def _ports(op: str, attrs: Mapping) -> int:
    if op in COMPUTE_OPS:
        return int(attrs["compute"])
    return 1 if op in PORT_OPS else 0


def static_use(program: Program) -> dict[str, float]:
    """Compute units and memory ports the program allocates (known before any run)."""
    units = sum(_units(n.op, n.attrs) for n in program.nodes)
    ports = sum(_ports(n.op, n.attrs) for n in program.nodes)
    return {COMPUTE: float(units), PORTS: float(ports)}


def check_static(program: Program, target: Mapping) -> dict[str, float]:
    """Raise `BudgetError` when the program allocates more compute units or memory ports
    than `target` has (the message names the largest user); return what it allocates."""
    used = static_use(program)
    try:
        check_budget(target, used)
    except BudgetError as exc:
        if exc.resource in (COMPUTE, PORTS):
            count = _ports if exc.resource == PORTS else _units
            worst = max(program.nodes, key=lambda n: count(n.op, n.attrs))
            has = f"compute={worst.attrs['compute']}" if worst.op in COMPUTE_OPS else "1 port"
            exc.args = (f"{exc.args[0]}; the largest user is {worst.label()} with {has}",)
        raise
    return used


def _units(op: str, attrs: Mapping) -> int:
    return int(attrs["compute"]) if op in COMPUTE_OPS else 0


def check_onchip(program: Program, per_node: list[float], target: Mapping) -> float:
    """The program's on-chip requirement (sum over ops); over the budget is a `BudgetError`
    naming the largest user."""
    total = float(sum(per_node))
    try:
        check_budget(target, {ONCHIP: total})
    except BudgetError as exc:
        worst = max(range(len(per_node)), key=per_node.__getitem__)
        exc.args = (
            f"{exc.args[0]} (on-chip memory); the largest user is "
            f"{program.nodes[worst].label()} with {per_node[worst]:.0f} bytes",
        )
        raise
    return total


def peak_flops(target: Mapping, flops_per_unit: float) -> float | None:
    """FLOPs per cycle of the whole chip (None when the target sets no compute budget)."""
    units = budget_of(target).get(COMPUTE)
    return None if units is None else units * flops_per_unit


def units_left(program_use: Mapping[str, float], target: Mapping) -> float | None:
    """How many more compute units (with their ports) the program could still allocate."""
    budget = budget_of(target)
    left = [budget[k] - program_use[k] for k in (COMPUTE, PORTS) if k in budget]
    return max(0.0, min(left)) if left else None
