"""STeP simulator throughput: a MoE layer's tiling sweep on a real expert-routing trace.

Builds the SwiGLU MoE layer of `dsl/step/REFERENCE.md` (dynamic tiling: one tile per
expert; static tiling: tiles of at most `chunk` tokens), simulates every point of the sweep
on the default target with the trace's routing, and reports per point the cycles, on-chip
memory and stream elements, then the whole sweep's wall time and the simulator's
throughput in stream elements (items through every op) per second.

    python -m benchmarks.perf.step_sim_throughput [--trace qwen_b1024] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dsl import step
from interpreter.core import channels
from interpreter.step import BACKEND, hbm_kernel
from interpreter.targets import load_target

TRACES = Path(__file__).resolve().parents[1] / "data" / "step_traces" / "expert_routing"


def moe_kernel(x, ids, w1, w3, w2, tile_f=64, chunk=0, compute=4):
    """SwiGLU experts; chunk=0: dynamic tiling, else static tiles of `chunk` tokens.

    The tests time and check this same program (tests/interpreter/step/programs.py)."""
    B, H = x.shape
    E, _, F = w1.shape
    ft = F.value // tile_f
    rows = step.linear_offchip_load(x, (1, H))
    sel_route, sel_back = (
        step.map(step.linear_offchip_load(ids, (1, ids.shape[1])), step.fn.to_selector(n=E))
        for _ in range(2)
    )
    outs = []
    for e, part in enumerate(step.partition(rows, sel_route, E.value)):
        grouped = step.promote(part) if chunk == 0 else step.reshape(part, chunk)
        tok = step.accum(grouped, "retile_row", rank=1)
        t1, t2, t3, t4 = step.copy(tok, 4)
        w1_t = step.linear_offchip_load(w1, (H, tile_f), ref=t1, shape=(ft,), base=e * ft)
        w3_t = step.linear_offchip_load(w3, (H, tile_f), ref=t2, shape=(ft,), base=e * ft)
        xa, xb = step.copy(step.repeat(t3, ft))
        gate = step.map(step.map([xa, w1_t], "matmul", compute=compute), "silu")
        h = step.map([gate, step.map([xb, w3_t], "matmul", compute=compute)], "mul")
        w2_t = step.linear_offchip_load(w2, (tile_f, H), ref=t4, shape=(ft,), base=e * ft)
        y_e = step.accum([h, w2_t], "matmul", rank=1, compute=compute)
        rows_e = step.flatten(step.flat_map(y_e, step.fn.split_rows(rows=1)))
        if chunk:  # hold an expert's rows on chip until it is done: reassemble takes them
            # in token order, and streaming them would fill its channels (deadlock)
            rows_e = step.flatten(step.streamify(step.bufferize(step.promote(rows_e), 1)))
        outs.append(rows_e)
    y = step.reassemble(outs, sel_back)
    return step.linear_offchip_store(step.accum(y, "add", rank=1), "y")


def signature(experts: int, hidden: int, inter: int, top_k: int, **params: int) -> dict:
    return {
        "dialect": "step",
        "inputs": [
            {"name": "x", "dtype": "float32", "shape": ["B", hidden]},
            {"name": "ids", "dtype": "int64", "shape": ["B", top_k]},
            {"name": "w1", "dtype": "float32", "shape": [experts, hidden, inter]},
            {"name": "w3", "dtype": "float32", "shape": [experts, hidden, inter]},
            {"name": "w2", "dtype": "float32", "shape": [experts, inter, hidden]},
        ],
        "outputs": [{"name": "y", "dtype": "float32", "shape": ["B", hidden]}],
        "dims": {"B": None},
        "params": params,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trace",
        default="mixtral_b64",
        help="folder under benchmarks/data/step_traces/expert_routing",
    )
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--inter", type=int, default=512)
    parser.add_argument("--tile-f", type=int, default=64)
    parser.add_argument(
        "--chunks",
        default="0,4,16,64",
        help="sweep points: 0 = dynamic tiling, n = static tiles of n tokens",
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    ids = np.load(next((TRACES / args.trace).glob("*.npz")))["data"].astype(np.int64)
    chunks = [int(c) for c in args.chunks.split(",")]
    if args.quick:
        ids, args.hidden, args.inter, chunks = ids[:16], 64, 128, [0, 8]
    batch, top_k = ids.shape
    experts = int(ids.max()) + 1
    experts = 8 if experts <= 8 else 128
    rng = np.random.default_rng(0)
    inputs = {
        "x": rng.standard_normal((batch, args.hidden)).astype(np.float32),
        "ids": ids,
        "w1": rng.standard_normal((experts, args.hidden, args.inter), np.float32),
        "w3": rng.standard_normal((experts, args.hidden, args.inter), np.float32),
        "w2": rng.standard_normal((experts, args.inter, args.hidden), np.float32),
    }
    # every expert gets compute=4 whatever the trace: with Qwen's 128 experts that is more
    # units than step_default has, so only its on-chip budget applies (as step_paper_results)
    chip = load_target("step_default")
    target = dict(chip, budget={"onchip_bytes": chip["budget"]["onchip_bytes"]})
    print(
        f"MoE layer, trace {args.trace}: B={batch}, top-{top_k} of {experts} experts, "
        f"H={args.hidden}, F={args.inter}, tile_f={args.tile_f}"
    )
    print(
        f"{'tiling':>10} {'nodes':>6} {'cycles':>10} {'on-chip KiB':>12} "
        f"{'off-chip MiB':>13} {'elements':>10} {'seconds':>8}"
    )
    # Every network of the full sweep is large enough for the solver's compiled loop and the
    # HBM's, which numba loads once per process (about a second: interpreter/core/jit.py):
    # loaded first, so that the figure per point is the simulation's own, and counted in
    # the sweep's CPU.
    t0, c0 = time.perf_counter(), time.process_time()
    if not args.quick:
        channels.warm_up()
        hbm_kernel.warm_up()
    load_cpu = time.process_time() - c0
    total_elems, total_s, total_cpu = 0.0, time.perf_counter() - t0, load_cpu
    for chunk in chunks:
        sig = signature(experts, args.hidden, args.inter, top_k, tile_f=args.tile_f, chunk=chunk)
        t0, c0 = time.perf_counter(), time.process_time()
        program = BACKEND.load(step.trace(moe_kernel, sig))
        report = BACKEND.simulate(program, inputs, {"B": batch}, target)
        seconds = time.perf_counter() - t0
        total_cpu += time.process_time() - c0
        elems = report.metrics["stream_elements"]
        total_elems += elems
        total_s += seconds
        name = "dynamic" if chunk == 0 else f"static {chunk}"
        print(
            f"{name:>10} {len(program.nodes):>6} {report.cycles:>10} "
            f"{report.metrics['onchip_bytes'] / 1024:>12.1f} "
            f"{report.metrics['offchip_bytes'] / 2**20:>13.2f} {int(elems):>10} "
            f"{seconds:>8.2f}"
        )
    print(
        f"sweep: {len(chunks)} points in {total_s:.2f} s wall, {total_cpu:.2f} s CPU "
        f"({load_cpu:.2f} s of it loading the compiled loops, once); "
        f"throughput {total_elems / total_cpu:,.0f} stream elements per CPU second "
        f"(build + validate + functional + timing)"
    )


if __name__ == "__main__":
    main()
