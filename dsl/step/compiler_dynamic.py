"""The builtin STeP compiler's lowerings of row-tiled specs whose REDUCED dim is symbolic.

Row tiling (`compiler.py`) needs every dim but the streamed row dim static. Two spec shapes
reduce over a symbolic dim instead, and get a dynamic number of tiles here:

- `softmax` of an input whose row LENGTH (last dim) is symbolic: column tiles, a max pass
  and an exp / sum pass over the tiles kept on chip, then the division;
- attention over a symbolic number of keys (`matmul(q, k, transpose_b)`, optional `scale`,
  `softmax`, `matmul(p, v)` with k, v `[T, D]`, T symbolic): key blocks, the scores of one
  query tile kept on chip between the max pass and the exp / sum pass.

A symbolic length is not known to the program as a value, and the last tile of a symbolic
dim is zero-padded, which softmax must not see (exp(0 - max) is not 0). So the lowering
COUNTS the length on chip (one `[1, 1]` read per element of one column, summed) and masks
each tile's columns past it (`mask_after`): correct for any length, at the price of that
one extra pass over a column.
"""

from __future__ import annotations

from dsl.errors import NotCovered

TILE_COLS = (16, 32, 64, 128)


def dynamic_lowering(task, rows: str, tile_rows: int) -> str | None:
    """Program text when `task`'s ops reduce over a symbolic dim this module lowers; None when
    the spec has no symbolic reduced dim (row tiling handles it); NotCovered otherwise."""
    ops, outer = task.spec["ops"], {rows, *task.spec.get("batch", ())}
    if all(
        isinstance(d, int) or d in outer or task.dims.get(d) is not None
        for t in task.inputs
        for d in t.shape
    ):
        return None
    names = [op.get("op") for op in ops]
    if names == ["softmax"] and len(task.inputs) == 1:
        return _softmax_columns(task, rows, tile_rows)
    if names in (["matmul", "scale", "softmax", "matmul"], ["matmul", "softmax", "matmul"]):
        return _blocked_attention(task, rows, tile_rows)
    return None  # row tiling refuses it, naming the symbolic dim


def _count_lines(src: str, reads: str, out: str) -> list[str]:
    """Lines that leave in `out` an int64 [1, 1] per outer element: the symbolic length that
    `reads` (a linear_offchip_load argument list over one column) walks."""
    return [
        f"# the symbolic length as a value: one [1, 1] read per element of {src}'s first column",
        f"col = step.linear_offchip_load({reads})",
        "ones = step.map(step.map(col, step.fn.scale(factor=0.0)), step.fn.add_scalar(value=1.0))",
        f"{out} = step.map(step.accum(ones, 'add', rank=1), step.fn.cast(dtype='int64'))",
    ]


def _valid_lines(count: str, tile: str, grid: str) -> list[str]:
    """Lines that turn `count` (int64 [1, 1] per outer element) into `valid`: for tile j of
    the inner dim, how many of its columns are real (count - tile * j), shaped `grid`."""
    return [
        f"n1, n2, n3, n4 = step.copy({count}, 4)",
        "first = step.map(n1, step.fn.affine_index(scale=0))",
        f"tiles = step.map(n2, step.fn.ceil_div(divisor={tile}))",
        "j1, j2 = step.copy(step.flat_map(step.map([first, tiles], 'concat_cols'), 'range'))",
        "valid = step.map(",
        f"    [step.expand(n3, j1), step.map(j2, step.fn.affine_index(scale=-{tile}))], 'add'",
        ")",
        f"valid = step.assume_shape(valid, {grid})  # one count per tile",
        "step.sink(n4)",
    ]


def _header(task, doc: str, params: list[str], tunable: str) -> str:
    return (
        f'"""{task.name}: {doc}"""\n\nfrom dsl import step\n\n\n'
        f"@step.tunable({tunable})\ndef kernel({', '.join(params)}):\n"
    )


def _softmax_columns(task, rows: str, tile_rows: int) -> str:
    (x,) = task.inputs
    if len(x.shape) != 2 or x.shape[0] != rows or x.dtype != "float32":
        raise NotCovered(
            f"{task.name}: softmax over a symbolic row length needs one float32 [{rows}, N] input"
        )
    out = task.spec["ops"][0]["out"]
    body = [
        f"R, N = {x.name}.shape",
        "rt, ct = step.cdiv(R, tile_rows), step.cdiv(N, tile_cols)",
        f"x_t = step.linear_offchip_load({x.name}, (tile_rows, tile_cols))  # [rt, ct]",
        *_count_lines(x.name, f"{x.name}, (1, 1), shape=(rt, N), stride=(0, 1)", "count"),
        *_valid_lines("count", "tile_cols", "(rt, ct)"),
        "# padded columns become the lowest float: they never win the max and exp() -> 0",
        "m1, m2 = step.copy(step.map([x_t, valid], step.fn.mask_after()))",
        "row_max = step.accum(step.map(m1, 'row_max'), 'max', rank=1)  # [rt] of [tr, 1]",
        "again, ref = step.copy(step.streamify(step.bufferize(m2, rank=1)))",
        "e1, e2 = step.copy(step.map(step.map([again, step.expand(row_max, ref)], 'sub'), 'exp'))",
        "total = step.accum(step.map(e1, 'row_sum'), 'add', rank=1)",
        "e_again, ref2 = step.copy(step.streamify(step.bufferize(e2, rank=1)))",
        "y = step.map([e_again, step.expand(total, ref2)], 'div')",
        f"return step.linear_offchip_store(y, '{out}')",
    ]
    doc = (
        "softmax over a symbolic row length (builtin compiler).\n\n"
        "Column tiles of a dynamic count; the row is counted on chip and the padded tail of\n"
        "its last tile masked; three passes over the row's tiles kept on chip.\n"
    )
    tiles = sorted({8, 16, 32, tile_rows})
    head = _header(
        task,
        doc,
        [x.name, f"tile_rows={tile_rows}", "tile_cols=64"],
        f"tile_rows={tiles}, tile_cols={list(TILE_COLS)}",
    )
    return head + "\n".join(f"    {line}" for line in body) + "\n"


def _blocked_attention(task, rows: str, tile_rows: int) -> str:
    ops = task.spec["ops"]
    first, last = ops[0], ops[-1]
    by_name = {t.name: t for t in task.inputs}
    q, k = (by_name.get(a) for a in first.get("args", ()))
    p_arg, v = last["args"][0], by_name.get(last["args"][1])
    chain = [first["out"]] + [op["out"] for op in ops[1:-1]]
    linked = all(op["args"] == [prev] for op, prev in zip(ops[1:-1], chain[:-1], strict=True))
    if not (
        first.get("transpose_b")
        and q
        and k
        and v
        and linked
        and p_arg == chain[-1]
        and len(task.inputs) == 3
        and all(len(t.shape) == 2 and t.dtype == "float32" for t in task.inputs)
        and q.shape[0] == rows
        and k.shape[0] == v.shape[0]
        and set(first) <= {"out", "op", "args", "transpose_b"}
        and all(set(op) <= {"out", "op", "args", "factor"} for op in ops[1:])
    ):
        raise NotCovered(
            f"{task.name}: ops look like attention over a symbolic key count, but not as "
            "matmul(q, k, transpose_b=true) [, scale], softmax, matmul(p, v) of [T, D] k, v"
        )
    factor = float(ops[1]["factor"]) if len(ops) == 4 else 1.0
    body = [
        f"S, D = {q.name}.shape[0], {q.name}.shape[1].value",
        f"qt, kt = step.cdiv(S, tile_rows), step.cdiv({k.name}.shape[0], tile_kv)",
        f"q_t = step.linear_offchip_load({q.name}, (tile_rows, D), shape=(qt, kt), stride=(1, 0))",
        f"k_t = step.linear_offchip_load({k.name}, (tile_kv, D), shape=(qt, kt), stride=(0, 1))",
        *_count_lines(
            k.name, f"{k.name}, (1, 1), shape=(qt, {k.name}.shape[0]), stride=(0, D)", "count"
        ),
        *_valid_lines("count", "tile_kv", "(qt, kt)"),
        f"q_s = step.map(q_t, step.fn.scale(factor={factor!r}))",
        "s = step.map([q_s, k_t], step.fn.matmul(transpose_b=True), compute=compute)",
        "s1, s2 = step.copy(step.map([s, valid], step.fn.mask_after()))  # [qt, kt] of [tq, tkv]",
        "row_max = step.accum(step.map(s1, 'row_max'), 'max', rank=1)  # [qt] of [tq, 1]",
        "again, ref = step.copy(step.streamify(step.bufferize(s2, rank=1)))",
        "p1, p2 = step.copy(step.map(step.map([again, step.expand(row_max, ref)], 'sub'), 'exp'))",
        "total = step.accum(step.map(p1, 'row_sum'), 'add', rank=1)",
        f"v_t = step.linear_offchip_load({v.name}, (tile_kv, D), shape=(qt, kt), stride=(0, 1))",
        "weighted = step.accum([p2, v_t], 'matmul', rank=1, compute=compute)",
        f"return step.linear_offchip_store(step.map([weighted, total], 'div'), '{last['out']}')",
    ]
    doc = (
        "attention over a symbolic key count (builtin compiler).\n\n"
        "Key blocks of a dynamic count; the keys are counted on chip and the padded tail of\n"
        "the last block masked; each query tile's scores stay on chip for the exp / sum pass.\n"
    )
    tiles = sorted({8, 16, 32, tile_rows})
    params = [q.name, k.name, v.name, f"tile_rows={tile_rows}", "tile_kv=32", "compute=2"]
    tunable = f"tile_rows={tiles}, tile_kv={list(TILE_COLS)}, compute=[1, 2, 4]"
    return _header(task, doc, params, tunable) + "\n".join(f"    {x}" for x in body) + "\n"
