"""End-to-end time and peak memory of a SAM simulation whose input arrives sparse.

Column-wise SpMV (the graph `sam_sim_speed` measures) on an n x n scipy.sparse random
matrix, values in [0.5, 1.5): `--mode dense` turns it into a dense array first and
simulates from that (the only way before sparse inputs were accepted); `--mode sparse`
hands the CSR matrix to `simulate` as it is. Each mode runs in a fresh process: one timed
run (wall and CPU seconds of conversion + simulate), then one under tracemalloc for the
peak of Python-visible memory (numpy's buffers included), and the process's max RSS.
The cycles must be equal in both modes.

Run: python -m benchmarks.perf.sam_input_path [--n 8000] [--density 0.005] [--json]
(one mode: --mode dense|sparse, prints one JSON object; runs against any tree that has
`benchmarks.perf.sam_sim_speed`, so `--mode dense` also measures an older tree).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from benchmarks.perf.sam_sim_speed import _signature, spmv_colwise


def _case(n: int, density: float):
    rng = np.random.default_rng(0)
    b = sp.random(
        n, n, density, format="csr", random_state=rng, data_rvs=lambda k: rng.uniform(0.5, 1.5, k)
    )
    sig = _signature([("B", ["N", "N"], "dcsc"), ("c", ["N"], "compressed")], [("x", ["N"])])
    return b, np.ones(n), sig


def run_mode(mode: str, n: int, density: float) -> dict:
    """Time, then trace the memory of, converting (dense mode) and simulating once."""
    from dsl import sam
    from interpreter.sam.simulate import simulate
    from interpreter.targets import load_target

    b, c, sig = _case(n, density)
    program = sam.load_ir(sam.trace(spmv_colwise, sig))
    target = load_target("sam_comal")
    dims = {"N": n}

    def once() -> int:
        matrix = b.toarray() if mode == "dense" else b
        return simulate(program, {"B": matrix, "c": c}, dims, target).cycles

    simulate(program, {"B": np.eye(8), "c": np.ones(8)}, {"N": 8}, target)  # numba, imports
    start, start_cpu = time.perf_counter(), time.process_time()
    cycles = once()
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    tracemalloc.start()
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "mode": mode,
        "n": n,
        "nnz": int(b.nnz),
        "cycles": int(cycles),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_mb": round(peak / 2**20, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--density", type=float, default=0.005)
    parser.add_argument("--mode", choices=["dense", "sparse"], help="one mode, in this process")
    parser.add_argument("--json", action="store_true", help="one JSON object per mode")
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.n, args.density)))
        return
    rows = []
    for mode in ("dense", "sparse"):
        cmd = [sys.executable, "-m", __spec__.name, "--mode", mode, "--n", str(args.n)]
        cmd += ["--density", str(args.density)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    if rows[0]["cycles"] != rows[1]["cycles"]:
        raise SystemExit(f"cycles differ: {rows[0]['cycles']} dense, {rows[1]['cycles']} sparse")
    if args.json:
        print(json.dumps({r["mode"]: r for r in rows}))
        return
    one, five, _ = os.getloadavg()
    print(f"SpMV n={args.n} density {args.density}; load average {one:.2f} / {five:.2f}")
    print(
        f"{'input':8} {'nnz':>9} {'cycles':>9} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} {'rss MB':>8}"
    )
    for r in rows:
        print(
            f"{r['mode']:8} {r['nnz']:9,d} {r['cycles']:9,d} {r['wall_s']:7.3f} {r['cpu_s']:7.3f}"
            f" {r['peak_mb']:8.1f} {r['max_rss_mb']:8.1f}"
        )


if __name__ == "__main__":
    main()
