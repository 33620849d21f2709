"""Builder errors: each names the op, the port and what disagreed, at the user's line."""

from __future__ import annotations

import pytest

from dsl import step
from dsl.errors import ProgramError
from tests.dsl.step.helpers import signature

SIG = signature(
    {"x": ("float32", ["M", 64]), "w": ("float32", [64, 32]), "ids": ("int64", ["M", 2])},
    {"y": ("float32", ["M", 32])},
    {"M": None},
)


def _build(kernel) -> step.Program:
    return step.build(kernel, SIG)


def _error(kernel) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        _build(kernel)
    return info.value


def test_handles_carry_type_and_symbolic_shape() -> None:
    seen = {}

    def kernel(x, w, ids):
        t = step.linear_offchip_load(x, (16, 64))
        seen["t"] = t
        wt = step.linear_offchip_load(w, (64, 32), ref=step.copy(t)[0], shape=(1,))
        return step.linear_offchip_store(step.map([step.copy(t)[1], wt], "matmul"), "y")

    err = _error(kernel)  # t consumed twice (two copies of the same handle)
    assert "already consumed" in str(err) and "linear_offchip_load (node 0" in str(err)
    assert str(seen["t"].elem) == "Tile<float32>[16, 64]"
    assert [str(d) for d in seen["t"].shape] == ["cdiv(M, 16)", "1"]


def test_shape_disagreement_names_op_and_port() -> None:
    def kernel(x, w, ids):
        a = step.linear_offchip_load(x, (16, 64))
        b = step.linear_offchip_load(w, (64, 32))
        return step.linear_offchip_store(step.map([a, b], "matmul"), "y")

    err = _error(kernel)
    assert str(err).startswith("line ") and "map input 'x1'" in str(err)
    assert "[1, 1]" in str(err) and "cdiv(M, 16)" in str(err)


def test_inner_dim_mismatch_of_matmul() -> None:
    def kernel(x, w, ids):
        a = step.linear_offchip_load(x, (16, 32))
        b = step.linear_offchip_load(
            w, (64, 32), shape=(step.cdiv(x.shape[0], 16), 2), stride=(0, 0)
        )
        return step.linear_offchip_store(step.map([a, b], "matmul"), "y")

    assert "inner dims differ" in str(_error(kernel))


def test_unknown_function_and_bad_parameters() -> None:
    def unknown(x, w, ids):
        return step.map(step.linear_offchip_load(x, (16, 64)), "softmaxx")

    assert "unknown map function 'softmaxx'" in str(_error(unknown))

    def bad_param(x, w, ids):
        return step.map(step.linear_offchip_load(x, (16, 64)), step.fn.scale(factor="2"))

    assert "factor" in str(_error(bad_param))
    with pytest.raises(AttributeError, match="unknown element function"):
        step.fn.not_a_function()


def test_stream_never_used_names_its_producer() -> None:
    def kernel(x, w, ids):
        step.linear_offchip_load(w, (64, 32))
        t = step.linear_offchip_load(x, (1, 32), shape=(x.shape[0], 1), stride=(2, 1))
        return step.linear_offchip_store(t, "y")

    assert "never consumed: output 0 of linear_offchip_load (node 0" in str(_error(kernel))


def test_output_never_stored_and_bad_return() -> None:
    def kernel(x, w, ids):
        t = step.linear_offchip_load(x, (1, 32), shape=(x.shape[0], 1), stride=(2, 1))
        return step.map(t, "exp")

    assert "must return the store handle" in str(_error(kernel))


def test_store_checks_tile_grid_and_dtype() -> None:
    def kernel(x, w, ids):
        return step.linear_offchip_store(step.linear_offchip_load(x, (16, 32)), "y")

    assert "is a tile grid [cdiv(M, 16), 1]" in str(_error(kernel))

    def wrong_dtype(x, w, ids):
        t = step.linear_offchip_load(ids, (1, 32), shape=(x.shape[0], 1), stride=(1, 1))
        return step.linear_offchip_store(t, "y")

    assert "int64 differs" in str(_error(wrong_dtype))


def test_rank_arguments_are_range_checked() -> None:
    def kernel(x, w, ids):
        return step.accum(step.linear_offchip_load(x, (16, 64)), "add", rank=3)

    assert "rank=3 out of range 1..1" in str(_error(kernel))


def test_partition_selector_shape_must_match() -> None:
    def kernel(x, w, ids):
        rows = step.linear_offchip_load(x, (1, 64))
        sel = step.map(step.linear_offchip_load(ids, (1, 2)), step.fn.to_selector(n=4))
        parts = step.partition(rows, sel, 4, rank=1)
        return parts

    assert "sel shape [M, 1] must equal x's outer dims [M]" in str(_error(kernel))


def test_load_from_an_output_or_unknown_tensor() -> None:
    def kernel(x, w, ids):
        return step.linear_offchip_store(step.linear_offchip_load(x, (1, 32)), "nope")

    assert "no task output named 'nope'" in str(_error(kernel))


def test_reference_moe_program_builds_fresh_dims() -> None:
    seen = {}

    def kernel(x, w, ids):
        rows = step.linear_offchip_load(x, (1, 64))
        sel_a, sel_b = step.copy(
            step.map(step.linear_offchip_load(ids, (1, 2)), step.fn.to_selector(n=2))
        )
        parts = step.partition(rows, sel_a, 2)
        seen["parts"] = parts
        tiles = [step.accum(step.promote(p), "retile_row", rank=1) for p in parts]
        seen["tile"] = tiles[0]
        back = [step.flatten(step.flat_map(t, step.fn.split_rows(rows=1))) for t in tiles]
        out = step.accum(step.reassemble(back, sel_b), "add", rank=1)
        wt = step.linear_offchip_load(w, (64, 32), shape=(x.shape[0], 1), stride=(0, 0))
        return step.linear_offchip_store(step.map([out, wt], "matmul"), "y")

    _build(kernel)
    assert str(seen["parts"][0].shape[0]) == "n4_1"
    assert str(seen["tile"].elem) == "Tile<float32>[n4_1, 64]"


def test_symbol_table_lists_every_symbol_in_first_use_order() -> None:
    """The builder notes the symbols of an op's outputs only when they can be new (a fresh
    symbol, a dim attribute): the table must equal a walk over every tensor and output."""

    def kernel(x, w, ids):
        rows = step.linear_offchip_load(x, (1, 64))
        sel_a, sel_b = step.copy(
            step.map(step.linear_offchip_load(ids, (1, 2)), step.fn.to_selector(n=2))
        )
        tiles = [
            step.accum(step.promote(p), "retile_row", rank=1)
            for p in step.partition(rows, sel_a, 2)
        ]
        back = [step.flatten(step.flat_map(t, step.fn.split_rows(rows=1))) for t in tiles]
        out = step.accum(step.reassemble(back, sel_b), "add", rank=1)
        out = step.accum(step.repeat(out, "K"), "add", rank=1)  # K: only in an attribute
        wt = step.linear_offchip_load(w, (64, 32), shape=(x.shape[0], 1), stride=(0, 0))
        return step.linear_offchip_store(step.map([out, wt], "matmul"), "y")

    program = step.build(kernel, dict(SIG, dims={"M": None, "K": None}))
    walked: dict[str, str] = {}
    dims = [d for t in program.tensors.values() for d in t.shape]
    for n in program.nodes:
        for t in n.outputs:
            dims += list(t.shape) + ([t.elem.rows, t.elem.cols] if hasattr(t.elem, "rows") else [])
    for d in dims:
        walked.update((s.name, s.kind) for s in d.symbols())
    assert list(program.symbols.items()) == list(walked.items())
    assert {"M", "K", "n4_1", "n4_2"} <= set(walked) and any(v == "ragged" for v in walked.values())
