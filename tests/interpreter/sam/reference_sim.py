"""A plain event-driven simulator of the SAM timing model, to check the numpy fast path.

It walks cycle by cycle: a primitive fires its next step when II cycles have passed since its
last step, every token that step takes has arrived, and (with bounded FIFOs) every token it
emits has room, i.e. the consumer already took the token `depth` places earlier. Within one
cycle it repeats until nothing more can fire, since a slot freed this cycle can be refilled
this cycle. No arrays, no cummax: if both agree on small graphs, the fast path's algebra is
right. With an HBM model, a step that moves words also waits `latency` after its inputs
and until its w-th word has had its turn on the channels; the graph lasts at least as long
as all its words take on the shared channels.
"""

from __future__ import annotations

from interpreter.errors import SimulationError
from interpreter.sam.execute import GraphRun
from interpreter.sam.rules import steps_of
from interpreter.sam.timing import HbmModel


def simulate_reference(
    run: GraphRun, fifo_depth: int = 0, hbm: HbmModel | None = None, max_cycles: int = 200_000
) -> tuple[int, dict[int, list[int]]]:
    nodes = list(run.graph.nodes)
    sched = {n.id: run.results[n.id].plan for n in nodes}
    out_port = {n.id: {name: q for q, (name, _) in enumerate(n.outputs)} for n in nodes}
    # what each step takes: (producer, out port, token) ; what it emits: (out port, token)
    takes: dict[int, list[list[tuple[int, int, int]]]] = {}
    emits: dict[int, list[list[tuple[int, int]]]] = {}
    consumer_of: dict[tuple[int, int], tuple[int, int]] = {}
    for n in nodes:
        s = sched[n.id]
        takes[n.id] = [[] for _ in range(s.steps)]
        emits[n.id] = [[] for _ in range(s.steps)]
        for p, (pid, port) in enumerate(n.inputs):
            q = out_port[pid][port]
            consumer_of[(pid, q)] = (n.id, p)
            n_tokens = len(run.inputs[n.id][p].ctl)
            for t, step in enumerate(steps_of(s.consume[p], n_tokens).tolist()):
                takes[n.id][step].append((pid, q, t))
        for q, out in enumerate(run.results[n.id].outputs):
            for t, step in enumerate(steps_of(s.emit[q], len(out.ctl)).tolist()):
                emits[n.id][step].append((q, t))
    words_at: dict[int, list[int]] = {}
    for n in nodes:
        words_at[n.id] = [0] * sched[n.id].steps
        if hbm is not None and sched[n.id].memory is not None:
            for step in sched[n.id].memory.tolist():
                words_at[n.id][step] += 1
    moved = {n.id: 0 for n in nodes}  # words moved so far, per primitive
    arrived: dict[tuple[int, int], list[int]] = {}  # (producer, port) -> arrival per token
    taken: dict[tuple[int, int], list[int]] = {}  # (consumer, in port) -> time per token
    times: dict[int, list[int]] = {n.id: [] for n in nodes}
    cycle = last_fire = 0
    patience = max((sched[n.id].latency + sched[n.id].ii for n in nodes), default=1) + 2
    if hbm is not None:
        patience += hbm.startup + hbm.latency + hbm.ii
    remaining = sum(sched[n.id].steps for n in nodes)
    while remaining:
        fired_now: set[int] = set()
        progress = True
        while progress:
            progress = False
            for n in nodes:
                s, done = sched[n.id], len(times[n.id])
                if n.id in fired_now or done == s.steps:
                    continue
                if done and cycle < times[n.id][-1] + s.ii:
                    continue
                wait = 0
                words = words_at[n.id][done]
                if words:  # the round trip, and this primitive's turn on the channels
                    wait = hbm.latency
                    last = moved[n.id] + words
                    if cycle < hbm.startup + (last - 1) // hbm.channels * hbm.ii + hbm.latency:
                        continue
                ready = all(
                    len(arrived.get((pid, q), [])) > t and arrived[(pid, q)][t] + wait <= cycle
                    for pid, q, t in takes[n.id][done]
                )
                room = True
                if fifo_depth:
                    for q, t in emits[n.id][done]:
                        cons = consumer_of.get((n.id, q))
                        if cons and t >= fifo_depth and len(taken.get(cons, [])) <= t - fifo_depth:
                            room = False
                if not (ready and room):
                    continue
                times[n.id].append(cycle)
                moved[n.id] += words
                for pid, q, _ in takes[n.id][done]:
                    taken.setdefault(consumer_of[(pid, q)], []).append(cycle)
                for q, _ in emits[n.id][done]:
                    arrived.setdefault((n.id, q), []).append(cycle + s.latency)
                fired_now.add(n.id)
                remaining -= 1
                progress = True
                last_fire = cycle
        cycle += 1
        if cycle - last_fire > patience or cycle > max_cycles:
            raise SimulationError(f"reference: nothing can fire at cycle {cycle} (deadlock)")
    cycles = max((t[-1] + 1 for t in times.values() if t), default=0)
    total = sum(moved.values())
    if hbm is not None and total:
        cycles = max(cycles, hbm.startup + -(-total // hbm.channels) * hbm.ii)
    return cycles, times
