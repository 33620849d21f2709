"""Speed of the bounded-channel event solver (`interpreter/core/channels.py`), before and
after it replaced DAE's array solver.

- DAE suite: every DAE task's baseline and builtin program is verified once while the
  couplings its simulation solves are recorded; then each coupling is solved by the old
  array solver (alternating cumulative-max passes, loaded from git history at `--before`,
  the last commit that had it) and by the event solver; times must agree, CPU seconds are
  summed.
- A synthetic DAE pipeline (`--tokens`, three operands per token, a 1-entry control queue,
  the core in phases faster and slower than the access side): old vs new.
- A synthetic chain of units with depth-2 channels, one token per step (the shape of SAM's
  SpMV with bounded FIFOs: each wake-up advances a unit by about two steps): new solver
  only, in steps per second.

CPU time (`time.process_time`), best of `--repeat`; the load average is printed beside, so a
busy machine shows. The first solve compiles (or loads the cached) numba loop: untimed.
Networks under `channels_kernel.RUN_EVENTS.compile_from` (200K) steps + tokens (the small
synthetic pipeline with `--quick`) run the plain Python loop, as they do in a real run.

    python -m benchmarks.perf.channel_solver [--json] [--quick] [--before REV]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

from interpreter.core.channels import ChannelNetwork
from interpreter.dae import pipeline

ROOT = Path(__file__).resolve().parents[2]
BEFORE = "82f056c"  # the last commit whose interpreter/dae/pipeline.py had the array solver


def old_pipeline(rev: str) -> types.ModuleType:
    """The array solver as it was at `rev`, loaded from git history (not kept in the tree)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:interpreter/dae/pipeline.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("old_pipeline")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:interpreter/dae/pipeline.py", "exec"), module.__dict__)
    return module


def cpu(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def suite_couplings(quick: bool) -> list[tuple[str, pipeline.Coupling]]:
    """(task, coupling) for every coupling the DAE suite's programs solve."""
    from benchmarks.perf.suite_cycles import _verify, best_program
    from benchmarks.task import load_suite
    from interpreter.dae import simulator

    recorded: list[tuple[str, pipeline.Coupling]] = []
    solve = simulator.solve
    tasks = load_suite("dae")[: 3 if quick else None]
    try:
        for task in tasks:
            simulator.solve = lambda cp, key=task.key: recorded.append((key, cp)) or solve(cp)
            for source in (task.baseline_source(), best_program(task)):
                if source is not None:
                    _verify(task, source, seed=11)
    finally:
        simulator.solve = solve
    return recorded


def synthetic_coupling(tokens: int) -> pipeline.Coupling:
    """Three operands then a token, queues of 1 and 4; the core alternates every 500 tokens
    between faster and slower than the access side (ragged rows), so which bound binds
    keeps changing: the old alternating passes need many rounds or fall back to their
    plain loop."""
    rng = np.random.default_rng(1)
    per_token = 4
    n = tokens * per_token
    slow = (np.arange(tokens) // 500) % 2 == 1
    return pipeline.Coupling(
        a=rng.choice([0.5, 1.0, 2.0, 7.5], n),
        owner=np.repeat(np.arange(tokens), per_token),
        is_token=np.tile([False, False, False, True], tokens),
        c=np.where(slow, rng.choice([12.0, 20.0], tokens), rng.choice([2.0, 3.0], tokens)),
        fill=240.0,
        control_depth=1,
        data_depth=4,
    )


def chain(units: int, steps: int) -> ChannelNetwork:
    rng = np.random.default_rng(0)
    net = ChannelNetwork()
    for u in range(units):
        net.add_unit(f"u{u}", rng.integers(1, 4, steps).astype(float))
    for u in range(units - 1):
        net.add_channel(f"c{u}", u, u + 1, depth=2, latency=1.0)
    return net


def compare(old, couplings, repeat: int) -> dict:
    old_s = new_s = 0.0
    for _, cp in couplings:
        t_old, a = cpu(lambda cp=cp: old.solve(cp), repeat)
        t_new, b = cpu(lambda cp=cp: pipeline.solve(cp), repeat)
        for x, y in ((a.push, b.push), (a.start, b.start), (a.finish, b.finish)):
            np.testing.assert_allclose(x, y, rtol=1e-12)
        old_s, new_s = old_s + t_old, new_s + t_new
    entries = sum(len(cp.a) for _, cp in couplings)
    return {"solves": len(couplings), "entries": entries, "old_s": old_s, "new_s": new_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 DAE tasks, smaller synthetics")
    parser.add_argument("--before", default=BEFORE, help="git revision of the old solver")
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    old = old_pipeline(args.before)
    pipeline.solve(synthetic_coupling(10))  # compile or load the numba loop: not timed
    tokens = 2_000 if args.quick else args.tokens
    units, steps = (10, 5_000) if args.quick else (10, 50_000)
    rows = {
        "dae_suite": compare(old, suite_couplings(args.quick), args.repeat),
        "dae_synthetic": compare(old, [("synthetic", synthetic_coupling(tokens))], args.repeat),
    }
    t_chain, _ = cpu(lambda: chain(units, steps).solve(), args.repeat)
    rows["chain_depth2"] = {"steps": units * steps, "new_s": t_chain}
    rows["load_average"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for name in ("dae_suite", "dae_synthetic"):
        r = rows[name]
        print(
            f"{name:<14} {r['solves']:>4} solves {r['entries']:>9} entries   "
            f"before {r['old_s'] * 1e3:9.1f} ms   after {r['new_s'] * 1e3:8.1f} ms CPU"
        )
    r = rows["chain_depth2"]
    print(
        f"{'chain_depth2':<14} {r['steps']:>9} steps   after {r['new_s'] * 1e3:8.1f} ms CPU"
        f" ({r['steps'] / r['new_s'] / 1e6:.1f} M steps/s)"
    )
    print(f"load average {rows['load_average']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
