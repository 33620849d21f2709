"""What each DAE op costs, registered by name in the dialect's op registry (`dsl.dae.ops`).

Access side: a stream op's cost is the memory requests it makes (the cache model replays
them, `cache_model.requests`); induction variables, ALU streams and buffers are computed by
their TU within its iteration step and make none. A scalar load makes one request per
element, a vector gather one per valid lane, a contiguous vector load one per cache line
its chunk touches.

Execute side: a rule gives the core cycles of one op per token from the number of elements
`n` it works on — `(cycles, overhead, chunks)`: overhead is dispatch-like time (pops), and
`chunks` the 8-lane chunks the core loops over (the case pays `loop_cycles` for every
chunk of its widest op beyond the first). Elements of ops flagged `USES_COMPUTE` count as
useful work. Cycle counts are the target's `[execute]` table (`DaeExecute`, typed and checked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dsl.core.spec import COST, USES_COMPUTE
from dsl.dae.ir import LANES, Case, Op, StreamNode
from dsl.dae.ops import DAE, EXECUTE
from interpreter.core.targets import DaeExecute
from interpreter.dae.access import AccessRun, resolve
from interpreter.dae.target import DaeTarget, dae_target


def chunks(n: int | np.ndarray) -> int | np.ndarray:
    """8-lane chunks of `n` elements."""
    return -(-n // LANES)


# ------------------------------------------------------------------ access side: requests
LineOf = Callable[[str, np.ndarray], np.ndarray]
"""Global cache-line number of flat element positions of a memref."""


@DAE.implement(COST, "access.iv", "access.alu", "access.buffer")
def _no_requests(run: AccessRun, s: StreamNode, line_of: LineOf) -> None:
    return None


@DAE.implement(COST, "access.load")
def _load_requests(run: AccessRun, s: StreamNode, line_of: LineOf) -> tuple[np.ndarray, np.ndarray]:
    """(TU iteration, cache line) of every request the load stream makes, in issue order."""
    flat = run.flat[s.id]
    lines = line_of(s.memref, flat)
    if flat.ndim == 1:
        return np.arange(len(flat)), lines
    mask = run.tus[s.tu].mask
    if not s.contiguous:
        it, lane = np.nonzero(mask)
        return it, lines[it, lane]
    # One request per distinct line in the chunk (a chunk spans at most two lines).
    first = np.where(mask, lines, np.iinfo(np.int64).max).min(axis=1)
    last = np.where(mask, lines, -1).max(axis=1)
    valid = mask.any(axis=1)
    it = np.concatenate([np.flatnonzero(valid), np.flatnonzero(valid & (last > first))])
    ln = np.concatenate([first[valid], last[valid & (last > first)]])
    order = np.lexsort((ln, it))
    return it[order], ln[order]


# ------------------------------------------------------------------ execute side: cycles
OpCycles = tuple[float, float, int]
"""(cycles, overhead cycles, chunks looped over) of one op for one token."""


@DAE.implement(COST, "execute.pop")
def _pop_cost(op: Op, n: int, ex: DaeExecute) -> OpCycles:
    return 0.0, ex.pop_cycles, 0


@DAE.implement(COST, "execute.const", "execute.arange", "execute.get")
def _free(op: Op, n: int, ex: DaeExecute) -> OpCycles:
    return 0.0, 0.0, 0


@DAE.implement(COST, "execute.increment")
def _increment_cost(op: Op, n: int, ex: DaeExecute) -> OpCycles:
    return ex.counter_cycles, 0.0, 1


@DAE.implement(COST, "execute.binary", "execute.compare", "execute.select")
def _elementwise_cost(op: Op, n: int, ex: DaeExecute) -> OpCycles:
    return chunks(n) * (ex.vector_op_cycles if n > 1 else ex.scalar_op_cycles), 0.0, chunks(n)


@DAE.implement(COST, "execute.load")
def _load_cost(op: Op, n: int, ex: DaeExecute) -> OpCycles:
    return chunks(n) * ex.load_cycles, 0.0, chunks(n)


@DAE.implement(COST, "execute.store")
def _store_cost(op: Op, n: int, ex: DaeExecute) -> OpCycles:
    return chunks(n) * ex.store_cycles, 0.0, chunks(n)


@DAE.implement(COST, "execute.accumulate")
def _accumulate_cost(op: Op, n: int, ex: DaeExecute) -> OpCycles:
    return chunks(n) * ex.accumulate_cycles, 0.0, chunks(n)


@dataclass(frozen=True)
class CaseCost:
    """Cycles of one run of a case, split for the report, and its useful lane operations."""

    cycles: float
    overhead: float  # dispatch + pops
    lane_ops: int


def case_cost(
    case: Case, position: int, dims: dict[str, int], target: DaeTarget | Mapping[str, Any]
) -> CaseCost:
    """Cycles the core spends on one token of `case` (the `position`-th case tested)."""
    ex = dae_target(target).execute
    rules = DAE.rules(COST)
    overhead = ex.dispatch_cycles + position * ex.case_compare_cycles
    cycles, lane_ops, widest = 0.0, 0, 1
    length: dict[int, int] = {}
    for op in case.ops:
        name = f"{EXECUTE}.{op.op}"
        if op.length is not None:  # pops and aranges: the length their type rule gave
            n = resolve(op.length, dims, f"case {case.id} {op.op}")
        else:
            n = max((length[a] for a in op.args), default=1)
        if op.id is not None:
            length[op.id] = n
        c, o, looped = rules[name](op, n, ex)
        cycles, overhead = cycles + c, overhead + o
        lane_ops += n if DAE[name].has(USES_COMPUTE) else 0
        widest = max(widest, looped)
    cycles += (widest - 1) * ex.loop_cycles  # the loop over a buffer's chunks
    return CaseCost(overhead + cycles, overhead, lane_ops)
