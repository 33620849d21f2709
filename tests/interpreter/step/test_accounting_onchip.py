"""On-chip memory as the STeP paper counts it (`interpreter/step/onchip.py`): which buffers
each op holds, and which lifetimes — statically sized buffers reserved whether their op runs
or not, dynamically sized ones (and what they reach) on demand. Numbers by hand."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.perf import step_paper_results as paper
from dsl import step
from dsl.step import load_ir
from dsl.step.symbolic import Expr
from dsl.step.types import Buffer, Selector, Tile, TupleT, tile
from interpreter.step import BACKEND
from interpreter.step.onchip import on_demand, type_bytes
from tests.dsl.step.helpers import signature

TARGET = {"name": "t", "budget": {"onchip_bytes": 1 << 30}}
E, B, H, F, TILE_F = 4, 6, 16, 32, 16


def _per_op(report, op: str) -> list[float]:
    return [v["onchip_bytes"] for k, v in report.per_op.items() if k.startswith(op + " ")]


def test_each_op_holds_its_buffers() -> None:
    """[8, 16] float32 tiles (512 B): the load, streamify, the map and the accumulator hold
    one, bufferize one in flight plus its 4-tile buffer twice, the store one [8, 1] row sum."""
    sig = signature({"x": ("float32", [32, 16])}, {"y": ("float32", [8, 1])})

    def kernel(x):
        buf = step.bufferize(step.linear_offchip_load(x, (8, 16), shape=(1, 4)), rank=1)
        total = step.accum(step.map(step.streamify(buf), "exp"), "add", rank=1)
        return step.linear_offchip_store(step.map(total, "row_sum"), "y")

    program = load_ir(step.trace(kernel, sig))
    report = BACKEND.simulate(program, {"x": np.ones((32, 16), np.float32)}, {}, TARGET)
    assert _per_op(report, "linear_offchip_load") == [512]
    assert _per_op(report, "bufferize") == [512 + 2 * 2048]
    assert _per_op(report, "streamify") == [512]
    assert _per_op(report, "map") == [512, 32]  # exp [8, 16]; row_sum [8, 1]
    assert _per_op(report, "accum") == [512]
    assert _per_op(report, "linear_offchip_store") == [32]
    assert report.metrics["onchip_bytes"] == 512 * 4 + 4608 + 32 * 2
    assert report.metrics["onchip_on_demand_bytes"] == report.metrics["onchip_bytes"]


def _moe_inputs() -> dict[str, np.ndarray]:
    """Six tokens, top-2 over experts 0-2: expert 3 gets none."""
    rng = np.random.default_rng(5)
    idx = np.array([[0, 1], [0, 2], [1, 2], [0, 1], [0, 2], [1, 2]], dtype=np.int64)
    w = rng.random((B, 2)).astype(np.float32)
    return {
        "x": rng.normal(size=(B, H)).astype(np.float32),
        "expert_idx": idx,
        "expert_weight": w / w.sum(axis=1, keepdims=True),
        "w_gate": rng.normal(size=(E, H, F)).astype(np.float32),
        "w_up": rng.normal(size=(E, H, F)).astype(np.float32),
        "w_down": rng.normal(size=(E, F, H)).astype(np.float32),
    }


def _moe(tile_n: int):
    inputs = _moe_inputs()
    out = {"y": ((B, H), "float32")}
    report, _ = paper.run(
        paper.moe_spatial, inputs, out, {"tile_f": TILE_F, "tile_n": tile_n}, None
    )
    return report


def test_a_static_region_keeps_its_buffers_when_no_token_comes() -> None:
    """Static tiles of 4 rows: expert 3's region never runs, yet its buffers are reserved at
    their declared sizes — token tile [4, 16] f32 (256) and its padding flags [4, 1] int64
    (32), the repeated tile (256), three weight blocks [16, 16] (3 x 1024), four maps writing
    [4, 16] (4 x 256), the down-projection accumulator (256), a split row [1, 16] (64), a
    split flag (8) and its selector over 2 (1)."""
    report = _moe(4)
    unused = 256 + 32 + 256 + 3 * 1024 + 4 * 256 + 256 + 64 + 8 + 1
    m = report.metrics
    assert m["onchip_bytes"] - m["onchip_on_demand_bytes"] == unused
    assert _per_op(report, "linear_offchip_load").count(1024) == 3 * E  # every weight block


def test_a_dynamic_region_allocates_nothing_when_no_token_comes() -> None:
    """One dynamic tile per expert: expert 3's tile has no size until tokens arrive, and its
    weight loads hang off it, so its region holds nothing; the busiest expert (4 tokens)
    holds a [4, 16] tile in its accumulator, its repeat and its down projection."""
    report = _moe(0)
    m = report.metrics
    assert m["onchip_bytes"] == m["onchip_on_demand_bytes"]
    loads = _per_op(report, "linear_offchip_load")
    assert loads.count(1024) == 3 * (E - 1) and loads.count(0) == 3  # expert 3's: none
    assert max(_per_op(report, "repeat")) == 4 * H * 4


def test_dynamic_sizes_reach_downstream_ops_only() -> None:
    """In the dynamic MoE, each expert's tile has as many rows as tokens came: its weight
    loads (driven by it) are on demand; the routing upstream of it is static."""
    inputs = _moe_inputs()
    sig = signature(
        {k: (str(v.dtype), v.shape) for k, v in inputs.items()},
        {"y": ("float32", (B, H))},
        params={"tile_f": TILE_F, "tile_n": 0},
    )
    program = step.build(paper.moe_spatial, sig)
    dynamic = on_demand(program)
    loads = {n.id: n.attrs["tensor"] for n in program.nodes if n.op == "linear_offchip_load"}
    assert {t for i, t in loads.items() if i in dynamic} == set(paper.WEIGHTS)
    assert {t for i, t in loads.items() if i not in dynamic} == {"x", "expert_idx", "expert_weight"}
    assert not any(n.id in dynamic for n in program.nodes if n.op == "partition")


@pytest.mark.parametrize(
    ("elem", "size"),
    [
        (tile("float32", 8, 16), 512.0),
        (tile("bfloat16", 8, 16), 256.0),
        (Selector(20), 3.0),
        (Buffer(tile("float32", 2, 2), (Expr.of(3), Expr.of(4))), 16.0 * 12),
        (TupleT((tile("int64", 1, 1), Selector(8))), 9.0),
        (Tile("float32", Expr.sym("n"), Expr.of(4)), None),
        (Buffer(tile("float32", 2, 2), (Expr.sym("n"),)), None),
    ],
)
def test_declared_sizes(elem, size) -> None:
    assert type_bytes(elem) == size
