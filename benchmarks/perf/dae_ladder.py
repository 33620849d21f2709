"""Ember's optimisation ladder on our DAE simulator, printed beside the paper's figures.

For every task of benchmarks/dae the builtin compiler emits O0 (naive decoupled), O1
(vectorised), O2 (+ bufferization) and O3 (+ queue alignment, contiguous loads,
non-temporal hints). Each program is checked against the task's PyTorch reference and
simulated on `dae_default` with the task's first check shape. Printed: cycles and speedup
over O0 per task, geometric means over the groups Ember reports (fig. 13: DLRM + MP; DLRM
alone), and access / compute utilization at O0 and O3 (fig. 14).

    python -m benchmarks.perf.dae_ladder [--quick] [--target dae_wide]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from benchmarks.task import Task, load_suite
from dsl import dae
from dsl.dae.compiler import compile_spec
from interpreter.dae import BACKEND
from interpreter.targets import load_target

EMBER_LADDER = {1: 5.1, 2: 8.5, 3: 10.9}
"""fig_13 geomean speedup over opt0 (DLRM + MP), from the AE scripts."""
EMBER_DLRM_O3 = 11.9
EMBER_UTIL = {"compute": ("6-23%", "17-70%"), "access": ("~2%", "14-49%")}
"""fig_14 (DLRM RM configs), opt0 -> opt3."""
QUICK = ("eb_sum_hot", "eb_mean", "mp_mean", "paged_kv_bs4")
ALL = ("DLRM", "MP", "SpMM", "KG", "SpAttn", "MoE")


def _group(name: str) -> str:
    return {"eb": "DLRM", "mp": "MP", "sp": "SpMM", "kg": "KG", "pa": "SpAttn", "mo": "MoE"}[
        name[:2]
    ]


VARIANTS = [
    (0, {}),
    (1, {}),
    (2, {}),
    (3, {}),
    (3, {"contiguous": False, "nontemporal": False}),  # queue alignment alone
    (3, {"nontemporal": False}),  # + contiguous loads, no non-temporal hints
    (2, {"contiguous": True}),
]  # contiguous loads without queue alignment
"""Levels O0..O3, then the three parts of O3 added one at a time."""


def measure(task: Task, target_name: str | None = None, seed: int = 0) -> list[dict]:
    """Per variant: cycles, metrics, and whether the output matched the reference."""
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, seed)
    expected = task.reference_outputs(inputs, dims)
    target = load_target(target_name or task.target)
    rows = []
    inputs_names = tuple(s.name for s in task.inputs)
    for level, hints in VARIANTS:
        namespace: dict = {}
        text = compile_spec(dict(task.spec), inputs_names, level, task.name, **hints)
        exec(compile(text, f"<{task.name} O{level}>", "exec"), namespace)
        program = BACKEND.load(dae.trace(namespace["kernel"], task.signature()))
        outputs = {s.name: np.full(s.resolve(dims), np.nan, dtype=s.dtype) for s in task.outputs}
        BACKEND.execute(program, inputs, outputs, dims)
        correct = all(
            np.allclose(outputs[k], v, rtol=task.rtol, atol=task.atol) for k, v in expected.items()
        )
        report = BACKEND.simulate(program, inputs, dims, target)
        rows.append({"cycles": report.cycles, "correct": correct, **report.metrics})
    return rows


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument(
        "--target",
        default=None,
        help="hardware model (default: each task's, dae_default); dae_wide has two load ports",
    )
    args = parser.parse_args()
    tasks = [t for t in load_suite("dae") if not args.quick or t.name in QUICK]
    start = time.perf_counter()
    results = {t.name: measure(t, args.target) for t in tasks}
    print(f"target: {args.target or 'dae_default'}")
    print(
        f"{'task':20s} {'group':6s} {'O0 cycles':>10s} {'O1':>6s} {'O2':>6s} {'O3':>6s}"
        f"  {'acc% O0->O3':>12s} {'comp% O0->O3':>13s}  ok"
    )
    for name, rows in results.items():
        c0 = rows[0]["cycles"]
        ups = " ".join(f"{c0 / r['cycles']:5.1f}x" for r in rows[1:4])
        acc = f"{rows[0]['access_utilization']:.0%}->{rows[3]['access_utilization']:.0%}"
        comp = f"{rows[0]['compute_utilization']:.0%}->{rows[3]['compute_utilization']:.0%}"
        ok = "yes" if all(r["correct"] for r in rows) else "NO"  # every variant checked
        print(f"{name:20s} {_group(name):6s} {c0:10d} {ups}  {acc:>12s} {comp:>13s}  {ok}")

    def speedups(level: int, groups: tuple[str, ...]) -> list[float]:
        return [
            rows[0]["cycles"] / rows[level]["cycles"]
            for n, rows in results.items()
            if _group(n) in groups
        ]

    print("\nGeometric-mean speedup over O0       ours (DLRM+MP)   Ember fig_13   ours (all)")
    for level, label in ((1, "vectorise"), (2, "+ bufferize"), (3, "+ queue alignment")):
        print(
            f"  {label:34s} {geomean(speedups(level, ('DLRM', 'MP'))):8.1f}x"
            f" {EMBER_LADDER[level]:13.1f}x {geomean(speedups(level, tuple('DLRM MP SpMM KG SpAttn MoE'.split()))):11.1f}x"
        )
    print(f"  {'DLRM only, O3':34s} {geomean(speedups(3, ('DLRM',))):8.1f}x {EMBER_DLRM_O3:13.1f}x")
    print("\nThe O3 step in parts (DLRM+MP geomean over O0; all tasks in brackets)")
    for level, label in (
        (4, "O2 + queue alignment (counters)"),
        (5, "  + contiguous row loads"),
        (3, "  + non-temporal hints (= O3)"),
    ):
        print(
            f"  {label:34s} {geomean(speedups(level, ('DLRM', 'MP'))):8.1f}x"
            f"   [{geomean(speedups(level, ALL)):.1f}x]"
        )
    print(
        f"  {'O2 + contiguous row loads only':34s} {geomean(speedups(6, ('DLRM', 'MP'))):8.1f}x"
        f"   [{geomean(speedups(6, ALL)):.1f}x]"
    )
    nt = [(rows[5]["dram_read_bytes"], rows[3]["dram_read_bytes"]) for rows in results.values()]
    print(
        f"  DRAM read bytes, O3 without -> with non-temporal hints: {sum(a for a, _ in nt) / 2**20:.2f}"
        f" -> {sum(b for _, b in nt) / 2**20:.2f} MiB over the suite"
    )
    dlrm = [rows for n, rows in results.items() if _group(n) == "DLRM"]
    if dlrm:
        print("\nUtilization on DLRM tasks (O0 -> O3)   ours                Ember fig_14")
        for key, label in (("compute_utilization", "compute"), ("access_utilization", "access")):
            lo = [r[0][key] for r in dlrm]
            hi = [r[3][key] for r in dlrm]
            ours = f"{min(lo):.0%}-{max(lo):.0%} -> {min(hi):.0%}-{max(hi):.0%}"
            print(f"  {label:36s} {ours:19s} {EMBER_UTIL[label][0]} -> {EMBER_UTIL[label][1]}")
    print(
        "\nutilization = elements per cycle over the 8-lane peak (access: operand elements"
        " delivered; compute: element operations done by callbacks)"
    )
    print(f"{len(tasks)} tasks x {len(VARIANTS)} programs in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
