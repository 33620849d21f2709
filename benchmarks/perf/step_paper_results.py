"""The STeP paper's three results, measured side by side on the real traces.

    python -m benchmarks.perf.step_paper_results [--quick] [--results 1,2,3] [--json]

1. Dynamic vs static tiling of MoE layers (Mixtral-8x7B and Qwen3-30B-A3B routing traces,
   batch 64): a static-tiling sweep (fixed tiles of 8..64 tokens per expert, the last one
   zero-padded, one region per expert: the paper's Revet-expressible baseline) against one
   dynamic tile per expert. Paper (ASPLOS'26, Fig. 9): Pareto improvement distance 1.33x
   (Mixtral) / 2.11x (Qwen); arXiv v1 (Fig. 6): 2.18x less on-chip memory than tile=64.
   On-chip memory is the simulator's (`interpreter/step/onchip.py`): statically sized
   buffers are reserved for every region whether it runs or not, dynamically sized ones
   allocated on demand — the accounting behind the paper's Fig. 9; arXiv v1 counted only the
   regions that run for both (`onchip_on_demand_bytes`), which is what its 2.18x compares.
2. Dynamic parallelization of attention decode: `benchmarks.step_paper.dynamic_parallel`.
3. Configuration time-multiplexing of the Qwen MoE layer: all experts share one region
   (eager_merge + random weight reads) instead of one region each. Paper: 2.51-2.64x
   higher compute utilization.

Every number comes from the trusted simulator (`interpreter.step`) on the step_default
target; every program is also run functionally and checked against the PyTorch reference
(not with --quick). MoE layer sizes are the models' divided by 8 (as the artifact's
`Smaller*` configs) so that a run takes minutes on one core; the memory ratios do not depend
on the hidden size (it scales weight and token buffers alike). Routing is the real trace.

Each result is a producer in `PRODUCERS` (key -> (title, fn(quick, check, found) -> table
lines)), so a result can live in its own module. `--json` prints one object per result
instead of the tables, `{"name": {"ours": x, "paper": y, "note": "..."}}`; `paper` is a
number, a [low, high] range, or null where the paper gives no figure for that configuration.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.step import references
from benchmarks.step.generators import TRACES
from benchmarks.step_paper import dynamic_parallel
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
WEIGHTS = ("w_gate", "w_up", "w_down")


# --- running a kernel ------------------------------------------------------------------
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
    weights = [  # the expert weight blocks every tiling streams
        report.per_op[n.label()]
        for n in program.nodes
        if n.op in ("linear_offchip_load", "random_offchip_load") and n.attrs["tensor"] in WEIGHTS
    ]
    for key in ("onchip_bytes", "onchip_on_demand_bytes"):
        report.metrics[f"weight_{key}"] = float(sum(w[key] for w in weights))
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


def reference(fn: Callable, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return fn(**{k: torch.from_numpy(v) for k, v in inputs.items()}).numpy()


# --- the three results ---------------------------------------------------------------------
def pareto_improvement(point: tuple[float, float], baseline: list[tuple[float, float]]) -> float:
    """PID (paper): min over baseline points q of max(cycles_q / cycles_p, mem_q / mem_p)."""
    return min(max(c / point[0], m / point[1]) for c, m in baseline)


PAPER_PID = {8: 1.33, 128: 2.11}  # by number of experts: Mixtral, Qwen (ASPLOS'26 Fig. 9)
PAPER_V1_MEMORY = 2.18  # arXiv v1: less on-chip memory than static tile=64 (both models)


@dataclass
class TilingPoint:
    """One configuration of the sweep: cycles, on-chip bytes under both lifetimes (reserved
    static buffers / everything on demand), and the expert weight blocks' part of each."""

    cycles: int
    reserved: float
    on_demand: float
    weights: float  # of `reserved`
    weights_on_demand: float = 0.0  # of `on_demand`


PAPER_BLOCK = 64 * 2  # the artifact's weight blocks: tile_F = 64 columns of bfloat16


def with_paper_blocks(mem: float, weights: float, model: MoEModel) -> float:
    """`mem` with each weight block at the paper's size: the artifact loads [H, 64] blocks
    as bfloat16 (`mock_bf16`); ours are [H, tile_f] float32 (the inputs' own dtype)."""
    return mem - weights * (1 - PAPER_BLOCK / (model.tile_f * 4))


def sweep(model: MoEModel, tiles: tuple[int, ...], check: bool, lines: list[str]) -> dict:
    """Every static tile size and the dynamic tile (key 0) on the model's trace; a table row
    per configuration goes into `lines`."""
    inputs = moe_inputs(model, np.random.default_rng(0))
    expected = {"y": reference(references.moe_layer, inputs)} if check else None
    out = {"y": ((len(inputs["x"]), model.dim), "float32")}
    points = {}
    for tile_n in (*tiles, 0):
        params = {"tile_f": model.tile_f, "tile_n": tile_n}
        report, _ = run(moe_spatial, inputs, out, params, expected)
        m = report.metrics
        points[tile_n] = TilingPoint(
            report.cycles,
            m["onchip_bytes"],
            m["onchip_on_demand_bytes"],
            m["weight_onchip_bytes"],
            m["weight_onchip_on_demand_bytes"],
        )
        lines.append(
            f"   {model.name:15s} {f'tile={tile_n}' if tile_n else 'dynamic':>9s}"
            f" {report.cycles:9d} {m['onchip_bytes'] / 1024:11.0f}"
            f" {m['onchip_on_demand_bytes'] / 1024:10.0f} {m['weight_onchip_bytes'] / 1024:10.0f}"
            f" {m['flops'] / 1e9:7.3f} {m['offchip_bytes'] / 2**20:9.2f}"
        )
    return points


def v1_memory(model: MoEModel, points: dict[int, TilingPoint]) -> tuple[float, float]:
    """arXiv v1's ratio: static tile=64's on-chip bytes over dynamic's, only the regions that
    run counted; and the same with the paper's weight blocks."""
    s64, dyn = points[64], points[0]
    paper = with_paper_blocks(s64.on_demand, s64.weights_on_demand, model)
    paper /= with_paper_blocks(dyn.on_demand, dyn.weights_on_demand, model)
    return s64.on_demand / dyn.on_demand, paper


def tiling_entries(model: MoEModel, points: dict[int, TilingPoint], found: dict) -> list[str]:
    """The Pareto and memory entries of one model, and the lines saying what sets them."""
    dyn = points[0]
    static = {t: p for t, p in points.items() if t}
    ratios = {t: (p.cycles / dyn.cycles, p.reserved / dyn.reserved) for t, p in static.items()}
    pid = pareto_improvement(
        (dyn.cycles, dyn.reserved), [(p.cycles, p.reserved) for p in static.values()]
    )
    best = min(ratios, key=lambda t: max(ratios[t]))
    key = model.name.lower()
    paper = PAPER_PID[model.experts]
    c, m = ratios[best]
    paper_m = with_paper_blocks(static[best].reserved, static[best].weights, model)
    paper_m /= with_paper_blocks(dyn.reserved, dyn.weights, model)
    found[f"step_dynamic_tiling_pareto_{key}"] = {
        "ours": round(pid, 3),
        "paper": paper,
        "note": f"Pareto improvement distance over static tiles {', '.join(map(str, static))}"
        f" (batch 64), set by tile={best}: {c:.2f}x the cycles, {m:.2f}x the on-chip memory"
        " (static buffers reserved for every expert region, dynamic tiles on demand);"
        f" {paper_m:.2f}x the memory with the paper's weight blocks ([H, 64] bfloat16)",
    }
    lines = [
        f"   {model.name}: Pareto improvement distance {pid:.2f}x (paper {paper}x), set by"
        f" tile={best} ({c:.2f}x the cycles, {m:.2f}x the memory of dynamic)",
        f"   {model.name}: weight blocks are {static[best].weights / static[best].reserved:.0%}"
        f" of tile={best}'s and {dyn.weights / dyn.reserved:.0%} of dynamic's on-chip bytes;"
        f" ours are [H, {model.tile_f}] float32, the paper's [H, 64] bfloat16: with its"
        f" blocks the tile={best} memory ratio is {paper_m:.2f}x",
    ]
    if 64 in static:
        v1, v1_paper = v1_memory(model, points)
        found[f"step_dynamic_tiling_onchip_memory_{key}"] = {
            "ours": round(v1, 3),
            "paper": PAPER_V1_MEMORY,
            "note": "arXiv v1: on-chip memory of static tile=64 over dynamic, counting only the"
            f" regions that run (paper 2.18x is over both models); {v1_paper:.2f}x with the"
            " paper's weight blocks ([H, 64] bfloat16)",
        }
        lines.append(
            f"   {model.name}: on-chip memory {v1:.2f}x less than tile=64, regions that run"
            f" only (arXiv v1; paper {PAPER_V1_MEMORY}x over both models); {v1_paper:.2f}x"
            " with the paper's weight blocks"
        )
    return lines


def dynamic_tiling(quick: bool, check: bool, found: dict[str, dict]) -> list[str]:
    """Result 1: the sweep of both models, their Pareto and memory entries, and (both models
    run) the v1 memory figure over both."""
    models = MODELS[:1] if quick else MODELS
    tiles = (32, 64) if quick else STATIC_TILES
    lines = [
        "1. Dynamic vs static tiling, MoE layer (batch 64, real routing)",
        f"   {'model':15s} {'tiling':>9s} {'cycles':>9s} {'on-chip KiB':>11s}"
        f" {'on demand':>10s} {'weights':>10s} {'GFLOP':>7s} {'off-chip':>9s}",
    ]
    summary, v1 = [], []
    for model in models:
        points = sweep(model, tiles, check, lines)
        summary += tiling_entries(model, points, found)
        if 64 in points:
            v1.append(v1_memory(model, points))
    if len(v1) == len(MODELS):
        mean, paper_mean = np.exp(np.mean(np.log(v1), axis=0))
        found["step_dynamic_tiling_onchip_memory"] = {
            "ours": round(float(mean), 3),
            "paper": PAPER_V1_MEMORY,
            "note": "arXiv v1 headline: geometric mean over Mixtral and Qwen of static tile=64's"
            " on-chip memory over dynamic's, counting only the regions that run;"
            f" {paper_mean:.2f}x with the paper's weight blocks",
        }
        summary.append(
            f"   both models: {mean:.2f}x less on-chip memory than tile=64 (paper 2.18x);"
            f" {paper_mean:.2f}x with the paper's weight blocks"
        )
    return (
        lines
        + summary
        + [
            "   on-chip KiB: statically sized buffers reserved for every expert region, used or",
            "   not, at their declared (padded) size; dynamic tiles, and the buffers they reach,",
            "   allocated when their region runs (paper Fig. 9). 'on demand': every buffer",
            "   allocated when its op runs (arXiv v1's count). off-chip in MiB.",
            "   Static tiles are zero-padded and charged FLOPs, bandwidth and buffer space at",
            "   their declared size; padding rows are dropped after the expert.",
        ]
    )


def time_multiplexing(quick: bool, check: bool, found: dict[str, dict]) -> list[str]:
    """Result 3, on Qwen: one region per expert (compute 1 each) against one shared region
    of `compute` tiles; the utilization gains go into `found` (one entry each)."""
    model, tilings = MODELS[1], (0,) if quick else (16, 0)
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


Producer = Callable[[bool, bool, dict[str, dict]], list[str]]
PRODUCERS: dict[str, tuple[str, Producer]] = {
    "1": ("dynamic tiling", dynamic_tiling),
    "2": ("dynamic parallelization", dynamic_parallel.results),
    "3": ("configuration time-multiplexing", time_multiplexing),
}
"""Result key -> (title, producer). A producer takes (quick, check, found), fills `found`
with its JSON entries and returns its table lines; add a result by adding a producer."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer configurations and no functional check (a smoke run)",
    )
    parser.add_argument(
        "--results",
        default=",".join(PRODUCERS),
        help="which results to run, e.g. --results 1 (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="one object per result, no tables")
    args = parser.parse_args(argv)
    check = not args.quick  # --quick skips the functional check against PyTorch
    start = time.perf_counter()
    found: dict[str, dict] = {}
    chosen = [r.strip() for r in args.results.split(",")]
    unknown = [r for r in chosen if r not in PRODUCERS]
    if unknown:
        known = ", ".join(f"{k} ({title})" for k, (title, _) in PRODUCERS.items())
        parser.error(f"--results: unknown result {unknown[0]!r} (choose from {known})")
    for r in chosen:
        lines = PRODUCERS[r][1](args.quick, check, found)
        if not args.json:
            print("\n".join(lines) + "\n", flush=True)
    if args.json:
        print(json.dumps(found, indent=2))
        return
    print(f"total {time.perf_counter() - start:.0f} s (one process, one core)")


if __name__ == "__main__":
    main()
