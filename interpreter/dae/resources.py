"""What a DAE program uses of its target's hardware budget (the target TOML's `[budget]`).

Resources a program chooses are checked before anything runs, so speed bought with
hardware the chip lacks is never measured:

- `traversal_units`: TUs, a vector loop counting one per lane (a lockstep layer of the
  TMU's grid);
- `lanes`: the widest vector loop;
- `streams`: memory and ALU streams (the TMU's stream slots);
- `execute_counters`: execute-side counters (core registers);
- `buffer_bytes`: the largest row a `buffer` operand carries in one data-queue entry.

Resources the hardware manages (queue entries, outstanding misses, cache capacity) are
target parameters the simulator reads from `[budget]`; what a run used of them is measured
(`dynamic_use`) and reported beside its cycles.
"""

from __future__ import annotations

import numpy as np

from dsl.core.spec import USES_COMPUTE
from dsl.dae.ir import Program
from dsl.dae.ops import ACCESS, DAE
from interpreter.budget import check_budget
from interpreter.dae.access import resolve
from interpreter.dae.queue_kernel import PEAK
from interpreter.dae.target import DaeTarget

VALUE_BYTES = {"float32": 4, "int64": 8}
"""Bytes per element of a queue operand (integer loads are widened to int64)."""


def static_use(program: Program, dims: dict[str, int]) -> dict[str, float]:
    """The resources `program` asks for, counted from its IR (and the run's dims)."""
    buffer_bytes = 0
    for s in program.streams:
        if s.op != "buffer":
            continue
        src = program.streams[s.source]
        tu = program.tus[src.tu]
        lo = resolve(tu.lo.const if tu.lo.dim is None else tu.lo.dim, dims, f"TU {tu.id} lo")
        hi = resolve(tu.hi.const if tu.hi.dim is None else tu.hi.dim, dims, f"TU {tu.id} hi")
        buffer_bytes = max(buffer_bytes, max(0, hi - lo) * VALUE_BYTES[_dtype(program, src)])
    return {
        "traversal_units": float(sum(t.lanes for t in program.tus)),
        "lanes": float(max((t.lanes for t in program.tus), default=0)),
        "streams": float(sum(DAE[f"{ACCESS}.{s.op}"].has(USES_COMPUTE) for s in program.streams)),
        "execute_counters": float(len(program.counters)),
        "buffer_bytes": float(buffer_bytes),
    }


def _dtype(program: Program, s) -> str:
    if s.op != "load":
        return "int64"
    m = next(m for m in program.memrefs if m.name == s.memref)
    return "float32" if m.dtype == "float32" else "int64"


def check(program: Program, dims: dict[str, int], target: DaeTarget) -> dict[str, float]:
    """Raise `BudgetError` if `program` asks for more than `target` has; return its use."""
    used = static_use(program, dims)
    check_budget(target, used)
    return used


def queue_peak(
    push: np.ndarray,
    pop: np.ndarray,
    at: np.ndarray | None = None,
    owner: np.ndarray | None = None,
) -> int:
    """Most entries a queue held: entries in push order with their push and pop times (pops
    in order), or, given `at` and `owner`, pushed at `push[at]` and popped at `pop[owner]`.
    An entry popped at the instant another is pushed has left (that is how the bounded
    queue lets the new one in); each entry counts itself. Merged in one pass when
    `queue_kernel.PEAK` is compiled, else a binary search per push (the same peak)."""
    at = np.arange(len(push)) if at is None else at
    owner = np.arange(len(at)) if owner is None else owner
    if not len(at):
        return 0
    merge = PEAK.pick(len(at))
    if merge is not PEAK.plain:
        return int(merge(push, at, pop, owner))
    push, pop = push[at], pop[owner]
    order = np.arange(len(push))
    popped = np.minimum(np.searchsorted(pop, push, side="right"), order)
    return int((order + 1 - popped).max())
