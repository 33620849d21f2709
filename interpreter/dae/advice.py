"""The DAE bottleneck sentence: the critical path's main resource, where in the program it
is spent (the callback or load it comes from, quoted as the source spells it), and a change
that can help that resource — no other.

The DAE IR keeps no source lines, so the excerpt quotes the callback's `def NAME(` and the
load's `dae.load(MEMREF, ...)`: both are unique enough to find in the kernel text (the
advice hit-rate script edits the program at exactly those places).

Which change helps which resource:
- callback dispatch and pops, callback compute: the callback's loop `lanes=8` if it is
  scalar (one dispatch per 8 elements, vector ops per chunk); else whole rows per callback
  (buffers) against dispatch, several rows reduced per callback against compute (one
  read-modify-write of the output per group);
- callback loads: the core waits for memory nothing prefetched — load on the access side;
- memory requests (the load port): `contiguous=True` on a vector gather (one request per
  line, not per lane); traversal steps or queue pushes: a vector loop (`lanes=8`);
- cache-miss latency, DRAM bandwidth: fewer misses — `nontemporal=True` on read-once streams
  when lines read again miss again (it keeps them cached); compulsory misses (first
  touches) only shrink with the bytes read, so the advice says that and nothing else.
"""

from __future__ import annotations

import numpy as np

from dsl.dae.ir import Program
from interpreter.dae.cache_model import DRAM, Requests
from interpreter.dae.critical_path import FILL, CriticalPath


def sentence(
    path: CriticalPath,
    program: Program,
    req: Requests,
    occupancy: np.ndarray,
    tok_case: np.ndarray,
    c: np.ndarray,
    elements_per_callback: float,
) -> str:
    """One sentence (+ an excerpt of the path) naming what the run waits on and what helps."""
    resource, cycles = path.top()
    span = max(1, int(np.ceil(path.cycles)))
    head = f"Critical path: {cycles / span:.0%} of {span} cycles wait for {resource}"
    if resource.startswith("callback"):
        where, advice = _core(resource, program, path, tok_case, c, elements_per_callback)
    elif resource == FILL:
        where, advice = "", "the run is too short to hide the first load's latency"
    else:
        where, advice = _access(resource, program, path, req, occupancy)
    return f"{head}{where}; {advice}. {_excerpt(path, span)}"


def _core(resource, program, path, tok_case, c, per) -> tuple[str, str]:
    on = path.on_core
    weight = np.bincount(tok_case[on], weights=c[on], minlength=len(program.cases))
    case = program.cases[int(np.argmax(weight))] if len(weight) else None
    if case is None:
        return "", "the core is the limit"
    where = f", most in callback `def {case.name}(` (case {case.id})"
    if resource == "callback loads":
        return where, (
            f"`{case.name}` waits for its own loads, which nothing prefetches: load those"
            " values on the access side (a `dae.load` stream pushed as an operand)"
        )
    lanes = _callback_lanes(program, case.id)
    if lanes == 1:
        return where, (
            f"run the loop around `{case.name}` 8 lanes wide (`lanes=8` on its `dae.loop`):"
            f" one dispatch and one vector op per 8 elements ({per:.1f} elements per"
            " callback now)"
        )
    if resource == "callback compute":
        return where, (
            f"the core's vector ops in `{case.name}` are the limit: reduce several rows per"
            " callback (one read-modify-write of the output per group of rows), or do fewer"
            " ops per element"
        )
    return where, (
        f"fewer, larger callbacks: whole rows as buffers, or several rows reduced per"
        f" callback ({per:.1f} elements per callback now)"
    )


def _access(resource, program, path, req, occupancy) -> tuple[str, str]:
    mine = req.access & path.on_access[req.entry]
    weight = np.bincount(req.stream[mine], weights=occupancy[mine], minlength=len(program.streams))
    loads = [s for s in program.streams if s.op == "load"]
    if not loads or not weight.sum():
        return "", _vector_advice(resource)
    s = max(loads, key=lambda s: weight[s.id])
    where = f", most in `dae.load({s.memref}, ...)` (stream {s.id})"
    if resource in ("cache-miss latency", "DRAM bandwidth"):
        return where, _misses(program, req)
    if resource == "memory requests":
        if _lanes(program, s.tu) > 1 and not s.contiguous:
            return where, (
                f"`contiguous=True` on `dae.load({s.memref}, ...)`: one request per cache"
                " line instead of one per lane"
            )
        if _lanes(program, s.tu) == 1:
            return where, (
                f"a vector loop (`lanes=8` on the loop of `dae.load({s.memref}, ...)`), then"
                " `contiguous=True`: one request per line instead of one per element"
            )
        return where, "the load port is the limit: only fewer loads (reuse values) help"
    return where, _vector_advice(resource)


def _vector_advice(resource: str) -> str:
    return (
        f"{resource} are per element: a vector loop (`lanes=8`) or whole rows as buffers"
        " do 8 or more elements per step"
    )


def _misses(program: Program, req: Requests) -> str:
    """Advice against misses: non-temporal read-once streams, when rows read again miss
    (a line's second miss means something evicted it); compulsory misses only shrink with
    the bytes read."""
    once = [
        s for s in program.streams if s.op == "load" and not s.nontemporal and _read_once(req, s.id)
    ]
    if once and _re_misses(req, [s.id for s in once]):
        names = ", ".join(f"`dae.load({s.memref}, ...)`" for s in once)
        return (
            f"`nontemporal=True` on the read-once loads {names}: their lines then leave"
            " the caches to the rows that are read again and miss now"
        )
    return (
        "the misses are compulsory (each line's first touch) and the target's misses in"
        " flight are the limit: only fewer or smaller values read help"
    )


def _re_misses(req: Requests, read_once: list[int]) -> int:
    """DRAM misses of lines kept in the caches (temporal, not of the `read_once` streams)
    that the run had already read: what a non-temporal read-once stream could save."""
    keep = (req.level == DRAM) & ~req.nontemporal & ~np.isin(req.stream, read_once)
    lines = req.line[keep]
    return int(len(lines) - len(np.unique(lines)))


def _read_once(req: Requests, stream: int) -> bool:
    """Whether every line the stream touches is requested in one run of requests."""
    lines = req.line[req.stream == stream]
    if not len(lines):
        return False
    runs = 1 + int(np.count_nonzero(np.diff(lines)))
    return runs == len(np.unique(lines))


def _callback_lanes(program: Program, case: int) -> int:
    """Lanes of the loop whose iterations push the case's token (1 if none found)."""
    for r in program.registrations:
        if r.case == case:
            return _lanes(program, r.tu)
    return 1


def _lanes(program: Program, tu: int | None) -> int:
    return next((t.lanes for t in program.tus if t.id == tu), 1)


def _excerpt(path: CriticalPath, span: int) -> str:
    parts = [kv for kv in sorted(path.share.items(), key=lambda kv: -kv[1])[:3]]
    parts = [kv for kv in parts if kv[1] >= 0.01 * span] or parts[:1]
    shown = ", ".join(f"{name} {cycles / span:.0%}" for name, cycles in parts)
    stalls = sum(path.stalls.values())
    crossed = ""
    if stalls:
        which = " and ".join(f"{q} {m}x" for q, m in sorted(path.stalls.items()))
        crossed = f"; the access side waited for room in a full {which}"
    return f"Largest parts of the path: {shown}{crossed}."
