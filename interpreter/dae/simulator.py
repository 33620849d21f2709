"""The DAE cycle simulator: charge work to every push and token, then couple the halves.

Each op's own cost is its registered rule (`costs`); this module adds up what those rules
charge per push and per token, runs the cache model and the queue coupling, and reports.

Access side: each TU iteration costs `1 / tu_steps_per_cycle`; each memory request
occupies a load port (`1 / mem_requests_per_cycle`) or, when it misses, an outstanding-miss
slot for its latency (`latency / max_outstanding`, Little's law), and DRAM fills use
bandwidth; each push uses the queue port. These resources work in parallel, so the work
charged to a push is the largest of them over the requests and iterations since the
previous push. Execute side: a case costs its dispatch (plus one compare per case tested
before it), its pops and its ops, vector and buffer ops per 8-lane chunk; a callback's
`load` goes through the same caches as the access side's and the core waits for it
(`_core_memory`). `pipeline.solve` couples the two through the bounded queues.

The roofline floor is counted apart: useful element operations over the core's lanes, and
compulsory DRAM bytes (each line either side touches once, each output written once) over
bandwidth. Queue depths, miss slots and cache capacities are the target's `[budget]`.

Utilizations are throughputs against an 8-lane peak per cycle: `access_utilization` counts
operand elements the access side delivered (a scalar 1, a vector its valid lanes, a buffer
its length), `compute_utilization` the element operations callbacks performed (arithmetic,
stores and accumulates, per element). Simplifications: all TUs share one issue rate; the
core's writes of outputs cost fixed cycles (outputs assumed cache-resident, their bytes
counted once as DRAM writes).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import reduce
from typing import Any

import numpy as np

from dsl.core.spec import VALUE_TIMED
from dsl.dae.ir import LANES, Event, Form, Program
from dsl.dae.ops import DAE, EXECUTE
from interpreter.dae import advice, critical_path, resources
from interpreter.dae.access import AccessRun, resolve, run_access
from interpreter.dae.cache_model import DRAM, Requests, replay, requests, with_core_loads
from interpreter.dae.costs import case_cost, chunks
from interpreter.dae.execute import CheckedRun, CoreLoad, match_queues, run_cases
from interpreter.dae.pipeline import Coupling, solve
from interpreter.dae.queue_kernel import STALLS, WORK
from interpreter.dae.target import DaeTarget, budget_entry, dae_target
from interpreter.report import SimReport


def _zeros_for_outputs(program: Program, inputs: dict, dims: dict[str, int]) -> dict:
    arrays = dict(inputs)
    for m in program.memrefs:
        if m.output and m.name not in arrays:
            shape = tuple(resolve(d, dims, f"memref {m.name}") for d in m.shape)
            arrays[m.name] = np.zeros(shape, dtype=m.dtype)
    return arrays


def simulate(
    program: Program,
    inputs: dict[str, np.ndarray],
    dims: dict[str, int],
    target: Mapping[str, Any] | DaeTarget,
    checked: CheckedRun | None = None,
) -> SimReport:
    """Cycles and metrics of one run of `program` on `inputs` (see the module docstring).
    `checked`, a functional run of the same program on the same inputs and dims, stands in
    for running the access side, the queue match and the callbacks' loads again (under
    other queue depths only its access side does)."""
    target = dae_target(target)
    used = resources.check(program, dims, target)
    acc, cache = target.access, target.cache
    budget = lambda key: budget_entry(target, key)  # noqa: E731
    line = cache.line_bytes
    arrays = _zeros_for_outputs(program, inputs, dims)
    depths = int(budget("control_queue_entries")), int(budget("data_queue_entries"))
    if checked is None:
        run = run_access(program, arrays, dims)
    else:  # the same values; the memrefs (their sizes place them in memory) are these
        run = dataclasses.replace(checked.run, memrefs=arrays)
    if checked is not None and checked.depths == depths:
        sched, core_loads = checked.sched, checked.loads
    else:
        sched, core_loads = match_queues(run, *depths), None
    # Callbacks that read memory are timed by their addresses: run them for those.
    if not any(
        DAE[f"{EXECUTE}.{op.op}"].has(VALUE_TIMED) for case in program.cases for op in case.ops
    ):
        core_loads = []
    elif core_loads is None:
        scratch = {m.name: np.zeros_like(arrays[m.name]) for m in program.memrefs if m.output}
        core_loads = run_cases(run, sched, scratch)
    req = with_core_loads(run, requests(run, line), core_loads, sched.token_pos, line)
    caps = tuple(int(budget(f"{lv}_bytes") // line) for lv in ("l1", "l2", "llc"))
    replay(req, caps)
    lat = np.array(
        [
            0,
            cache.l1_latency,
            cache.l2_latency,
            cache.llc_latency,
            cache.llc_latency + target.dram.latency_cycles,
        ]
    )
    bw = target.dram.bytes_per_cycle
    outstanding = budget("outstanding_misses")

    n = len(run.entries.reg)
    # every TU iteration is a step, charged to the next push (n: after the last)
    starts = np.concatenate([run.start_iter[t.id] for t in program.tus] or [np.zeros(0, int)])
    rates = np.array([acc.tu_steps_per_cycle, acc.pushes_per_cycle, bw], dtype=np.float64)
    port_cycles = 1.0 / acc.mem_requests_per_cycle
    work_of = WORK.pick(n + len(req.entry))
    if work_of is WORK.plain:
        work_of = _access_work
    *parts, work, miss_share, occupancy = work_of(
        starts, req.entry, req.level, req.load, lat, float(outstanding), port_cycles, line, rates, n
    )
    parts = tuple(parts)  # the access work, split as the path names it (`critical_path.WORK`)
    on_access = req.access
    miss = req.level == DRAM

    costs = [case_cost(c, k, dims, target) for k, c in enumerate(program.cases)]
    tok_case = sched.tok_case
    stall = _core_memory(req, core_loads, lat, outstanding, len(sched.tokens), target)
    c = np.array([k.cycles for k in costs] or [0.0])[tok_case] + stall
    owner = np.empty(n, dtype=np.int64)
    owner[sched.token_pos] = np.arange(len(sched.tokens))
    owner[sched.data_pos] = sched.data_owner
    is_token = np.zeros(n, dtype=bool)
    is_token[sched.token_pos] = True
    first = np.flatnonzero(on_access)
    fill = float(lat[req.level[first[0]]]) if len(first) else 0.0
    queues = sched.token_pos, sched.data_pos, sched.data_owner
    times = solve(Coupling(work[:n], owner, is_token, c, fill, *depths, queues))

    access_end = (times.push[-1] if n else fill) + work[n]
    execute_end = times.finish[-1] if len(c) else 0.0
    write_bytes = sum(arrays[m.name].nbytes for m in program.memrefs if m.output)
    read_bytes = float(miss.sum() * line)
    dram_cycles = (read_bytes + write_bytes) / bw
    cycles = max(1, math.ceil(max(access_end, execute_end, dram_cycles)))

    lane_ops = int(np.array([k.lane_ops for k in costs] or [0])[tok_case].sum())
    unique_lines = _distinct(req.line)
    # The floor uses only the target's peaks: 8 lanes of core work per cycle and compulsory
    # DRAM traffic (every line either side touches, once; every output byte) over bandwidth.
    floor = max(lane_ops / LANES, (unique_lines * line + write_bytes) / bw)
    used.update(_dynamic_use(req, sched, times, caps, line, lat, cycles, unique_lines))
    report = _report(
        run,
        sched,
        req,
        program,
        costs,
        tok_case,
        times,
        work,
        c,
        cycles,
        read_bytes,
        write_bytes,
        lane_ops,
        floor,
        target,
    )
    path = critical_path.walk(
        critical_path.Inputs(
            dict(zip(critical_path.WORK, parts, strict=True)),
            miss_share,
            _core_parts(costs, tok_case, stall),
            times.push,
            times.start,
            times.finish,
            owner,
            is_token,
            depths,
            fill,
            dram_cycles,
            work,
        )
    )
    report.bottleneck = advice.sentence(
        path,
        program,
        req,
        occupancy,
        tok_case,
        c,
        report.metrics["operand_elements"] / max(1.0, report.metrics["callbacks"]),
    )
    report.metrics["execute_memory_requests"] = float((~on_access).sum())
    report.metrics["execute_memory_stall_cycles"] = float(stall.sum())
    for k, ld in enumerate(core_loads):
        mine = req.load == k
        report.per_op[f"case {ld.case} op {ld.op} (load {ld.memref})"] = {
            "requests": float(mine.sum()),
            "dram_bytes": float((mine & miss).sum() * line),
            "l1_hit_rate": float((mine & (req.level == 1)).sum() / max(1, mine.sum())),
        }
    report.resources = used
    return report


def _access_work(
    starts: np.ndarray,
    entry: np.ndarray,
    level: np.ndarray,
    load: np.ndarray,
    lat: np.ndarray,
    outstanding: float,
    port: float,
    line: int,
    rates: np.ndarray,
    n: int,
) -> tuple[np.ndarray, ...]:
    """The access work charged to each push (`n`: after the last), by resource: traversal
    steps (TU iterations `starts`, at `rates[0]` a cycle), memory (each access-side request
    holds the port or, when slower, a miss slot: its `occupancy`), DRAM bandwidth (a line a
    miss, at `rates[2]` bytes a cycle) and the push (`rates[1]` a cycle); then the largest
    (`work`), the share of memory held by latency-bound requests, and every request's
    occupancy. `queue_kernel.WORK` is the same in one loop."""
    steps = np.bincount(starts, minlength=n + 1)[: n + 1] / rates[0]
    on_access = load < 0
    latency = lat[level] / outstanding
    occupancy = np.maximum(port, latency)
    mem = np.bincount(entry[on_access], weights=occupancy[on_access], minlength=n + 1)
    waiting = on_access & (latency > port)
    mem_wait = np.bincount(entry[waiting], weights=occupancy[waiting], minlength=n + 1)
    miss = level == DRAM
    dram = np.bincount(entry[on_access], weights=miss[on_access] * float(line), minlength=n + 1)
    push = np.full(n + 1, 1.0 / rates[1])
    push[n] = 0.0
    parts = (steps, mem, dram / rates[2], push)
    work = reduce(np.maximum, parts)  # (pairwise: no stacked copy)
    miss_share = np.divide(mem_wait, mem, out=np.zeros(len(mem)), where=mem > 0)
    return (*parts, work, miss_share, occupancy)


def _core_memory(
    req: Requests,
    loads: list[CoreLoad],
    lat: np.ndarray,
    outstanding: float,
    n_tokens: int,
    target: DaeTarget,
) -> np.ndarray:
    """Extra core cycles per token for its callback's loads, beyond the fixed
    `load_cycles` per chunk (an L1 hit): the core issues `load_requests_per_cycle`
    requests, each holding a miss slot for its latency (as on the access side), and waits
    for the slowest of each load's requests beyond an L1 hit's latency (nothing runs ahead
    of the core to hide it)."""
    extra = np.zeros(n_tokens)
    mine = np.flatnonzero(req.load >= 0)
    if not len(mine):
        return extra
    port = target.execute.load_requests_per_cycle
    chunk_cycles = target.execute.load_cycles
    group = req.token[mine] * len(loads) + req.load[mine]
    order = np.argsort(group, kind="stable")
    group, r = group[order], mine[order]
    cuts = np.flatnonzero(np.diff(group, prepend=-1))
    latency = lat[req.level[r]]
    issue = np.add.reduceat(np.maximum(1.0 / port, latency / outstanding), cuts)
    slowest = np.maximum.reduceat(latency, cuts)
    width = np.array([1 if ld.flat.ndim == 1 else ld.flat.shape[1] for ld in loads])
    base = chunks(width)[group[cuts] % len(loads)] * chunk_cycles
    wait = np.maximum(0.0, issue - base) + np.maximum(0.0, slowest - lat[1])
    np.add.at(extra, group[cuts] // len(loads), wait)
    return extra


def _core_parts(costs: list, tok_case: np.ndarray, stall: np.ndarray) -> dict[str, np.ndarray]:
    """Each token's core cycles split as the critical path names them."""
    overhead = np.array([k.overhead for k in costs] or [0.0])[tok_case]
    total = np.array([k.cycles for k in costs] or [0.0])[tok_case]
    parts = (overhead, total - overhead, stall)
    return dict(zip(critical_path.CORE_PARTS, parts, strict=True))


def _distinct(lines: np.ndarray) -> int:
    """How many different cache lines `lines` holds: one mark per line number, as line
    numbers are dense (every memref has its own region of one address space)."""
    if not len(lines):
        return 0
    seen = np.zeros(int(lines.max()) + 1, dtype=bool)
    seen[lines] = True
    return int(np.count_nonzero(seen))


def _dynamic_use(req, sched, times, caps, line, lat, cycles, touched) -> dict[str, float]:
    """What the run used of the resources the hardware manages: the most entries each queue
    held, misses in flight on average (Little's law), and the bytes of cache it filled
    (`touched`: the distinct lines of all requests)."""
    temporal = _distinct(req.line[~req.nontemporal])
    miss = req.level == DRAM
    return {
        "control_queue_entries": float(
            resources.queue_peak(times.push, times.start, sched.token_pos)
        ),
        "data_queue_entries": float(
            resources.queue_peak(times.push, times.start, sched.data_pos, sched.data_owner)
        ),
        "outstanding_misses": float(lat[DRAM] * miss.sum() / cycles),
        "l1_bytes": float(min(touched, caps[0]) * line),
        "l2_bytes": float(min(temporal, caps[1]) * line),
        "llc_bytes": float(min(temporal, caps[2]) * line),
    }


def _payload(run: AccessRun) -> int:
    """Elements the access side delivered into the data queue: every instance of an operand's
    registration pushes it once (`access._layout`)."""
    total = 0
    for reg in run.program.registrations:
        if reg.case is not None:  # (a token)
            continue
        st = run.tus[reg.tu]
        count = st.n if reg.event is Event.ITE else st.nfib
        form, n = run.stream_shape(run.program.streams[reg.stream])
        if form is Form.VECTOR and count:
            _, mask = run.operand_values(reg, np.arange(count))
            total += int(mask.sum()) if mask is not None else count * n
        else:
            total += count * n
    return total


def _report(
    run,
    sched,
    req,
    program,
    costs,
    tok_case,
    times,
    work,
    c,
    cycles,
    read_bytes,
    write_bytes,
    lane_ops,
    floor,
    target,
) -> SimReport:
    n_tok = len(c)
    access_busy = float(work.sum())
    execute_busy = float(c.sum())
    overhead = float(np.array([k.overhead for k in costs] or [0.0])[tok_case].sum())
    if n_tok:
        prev_finish = np.concatenate([[0.0], times.finish[:-1]])
        core_wait = float(np.maximum(0.0, times.start - prev_finish).sum())
    else:
        core_wait = 0.0
    n = len(work) - 1
    stalls = STALLS.pick(n)
    if stalls is not STALLS.plain:
        access_stall = float(stalls(times.push, work).sum())
    elif n:
        earliest = np.concatenate([[0.0], times.push[:-1]]) + work[:n]
        access_stall = float(np.maximum(0.0, times.push - earliest)[1:].sum())
    else:
        access_stall = 0.0
    nt = req.nontemporal
    miss = req.level == DRAM
    line = float(target.cache.line_bytes)
    payload = _payload(run)
    metrics = {
        "access_utilization": payload / (LANES * cycles),
        "compute_utilization": lane_ops / (LANES * cycles),
        "access_busy": access_busy / cycles,
        "execute_busy": execute_busy / cycles,
        "dispatch_share": overhead / execute_busy if execute_busy else 0.0,
        "callbacks": float(n_tok),
        "operands": float(len(sched.data_pos)),
        "operand_elements": float(payload),
        "memory_requests": float(req.access.sum()),
        "core_wait_cycles": core_wait,
        "access_stall_cycles": access_stall,
        "dram_read_bytes": read_bytes,
        "dram_write_bytes": float(write_bytes),
        "dram_read_bytes_temporal": float((miss & ~nt).sum() * line),
        "dram_read_bytes_nontemporal": float((miss & nt).sum() * line),
        "l1_hits": float((req.level == 1).sum()),
        "l2_hits": float((req.level == 2).sum()),
        "llc_hits": float((req.level == 3).sum()),
        "llc_accesses": float((req.level >= 3).sum()),
    }
    per_op: dict[str, dict[str, float]] = {}
    calls = np.bincount(tok_case, minlength=len(program.cases)).tolist()
    for k, case in enumerate(program.cases):
        per_op[f"case {case.id} ({case.name})"] = {
            "calls": float(calls[k]),
            "cycles_each": costs[k].cycles,
            "busy": calls[k] * costs[k].cycles / cycles,
        }

    def per_stream(mask: np.ndarray) -> list[int]:
        """Requests of each load stream among `mask` (stream -1, the core's, left out)."""
        return np.bincount(req.stream[mask] + 1, minlength=len(program.streams) + 1)[1:].tolist()

    requests, misses, l1 = (per_stream(m) for m in (slice(None), miss, req.level == 1))
    for s in program.streams:
        if s.op == "load":
            per_op[f"stream {s.id} (load {s.memref})"] = {
                "requests": float(requests[s.id]),
                "dram_bytes": float(misses[s.id] * line),
                "l1_hit_rate": float(l1[s.id] / max(1, requests[s.id])),
            }
    timeline = [("access", 0, int(math.ceil(times.push[-1]))) if n else ("access", 0, 0)]
    if n_tok:
        timeline.append(("execute", int(times.start[0]), int(math.ceil(times.finish[-1]))))
    return SimReport(
        cycles=cycles,
        floor_cycles=floor,
        metrics=metrics,
        bottleneck="",  # set by `simulate` from the critical path
        per_op=per_op,
        timeline=timeline,
    )
