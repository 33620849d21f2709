"""The STeP paper's three results, measured side by side on the real traces.

    python -m benchmarks.perf.step_paper_results [--quick] [--results 1,2,3] [--json]

1. Dynamic vs static tiling of MoE layers (Mixtral-8x7B and Qwen3-30B-A3B routing traces,
   batch 64): a static-tiling sweep (fixed tiles of 8..64 tokens per expert, the last one
   zero-padded as in the paper) against one dynamic tile per expert. Paper: Pareto
   improvement distance 1.33x (Mixtral) / 2.11x (Qwen); 2.18x less on-chip memory (arXiv v1).
2. Dynamic parallelization of attention decode on Azure KV-cache lengths: 4 parallel
   regions fed by a least-loaded dispatcher against static interleaved and static
   coarse-grained splits. Paper: 1.14-2.72x.
3. Configuration time-multiplexing of the Qwen MoE layer: all experts share one region
   (eager_merge + random weight reads) instead of one region each. Paper: 2.51-2.64x
   higher compute utilization.

Every number comes from the trusted simulator (`interpreter.step`) on the step_default
target; every program is also run functionally and checked against the PyTorch reference
(not with --quick). MoE layer sizes are the models' divided by 8 (as the artifact's
`Smaller*` configs) so that a run takes minutes on one core; decode uses Qwen3's attention
shape (8 query heads per KV head, head dim 64). Routing and KV lengths are the real traces,
unscaled.

`--json` prints one object per result instead of the tables,
`{"name": {"ours": x, "paper": y, "note": "..."}}`; `paper` is a number, a [low, high]
range, or null where the paper gives no figure for that configuration.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.step import references
from benchmarks.step.generators import TRACES
from dsl import step
from interpreter.report import SimReport
from interpreter.step import BACKEND
from interpreter.targets import load_target

# The paper's evaluation gives every region and expert the same compute, however many there
# are (one region per Qwen expert allocates more than the SN40L's 1,040 units): its results
# are reproduced on the default machine without the compute and port budget.
PAPER_TARGET = dict(
    load_target("step_default"),
    budget={"onchip_bytes": load_target("step_default")["budget"]["onchip_bytes"]},
)

SUITE = Path(__file__).resolve().parent.parent / "step"


@dataclass(frozen=True)
class MoEModel:
    name: str
    experts: int
    top_k: int
    dim: int
    inter: int
    tile_f: int
    trace: str


MODELS = [
    MoEModel("Mixtral-8x7B", 8, 2, 4096 // 8, 14336 // 8, 64, "mixtral_b64/008_010.npz"),
    MoEModel("Qwen3-30B-A3B", 128, 8, 2048 // 8, 768 // 8, 32, "qwen_b64/032_012.npz"),
]
STATIC_TILES = (8, 16, 32, 64)


# --- running a kernel ------------------------------------------------------------------
def baseline_module(file: str) -> dict:
    """A suite baseline's namespace (trusted: our own program text)."""
    namespace: dict = {}
    path = SUITE / "baselines" / file
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def run(
    kernel: Callable,
    inputs: dict[str, np.ndarray],
    outputs: dict[str, tuple],
    params: dict,
    expected: dict[str, np.ndarray] | None,
) -> tuple[SimReport, float]:
    """Build, check against `expected` (when given) and simulate; returns the report and
    the seconds the simulation took."""
    signature = {
        "dialect": "step",
        "dims": {},
        "params": params,
        "inputs": [
            {"name": k, "dtype": str(v.dtype), "shape": list(v.shape)} for k, v in inputs.items()
        ],
        "outputs": [{"name": k, "dtype": d, "shape": list(s)} for k, (s, d) in outputs.items()],
    }
    program = step.build(kernel, signature)
    if expected is not None:
        got = {k: np.full(s, np.nan, dtype=d) for k, (s, d) in outputs.items()}
        BACKEND.execute(program, inputs, got, {})
        for name, want in expected.items():
            np.testing.assert_allclose(
                got[name], want, rtol=1e-3, atol=1e-3, err_msg=f"{kernel.__name__}: output {name}"
            )
    start = time.perf_counter()
    report = BACKEND.simulate(program, inputs, {}, PAPER_TARGET)
    seconds = time.perf_counter() - start
    token_tiles = sum(  # buffers holding token tiles and their padding flags (tiling-dependent)
        report.per_op[n.label()]["onchip_bytes"]
        for n in program.nodes
        if n.op == "accum" and n.attrs["fn"].name == "retile_row"
    )
    report.metrics["token_tile_bytes"] = float(token_tiles)
    return report, seconds


# --- MoE programs ----------------------------------------------------------------------
def _route(expert_idx, E: int, topk: int):
    """Two independent reads of the routing (a copy would couple partition and reassemble)."""
    return [
        step.map(step.linear_offchip_load(expert_idx, (1, topk)), step.fn.to_selector(n=E))
        for _ in range(2)
    ]


def _combine(outs, sel_back, expert_weight, B: int, topk: int):
    y = step.reassemble(outs, sel_back)  # [B, 1, r]; rows of expert_idx are ascending
    gate_w = step.linear_offchip_load(expert_weight, (1, 1), shape=(B, 1, topk))
    y = step.map([step.assume_shape(y, gate_w.shape), gate_w], "mul")
    return step.linear_offchip_store(step.accum(y, "add", rank=1), "y")


def _swiglu(tiles, w1, w3, w2, ft: int, compute: int):
    """SwiGLU of a stream of token tiles, given the weight-block streams ([.., ft] each)."""
    xa, xb = step.copy(step.repeat(tiles, ft))
    gate = step.map(step.map([xa, w1], "matmul", compute=compute), "silu", compute=compute)
    hidden = step.map([gate, step.map([xb, w3], "matmul", compute=compute)], "mul", compute=compute)
    return step.accum([hidden, w2], "matmul", rank=1, compute=compute)


def _weight_shapes(w_gate, tile_f: int) -> tuple[tuple[int, int], tuple[int, int], int]:
    h, f = w_gate.shape[1].value, w_gate.shape[2].value
    return (h, tile_f), (tile_f, h), f // tile_f


def _token_tiles(part, tile_n: int):
    """An expert's routed rows as tiles, and the padding flags of their rows (or None).

    tile_n = 0: dynamic tiling, one tile of exactly the routed rows. tile_n > 0: static
    tiling as in the paper, fixed [tile_n, H] tiles; the last one is zero-padded to tile_n
    rows, so it costs FLOPs, bandwidth and buffer space at its declared size.
    """
    if tile_n == 0:
        return step.accum(step.promote(part), "retile_row", rank=1), None  # [p], p <= 1
    chunks, flags = step.reshape(step.promote(part), tile_n, pad=True)  # [p, t, tile_n]
    tiles = step.flatten(step.accum(chunks, "retile_row", rank=1))
    return tiles, step.flatten(step.accum(flags, "retile_row", rank=1))  # one per tile


def _rows(y_e, flags):
    """An expert's output tiles as rows, the padding rows dropped (partition + sink)."""
    rows = step.flatten(step.flat_map(y_e, step.fn.split_rows(rows=1)))
    if flags is None:
        return rows
    pad = step.flatten(step.flat_map(flags, step.fn.split_rows(rows=1)))
    sel = step.map(step.assume_shape(pad, rows.shape), step.fn.to_selector(n=2))
    data, padding = step.partition(rows, sel, 2)
    step.sink(padding)
    return data


def moe_spatial(x, expert_idx, expert_weight, w_gate, w_up, w_down, tile_f=64, tile_n=0, compute=1):
    """One region per expert; each token tile streams its expert's weights from off-chip."""
    B, topk, E = x.shape[0].value, expert_idx.shape[1].value, w_gate.shape[0].value
    up_tile, down_tile, ft = _weight_shapes(w_gate, tile_f)
    sel_route, sel_back = _route(expert_idx, E, topk)
    rows = step.linear_offchip_load(x, (1, x.shape[1].value))
    outs = []
    for e, part in enumerate(step.partition(rows, sel_route, E)):
        tiles, flags = _token_tiles(part, tile_n)
        t1, t2, t3, t4 = step.copy(tiles, 4)
        w1 = step.linear_offchip_load(w_gate, up_tile, ref=t1, shape=(ft,), base=e * ft)
        w3 = step.linear_offchip_load(w_up, up_tile, ref=t2, shape=(ft,), base=e * ft)
        w2 = step.linear_offchip_load(w_down, down_tile, ref=t4, shape=(ft,), base=e * ft)
        outs.append(_rows(_swiglu(t3, w1, w3, w2, ft, compute), flags))
    return _combine(outs, sel_back, expert_weight, B, topk)


def moe_time_multiplexed(
    x, expert_idx, expert_weight, w_gate, w_up, w_down, tile_f=64, tile_n=0, compute=16
):
    """All experts share one region: the token tiles of every expert are merged in arrival
    order, and each tile fetches its own expert's weight blocks by address. Results go back
    to their expert in that expert's tile order, where its padding flags drop the padding."""
    B, topk, E = x.shape[0].value, expert_idx.shape[1].value, w_gate.shape[0].value
    up_tile, down_tile, ft = _weight_shapes(w_gate, tile_f)
    sel_route, sel_back = _route(expert_idx, E, topk)
    rows = step.linear_offchip_load(x, (1, x.shape[1].value))
    tiled = [_token_tiles(part, tile_n) for part in step.partition(rows, sel_route, E)]
    merged, which = step.eager_merge([tiles for tiles, _ in tiled])  # which: expert per tile
    which_w, which_back = step.copy(which)
    block0 = step.map(step.map(which_w, "selector_to_index"), step.fn.affine_index(scale=ft))
    a1, a2, a3 = step.copy(step.flat_map(block0, step.fn.arange(count=ft)), 3)
    w1 = step.random_offchip_load(w_gate, a1, up_tile)
    w3 = step.random_offchip_load(w_up, a2, up_tile)
    w2 = step.random_offchip_load(w_down, a3, down_tile)
    y = _swiglu(merged, w1, w3, w2, ft, compute)
    outs = [
        _rows(y_e, flags)
        for y_e, (_, flags) in zip(step.partition(y, which_back, E), tiled, strict=True)
    ]
    return _combine(outs, sel_back, expert_weight, B, topk)


# --- attention decode programs -------------------------------------------------------------
DECODE = baseline_module("attention_decode_static.py")  # kernel = static interleaved; attend


def decode_static_coarse(q, k_cache, v_cache, kv_len, regions=4, tile_kv=64):
    """Region r takes the r-th contiguous block of B / regions requests."""
    per_region = q.shape[0] // regions
    stores = []
    for r in range(regions):
        base = per_region * r
        q_r = step.linear_offchip_load(
            q, (q.shape[1].value, q.shape[2].value), shape=(per_region,), base=base
        )
        lens_a, lens_b = step.copy(
            step.linear_offchip_load(kv_len, (1, 1), shape=(per_region,), base=base)
        )
        ones = step.map(lens_a, step.fn.affine_index(scale=0, offset=1))
        request = step.map(step.scan(ones, "add", rank=1), step.fn.affine_index(offset=base - 1))
        stores.append(DECODE["attend"](q_r, lens_b, request, k_cache, v_cache, tile_kv))
    return stores


def decode_dynamic(q, k_cache, v_cache, kv_len, regions=4, tile_kv=64):
    """A least-loaded dispatcher (by KV length) sends each request to a region."""
    B, R, D = q.shape
    l_sched, l_data, l_idx = step.copy(step.linear_offchip_load(kv_len, (1, 1), shape=(B,)), 3)
    s_q, s_len, s_req = step.copy(
        step.scan(l_sched, step.fn.least_loaded(regions=regions), rank=1), 3
    )
    ones = step.map(l_idx, step.fn.affine_index(scale=0, offset=1))
    request = step.map(step.scan(ones, "add", rank=1), step.fn.affine_index(offset=-1))
    q_parts = step.partition(
        step.linear_offchip_load(q, (R.value, D.value), shape=(B,)), s_q, regions
    )
    len_parts = step.partition(l_data, s_len, regions)
    req_parts = step.partition(request, s_req, regions)
    return [
        DECODE["attend"](
            step.assume_shape(q_parts[r], len_parts[r].shape),
            len_parts[r],
            step.assume_shape(req_parts[r], len_parts[r].shape),
            k_cache,
            v_cache,
            tile_kv,
        )
        for r in range(regions)
    ]


# --- inputs and references -----------------------------------------------------------------
def moe_inputs(model: MoEModel, rng: np.random.Generator) -> dict[str, np.ndarray]:
    idx = np.sort(np.load(TRACES / "expert_routing" / model.trace)["data"], axis=1)
    logits = rng.normal(size=idx.shape)
    weight = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    E, H, F = model.experts, model.dim, model.inter

    def normal(*shape: int, std: float = 1.0) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    return {
        "x": normal(len(idx), H),
        "expert_idx": idx.astype(np.int64),
        "expert_weight": weight.astype(np.float32),
        "w_gate": normal(E, H, F, std=H**-0.5),
        "w_up": normal(E, H, F, std=H**-0.5),
        "w_down": normal(E, F, H, std=F**-0.5),
    }


def decode_inputs(
    lengths_file: str, rng: np.random.Generator, heads: int, dim: int, tile_kv: int
) -> dict[str, np.ndarray]:
    lengths = np.load(TRACES / "azure_kv_lengths" / lengths_file).astype(np.int64)
    capacity = -(-int(lengths.max()) // tile_kv) * tile_kv
    B = len(lengths)

    def normal(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32)

    return {
        "q": normal(B, heads, dim),
        "k_cache": normal(B, capacity, dim),
        "v_cache": normal(B, capacity, dim),
        "kv_len": lengths,
    }


def reference(fn: Callable, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return fn(**{k: torch.from_numpy(v) for k, v in inputs.items()}).numpy()


# --- the three results ---------------------------------------------------------------------
def pareto_improvement(point: tuple[float, float], baseline: list[tuple[float, float]]) -> float:
    """PID (paper): min over baseline points q of max(cycles_q / cycles_p, mem_q / mem_p)."""
    return min(max(c / point[0], m / point[1]) for c, m in baseline)


def dynamic_tiling(
    models: list[MoEModel], tiles: tuple[int, ...], check: bool, found: dict[str, dict]
) -> list[str]:
    """Result 1's table and summary lines; its ratios go into `found` (one entry each)."""
    lines = [
        "1. Dynamic vs static tiling, MoE layer (batch 64, real routing)",
        f"   {'model':15s} {'tiling':>9s} {'cycles':>9s} {'on-chip KiB':>12s}"
        f" {'token tiles KiB':>16s} {'GFLOP':>7s} {'off-chip MiB':>13s}",
    ]
    summary = []
    for model in models:
        inputs = moe_inputs(model, np.random.default_rng(0))
        expected = {"y": reference(references.moe_layer, inputs)} if check else None
        out = {"y": ((len(inputs["x"]), model.dim), "float32")}
        points, sweep_s, elements = {}, 0.0, 0.0
        for tile_n in (*tiles, 0):
            report, seconds = run(
                moe_spatial, inputs, out, {"tile_f": model.tile_f, "tile_n": tile_n}, expected
            )
            sweep_s += seconds
            elements += report.metrics.get("stream_elements", 0.0)
            label = f"tile={tile_n}" if tile_n else "dynamic"
            mem, traffic = report.metrics["onchip_bytes"], report.metrics["offchip_bytes"]
            points[label] = (report.cycles, mem)
            tokens, flops = report.metrics["token_tile_bytes"], report.metrics["flops"]
            lines.append(
                f"   {model.name:15s} {label:>9s} {report.cycles:9d} {mem / 1024:12.1f}"
                f" {tokens / 1024:16.1f} {flops / 1e9:7.3f} {traffic / 2**20:13.2f}"
            )
        dyn = points.pop("dynamic")
        pid = pareto_improvement(dyn, list(points.values()))
        faster = [m for c, m in points.values() if c <= dyn[0]]
        fastest = min(points.values())
        mem_ratio = (min(faster) if faster else fastest[1]) / dyn[1]
        basis = "static configs as fast" if faster else "the fastest static config"
        smallest = points[f"tile={tiles[0]}"][0] / dyn[0]
        key = model.name.lower()
        found[f"step_dynamic_tiling_pareto_{key}"] = {
            "ours": round(pid, 3),
            "paper": 1.33 if model.experts == 8 else 2.11,
            "note": f"Pareto improvement distance of one dynamic tile per expert over static"
            f" tiles {', '.join(map(str, tiles))} (batch 64)",
        }
        found[f"step_dynamic_tiling_onchip_memory_{key}"] = {
            "ours": round(mem_ratio, 3),
            "paper": 2.18,
            "note": f"less on-chip memory than {basis}; our total is dominated by the"
            " double-buffered weight blocks every expert region streams (same for every tiling)",
        }
        summary += [
            f"   {model.name}: Pareto improvement distance {pid:.2f}x"
            f" (paper {'1.33x' if model.experts == 8 else '2.11x'});"
            f" on-chip memory {mem_ratio:.2f}x less than {basis} (paper 2.18x)",
            f"   {model.name}: {smallest:.2f}x fewer cycles than static tile={tiles[0]};"
            f" whole sweep ({len(tiles) + 1} configs) simulated in {sweep_s:.1f} s,"
            f" {elements / sweep_s:,.0f} stream elements/s",
        ]
    return (
        lines
        + summary
        + [
            "   static tiles are zero-padded to their height (reshape(pad=True)) and charged FLOPs,",
            "   bandwidth and buffer space at that size; padding rows are dropped after the expert.",
            "   why the memory ratio differs: our total is dominated by the double-buffered weight",
            "   blocks every expert region streams (2 x [H, tile_f] per weight load, the same for",
            "   every tiling); only the token-tile column depends on the tiling. Each expert holds",
            "   one tile at a time, so small static tiles need less token memory than one dynamic",
            "   tile of all the expert's tokens, and large static tiles need more.",
            "   cycles: the layer ends with the combine (token-order reassemble, 64 B/cycle per",
            "   row), which waits for the busiest expert. In Qwen the reassemble finishes later",
            "   with dynamic tiles than with tile=16 (timeline), our reading being that the",
            "   busiest expert (42 rows) computes one 42-row tile at compute=1 where tile=16",
            "   pipelines three; so tile=16 is faster there and the Pareto gain is small.",
        ]
    )


DECODE_TRACES = [
    ("b16/conv_stdev0174_1845_1860.npy", "low"),
    ("b16/conv_stdev1974_1487_1502.npy", "high"),
    ("b64/conv_stdev0477_0271_0334.npy", "low"),
    ("b64/conv_stdev1457_0961_1024.npy", "high"),
]


def region_imbalance(lengths: np.ndarray, tile_kv: int, regions: int = 4) -> list[float]:
    """Busiest region's KV tiles over the mean, for the three assignments (explains cycles)."""
    tiles = -(-lengths // tile_kv)
    per = len(tiles) // regions
    greedy = np.zeros(regions)
    for work in tiles:  # what scan(least_loaded) does
        greedy[np.argmin(greedy)] += work
    loads = (
        [tiles[r::regions].sum() for r in range(regions)],
        [tiles[r * per : (r + 1) * per].sum() for r in range(regions)],
        greedy,
    )
    return [max(load) / (tiles.sum() / regions) for load in loads]


PAPER_PARALLEL = {"low": [1.14, 1.26], "high": [1.47, 1.57]}
"""Dynamic parallelization over static interleaved, by KV-length spread (paper)."""


def dynamic_parallelization(
    traces: list[tuple[str, str]], check: bool, found: dict[str, dict]
) -> list[str]:
    """Result 2's table and notes; its ratios go into `found` (one entry each)."""
    heads, dim, tile_kv = 8, 64, 64  # Qwen3-30B-A3B: 8 query heads per KV head, head dim 64
    lines = [
        "2. Dynamic parallelization, attention decode (Azure KV lengths, 4 regions)",
        f"   {'batch':>5s} {'spread':>6s} {'interleaved':>12s} {'coarse':>9s}"
        f" {'dynamic':>9s} {'vs interleaved':>15s} {'vs coarse':>10s}"
        "   busiest region / mean (interleaved / coarse / dynamic)",
    ]
    for file, spread in traces:
        inputs = decode_inputs(file, np.random.default_rng(1), heads, dim, tile_kv)
        expected = {"out": reference(references.attention_decode_ragged, inputs)} if check else None
        out = {"out": (inputs["q"].shape, "float32")}
        cycles = [
            run(kernel, inputs, out, {"tile_kv": tile_kv}, expected)[0].cycles
            for kernel in (DECODE["kernel"], decode_static_coarse, decode_dynamic)
        ]
        balance = " / ".join(f"{b:.2f}" for b in region_imbalance(inputs["kv_len"], tile_kv))
        key = f"step_dynamic_parallelization_b{len(inputs['kv_len'])}_{spread}"
        found[f"{key}_vs_interleaved"] = {
            "ours": round(cycles[0] / cycles[2], 3),
            "paper": PAPER_PARALLEL[spread],
            "note": f"4 regions, least-loaded dispatcher (no feedback edge); busiest region's"
            f" KV tiles over the mean (interleaved / coarse / dynamic): {balance}",
        }
        found[f"{key}_vs_coarse"] = {
            "ours": round(cycles[1] / cycles[2], 3),
            "paper": 2.72 if len(inputs["kv_len"]) == 16 else None,
            "note": "static coarse-grained split (contiguous quarters of the batch)",
        }
        lines.append(
            f"   {len(inputs['kv_len']):5d} {spread:>6s} {cycles[0]:12d}"
            f" {cycles[1]:9d} {cycles[2]:9d} {cycles[0] / cycles[2]:14.2f}x"
            f" {cycles[1] / cycles[2]:9.2f}x   {balance}"
        )
    return lines + [
        "   paper: 1.14-1.26x (low spread) and 1.47-1.57x (high spread) vs interleaved;"
        " 2.72x vs coarse at batch 16",
        "   our approximation of the paper's dispatcher: the paper sends each request to the",
        "   first region to signal 'free' (a feedback edge from the regions, after a",
        "   round-robin first wave). Graphs here are acyclic, so we predict instead: a",
        "   scan(least_loaded) over the KV lengths, in arrival order, sends each request to",
        "   the region with the least KV work so far, i.e. the region that would be free first",
        "   if time were proportional to KV length. It is an online greedy like the paper's:",
        "   a long request arriving last cannot be balanced, so on the batch-16 high-spread",
        "   trace it loads the busiest region more than interleaving does (last column; cycles",
        "   follow the busiest region's KV tiles).",
    ]


def time_multiplexing(
    model: MoEModel, check: bool, tilings: tuple[int, ...], found: dict[str, dict]
) -> list[str]:
    """One region per expert (compute 1 each) against one shared region of `compute` tiles;
    the utilization gains go into `found` (one entry each)."""
    lines = [
        f"3. Configuration time-multiplexing, {model.name} MoE layer (batch 64): one"
        " region per expert vs one shared region",
        f"   {'tiling':>8s} {'layout':>16s} {'cycles':>8s} {'compute':>8s} {'util':>7s}"
        f" {'util gain':>10s} {'slowdown':>9s}",
    ]
    inputs = moe_inputs(model, np.random.default_rng(0))
    expected = {"y": reference(references.moe_layer, inputs)} if check else None
    out = {"y": ((len(inputs["x"]), model.dim), "float32")}
    for tile_n in tilings:
        tiling = "dynamic" if tile_n == 0 else f"tile={tile_n}"
        base = None
        for kernel, compute in (
            (moe_spatial, 1),
            (moe_time_multiplexed, 4),
            (moe_time_multiplexed, 16),
        ):
            params = {"tile_f": model.tile_f, "tile_n": tile_n, "compute": compute}
            report, _ = run(kernel, inputs, out, params, expected)
            util, alloc = report.metrics["compute_utilization"], report.metrics["allocated_compute"]
            layout = (
                f"{model.experts} regions x 1" if kernel is moe_spatial else f"shared, {compute:2d}"
            )
            gain = slow = ""
            if base is None:
                base = (report.cycles, util)
            else:
                gain, slow = f"{util / base[1]:9.2f}x", f"{report.cycles / base[0]:8.2f}x"
                key = f"{tiling.replace('=', '')}_compute{compute}"
                found[f"step_time_multiplexing_util_gain_{key}"] = {
                    "ours": round(util / base[1], 3),
                    "paper": [2.51, 2.64],
                    "note": f"{model.name}: one shared region of {compute} compute tiles vs"
                    f" {model.experts} regions x 1; {report.cycles / base[0]:.2f}x the cycles",
                }
            lines.append(
                f"   {tiling:>8s} {layout:>16s} {report.cycles:8d} {alloc:8.0f}"
                f" {util:7.2%} {gain:>10s} {slow:>9s}"
            )
    return lines + [
        "   paper: 2.51-2.64x higher compute utilization, <1% (static) / ~5% (dynamic) slower",
        "   note: a compute tile reads streamed weights through its 64 B/cycle memory port, so",
        "   the shared region needs ~16 tiles to keep pace with HBM (1024 B/cycle); the",
        "   per-expert regions (each mostly idle) are what time-multiplexing reclaims.",
        "   Static tiles are padded; dropping the padding rows costs 3 ops per expert (retile",
        "   and split the flags, flag -> selector), and the simulator gives every map/accum/",
        "   flat_map a compute unit, so both static layouts carry 3 x experts more units,",
        "   which shrinks the static util gain.",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer configurations and no functional check (a smoke run)",
    )
    parser.add_argument(
        "--results",
        default="1,2,3",
        help="which results to run, e.g. --results 1 (default: all three)",
    )
    parser.add_argument("--json", action="store_true", help="one object per result, no tables")
    args = parser.parse_args(argv)
    check = not args.quick  # --quick skips the functional check against PyTorch
    models = MODELS[:1] if args.quick else MODELS
    start = time.perf_counter()
    tiles = STATIC_TILES[1:3] if args.quick else STATIC_TILES
    traces = DECODE_TRACES[:2] if args.quick else DECODE_TRACES
    found: dict[str, dict] = {}
    sections = {
        "1": lambda: dynamic_tiling(models, tiles, check, found),
        "2": lambda: dynamic_parallelization(traces, check, found),
        "3": lambda: time_multiplexing(MODELS[1], check, (0,) if args.quick else (16, 0), found),
    }
    chosen = [r.strip() for r in args.results.split(",")]
    unknown = [r for r in chosen if r not in sections]
    if unknown:
        parser.error(f"--results: unknown result {unknown[0]!r} (choose from 1, 2, 3)")
    for r in chosen:
        lines = sections[r]()
        if not args.json:
            print("\n".join(lines) + "\n", flush=True)
    if args.json:
        print(json.dumps(found, indent=2))
        return
    print(f"total {time.perf_counter() - start:.0f} s (one process, one core)")


if __name__ == "__main__":
    main()
