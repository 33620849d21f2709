"""The builtin STeP compiler's lowerings of the dynamic task kinds (spec `kind = "..."`).

Row tiling (`compiler.py`) covers kernels whose every loop has a static trip count. The
kinds here are the workloads STeP exists for, where a loop's length or a value's route is
only known at run time: ragged KV caches (dynamic tiling over each request's real length,
dynamic parallelization over regions), gathers / scatters at data-dependent rows (random
off-chip reads and writes), routing by selector (partition / reassemble / eager merge) and
MoE layers whose experts get a data-dependent number of tokens (one dynamically sized tile
per expert). Each lowering checks that the task's inputs have the shapes and dtypes it
assumes and refuses (`NotCovered`, the whole reason) otherwise; a spec key it does not know
is a refusal too, never ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from dsl.errors import NotCovered

# The chip's compute units (step_default [budget] compute_units): MoE lowerings give each
# expert's matmuls two units only while every expert's allocation still fits.
COMPUTE_UNITS = 1040
UNITS_PER_EXPERT = 13  # compute=2 SwiGLU expert: 3 matmuls x 2 + 7 one-unit ops


def _inputs(task, *expected: tuple[str, int]) -> list[str]:
    """The task's input names, after checking their (dtype, rank) against `expected`."""
    kind = task.spec.get("kind")
    got = [(t.dtype, len(t.shape)) for t in task.inputs]
    if got != list(expected):
        want = ", ".join(f"{d} rank {r}" for d, r in expected)
        have = ", ".join(f"{t.name}: {t.dtype} rank {len(t.shape)}" for t in task.inputs)
        raise NotCovered(
            f"{task.name}: the {kind} lowering expects inputs ({want}), the task has ({have})"
        )
    return [t.name for t in task.inputs]


def _static(task, dim, what: str) -> int:
    value = dim if isinstance(dim, int) else task.dims.get(dim)
    if value is None:
        raise NotCovered(f"{task.name}: {what} ({dim!r}) must be a static dim for this lowering")
    return value


def _program(doc: str, params: list[str], body: list[str], tunable: str = "") -> str:
    head = f'"""{doc}"""\n\nfrom dsl import step\n\n\n'
    deco = f"@step.tunable({tunable})\n" if tunable else ""
    lines = "\n".join(f"    {line}" if line else "" for line in body)
    signature = f"def kernel({', '.join(params)}):"
    if len(signature) > 100:  # one parameter a line, as ruff format would
        signature = "def kernel(\n" + "".join(f"    {p},\n" for p in params) + "):"
    return f"{head}{deco}{signature}\n{lines}\n"


# --- ragged decode attention ------------------------------------------------------------------
def ragged_decode_attention(task) -> str:
    q, k, v, lens = _inputs(task, ("float32", 3), ("float32", 3), ("float32", 3), ("int64", 1))
    length = _static(task, task.inputs[1].shape[1], "the KV cache length")
    tiles = [t for t in (8, 16, 32, 64) if length % t == 0]
    if not tiles:
        raise NotCovered(f"{task.name}: cache length {length} is not a multiple of 8")
    tile = 16 if 16 in tiles else tiles[0]
    out = task.outputs[0].name
    body = [
        f"B, R, D = {q}.shape",
        f"lens = step.linear_offchip_load({lens}, (1, 1), shape=(B,))  # [B] of int [1, 1]",
        "for_sched, for_attend, for_index = step.copy(lens, 3)",
        "# least-loaded dispatch over the real lengths: long requests spread over regions",
        "route = step.scan(for_sched, step.fn.least_loaded(regions=regions), rank=1)",
        "r_q, r_len, r_req = step.copy(route, 3)",
        "one = step.map(for_index, step.fn.affine_index(scale=0, offset=1))",
        "request = step.map(step.scan(one, 'add', rank=1), step.fn.affine_index(offset=-1))",
        f"queries = step.linear_offchip_load({q}, (R.value, D.value), shape=(B,))",
        "q_parts = step.partition(queries, r_q, regions)",
        "len_parts = step.partition(for_attend, r_len, regions)",
        "req_parts = step.partition(request, r_req, regions)",
        "stores = []",
        "for r in range(regions):",
        "    # the three parts hold the same requests: declare their counts equal",
        "    q_r = step.assume_shape(q_parts[r], len_parts[r].shape)",
        "    req_r = step.assume_shape(req_parts[r], len_parts[r].shape)",
        "    stores.append(",
        f"        attend(q_r, len_parts[r], req_r, {k}, {v}, tile_kv, compute, '{out}')",
        "    )",
        "return stores",
    ]
    attend = [
        "",
        "",
        f"def attend(q_r, lens, request, {k}, {v}, tile_kv, compute, out):",
        '    """One region: read each request\'s live cache tiles only, mask the last tile\'s',
        '    tail, two-pass softmax with scores and values kept on chip."""',
        f"    L, D = {k}.shape[1].value, {k}.shape[2].value",
        "    per_request = L // tile_kv",
        "    len_a, len_b = step.copy(lens)",
        "    req_a, req_b, req_c = step.copy(request, 3)",
        "    first = step.map(req_a, step.fn.affine_index(scale=per_request))",
        "    count = step.map(len_a, step.fn.ceil_div(divisor=tile_kv))",
        "    tiles = step.flat_map(step.map([first, count], 'concat_cols'), 'range')",
        "    t_k, t_v, t_ref, t_val, t_q = step.copy(tiles, 5)",
        f"    keys = step.random_offchip_load({k}, t_k, (tile_kv, D))",
        f"    values = step.random_offchip_load({v}, t_v, (tile_kv, D))",
        "    # valid columns of tile i = len + tile_kv * first - tile_kv * i",
        "    bias = step.map(",
        "        [len_b, step.map(req_b, step.fn.affine_index(scale=tile_kv * per_request))], 'add'",
        "    )",
        "    valid = step.map(",
        "        [step.expand(bias, t_ref), step.map(t_val, step.fn.affine_index(scale=-tile_kv))],",
        "        'add',",
        "    )",
        "    q_s = step.map(q_r, step.fn.scale(factor=D**-0.5))",
        "    scores = step.map(",
        "        [step.expand(q_s, t_q), keys], step.fn.matmul(transpose_b=True), compute=compute",
        "    )",
        "    s1, s2 = step.copy(step.map([scores, valid], step.fn.mask_after()))",
        "    row_max = step.accum(step.map(s1, 'row_max'), 'max', rank=1)",
        "    again, ref = step.copy(step.streamify(step.bufferize(s2, rank=1)))",
        "    p1, p2 = step.copy(step.map(step.map([again, step.expand(row_max, ref)], 'sub'), 'exp'))",
        "    total = step.accum(step.map(p1, 'row_sum'), 'add', rank=1)",
        "    v_again = step.streamify(step.bufferize(values, rank=1))",
        "    weighted = step.accum([p2, v_again], 'matmul', rank=1, compute=compute)",
        "    return step.random_offchip_store(step.map([weighted, total], 'div'), req_c, out)",
    ]
    doc = (
        f"{task.name}: ragged decode attention (builtin compiler, dynamic tiling).\n\n"
        "Requests go to `regions` parallel pipelines by a least-loaded scan over their KV\n"
        "lengths; each reads only its requests' live cache tiles.\n"
    )
    # Knobs: pipelines, cache tile, and each pipeline's compute units per matmul (both
    # matmuls of a region share it; over the chip's budget is the verifier's to refuse).
    params = [q, k, v, lens, "regions=4", f"tile_kv={tile}", "compute=2"]
    tunable = f"regions=[1, 2, 4, 8], tile_kv={tiles}, compute=[1, 2, 4]"
    return _program(doc, params, body, tunable) + "\n".join(attend) + "\n"


# --- MoE layers --------------------------------------------------------------------------------
def moe_layer(task) -> str:
    shared = len(task.inputs) == 9
    expect = [("float32", 2), ("int64", 2), ("float32", 2)] + [("float32", 3)] * 3
    names = _inputs(task, *(expect + [("float32", 2)] * 3 if shared else expect))
    x, idx, weight, w_gate, w_up, w_down = names[:6]
    experts = _static(task, task.inputs[3].shape[0], "the expert count")
    inner = _static(task, task.inputs[3].shape[2], "the expert FFN width")
    tiles = [t for t in (16, 32, 64, 128) if inner % t == 0]
    if not tiles:
        raise NotCovered(f"{task.name}: expert FFN width {inner} is not a multiple of 16")
    tile = 32 if 32 in tiles else tiles[0]
    compute = ", compute=2" if experts * UNITS_PER_EXPERT <= COMPUTE_UNITS - 40 else ""
    out = task.outputs[0].name
    body = [
        f"B, H = {x}.shape",
        f"E, h, topk = {experts}, H.value, {idx}.shape[1].value",
        f"ft = {w_gate}.shape[2].value // tile_f",
        f"rows = step.linear_offchip_load({x}, (1, h))  # [B, 1] of [1, H]",
    ]
    if shared:
        body.append("rows, shared_rows = step.copy(rows)")
    body += [
        "# routing read twice: a copy feeding reassemble would fill while the experts work",
        "sel_route, sel_back = (",
        f"    step.map(step.linear_offchip_load({idx}, (1, topk)), step.fn.to_selector(n=E))",
        "    for _ in range(2)",
        ")",
        "outs = []",
        "for e, part in enumerate(step.partition(rows, sel_route, E)):  # [n_e] of [1, H]",
        "    # all of expert e's tokens in one dynamically sized tile: weights read once",
        "    tile = step.accum(step.promote(part), 'retile_row', rank=1)",
        "    t1, t2, t3, t4 = step.copy(tile, 4)",
        f"    w1 = step.linear_offchip_load({w_gate}, (h, tile_f), ref=t1, shape=(ft,), base=e * ft)",
        f"    w3 = step.linear_offchip_load({w_up}, (h, tile_f), ref=t2, shape=(ft,), base=e * ft)",
        "    xa, xb = step.copy(step.repeat(t3, ft))",
        f"    gate = step.map(step.map([xa, w1], 'matmul'{compute}), 'silu')",
        f"    hidden = step.map([gate, step.map([xb, w3], 'matmul'{compute})], 'mul')",
        f"    w2 = step.linear_offchip_load({w_down}, (tile_f, h), ref=t4, shape=(ft,), base=e * ft)",
        "    y_e = step.accum([hidden, w2], 'matmul', rank=1, compute=2)",
        "    outs.append(step.flatten(step.flat_map(y_e, step.fn.split_rows(rows=1))))",
        "# a token's expert rows come back in ascending expert id, as expert_idx rows are",
        "y = step.reassemble(outs, sel_back)",
        f"gate_w = step.linear_offchip_load({weight}, (1, 1), shape=(B, 1, topk))",
        "y = step.map([step.assume_shape(y, gate_w.shape), gate_w], 'mul')",
        "y = step.accum(y, 'add', rank=1)  # [B, 1] of [1, H]",
    ]
    if shared:
        sg, su, sd = names[6:]
        body += [
            "# the shared expert: 1-row tiles, its weights read once and kept on chip",
            "r0, r1, r2, r3, r4 = step.copy(shared_rows, 5)",
            f"f = {sg}.shape[1].value",
            f"g1 = step.expand(step.linear_offchip_load({sg}, (h, f)), r2)",
            f"g3 = step.expand(step.linear_offchip_load({su}, (h, f)), r3)",
            f"g2 = step.expand(step.linear_offchip_load({sd}, (f, h)), r4)",
            "s_gate = step.map(step.map([r0, g1], 'matmul', compute=2), 'silu')",
            "s_hidden = step.map([s_gate, step.map([r1, g3], 'matmul', compute=2)], 'mul')",
            "y = step.map([y, step.map([s_hidden, g2], 'matmul', compute=2)], 'add')",
        ]
    body.append(f"return step.linear_offchip_store(y, '{out}')")
    doc = (
        f"{task.name}: MoE layer (builtin compiler, dynamic tiling).\n\n"
        "Tokens are partitioned by expert; each expert packs all its tokens into one tile, so\n"
        "its weights stream once per batch; results are reassembled in token order.\n"
    )
    return _program(doc, [*names, f"tile_f={tile}"], body, f"tile_f={tiles}")


# --- gathers, scatters, routing reductions ----------------------------------------------------
def gather_rows(task) -> str:
    if len(task.inputs) == 4:
        return _rope_positions(task)
    table, src, weight = _inputs(task, ("float32", 2), ("int64", 2), ("float32", 2))
    out = task.outputs[0].name
    body = [
        f"H = {table}.shape[1].value",
        f"rows = step.random_offchip_load({table}, step.linear_offchip_load({src}, (1, 1)), (1, H))",
        f"w = step.linear_offchip_load({weight}, (1, 1))  # [B, k] of [1, 1]",
        "scaled = step.map([rows, w], 'mul', compute=2)",
        f"return step.linear_offchip_store(step.accum(scaled, 'add', rank=1), '{out}')",
    ]
    doc = (
        f"{task.name}: weighted row gather (builtin compiler).\n\n"
        "Each index row drives random reads of the table; the slots of a row are summed.\n"
    )
    return _program(doc, [table, src, weight], body)


def _rope_positions(task) -> str:
    x, pos, cos, sin = _inputs(task, ("float32", 2), ("int64", 1), ("float32", 2), ("float32", 2))
    out = task.outputs[0].name
    body = [
        f"B, D = {x}.shape",
        f"x1, x2 = step.copy(step.linear_offchip_load({x}, (1, D.value)))",
        f"p1, p2 = step.copy(step.linear_offchip_load({pos}, (1, 1), shape=(B, 1)))",
        f"c = step.random_offchip_load({cos}, p1, (1, D.value))  # the table row of each position",
        f"s = step.random_offchip_load({sin}, p2, (1, D.value))",
        "rotated = step.map([step.map(x2, 'rotate_half'), s], 'mul', compute=2)",
        "y = step.map([step.map([x1, c], 'mul', compute=2), rotated], 'add', compute=2)",
        f"return step.linear_offchip_store(y, '{out}')",
    ]
    doc = f"{task.name}: rotary embedding at gathered positions (builtin compiler).\n"
    return _program(doc, [x, pos, cos, sin], body)


def scatter_rows(task) -> str:
    x, dest = _inputs(task, ("float32", 2), ("int64", 2))
    out = task.outputs[0].name
    body = [
        f"B, H = {x}.shape",
        "# each row read once per slot (stride 0), then written at its destination row",
        f"rows = step.linear_offchip_load({x}, (1, H.value), shape=(B, {dest}.shape[1]), "
        "stride=(1, 0))",
        f"where = step.linear_offchip_load({dest}, (1, 1))",
        f"return step.random_offchip_store(rows, where, '{out}')",
    ]
    doc = f"{task.name}: row scatter (builtin compiler): random off-chip writes.\n"
    return _program(doc, [x, dest], body)


def routing_histogram(task) -> str:
    (idx,) = _inputs(task, ("int64", 2))
    experts = _static(task, task.outputs[0].shape[0], "the expert count")
    out = task.outputs[0].name
    body = [
        f"B, topk = {idx}.shape",
        f"ids = step.promote(step.flatten(step.linear_offchip_load({idx}, (1, 1))))",
        "ids_next, ids_at, ref = step.copy(step.assume_shape(ids, (1, B * topk)), 3)",
        "# a row 0..E-1 built on chip, turned into ones",
        f"seed = step.linear_offchip_load({idx}, (1, 1), shape=(1,), stride=(0,))",
        f"row = step.accum(step.flat_map(seed, step.fn.arange(count={experts})), 'retile_col', "
        "rank=1)",
        "zero = step.map(step.map(row, step.fn.cast(dtype='float32')), step.fn.scale(factor=0.0))",
        "ones_a, ones_b = step.copy(step.expand(step.map(zero, step.fn.add_scalar(value=1.0)), ref))",
        "# counts[e] = #(id < e + 1) - #(id < e): two prefix masks summed over the pairs",
        "mask = step.fn.mask_after(fill=0.0)",
        "upto = step.map([ones_a, step.map(ids_next, step.fn.affine_index(offset=1))], mask)",
        "under = step.map([ones_b, ids_at], mask)",
        "counts = step.map([step.accum(upto, 'add', rank=1, compute=2),",
        "                   step.accum(under, 'add', rank=1, compute=2)], 'sub')",
        f"return step.linear_offchip_store(step.map(counts, step.fn.cast(dtype='int64')), '{out}')",
    ]
    doc = f"{task.name}: tokens per expert (builtin compiler) by prefix masks.\n"
    return _program(doc, [idx], body)


def routing_partition_sum(task) -> str:
    x, idx = _inputs(task, ("float32", 2), ("int64", 2))
    experts = _static(task, task.outputs[0].shape[0], "the expert count")
    out = task.outputs[0].name
    body = [
        f"H, E, topk = {x}.shape[1].value, {experts}, {idx}.shape[1].value",
        f"sel = step.map(step.linear_offchip_load({idx}, (1, topk)), step.fn.to_selector(n=E))",
        f"routed = step.partition(step.linear_offchip_load({x}, (1, H)), sel, E)",
        "# one zero row per expert, merged in, so an expert without tokens still sums to 0",
        f"first = step.linear_offchip_load({x}, (1, H), shape=(1,), stride=(0,))",
        "zeros = step.flatten(step.repeat(step.map(first, step.fn.scale(factor=0.0)), E))",
        f"first_id = step.linear_offchip_load({idx}, (1, 1), shape=(1,), stride=(0,))",
        "ids = step.flat_map(step.map(first_id, step.fn.affine_index(scale=0)), "
        "step.fn.arange(count=E))",
        "pads = step.partition(zeros, step.map(step.flatten(ids), step.fn.to_selector(n=E)), E)",
        "stores = []",
        "for e in range(E):",
        "    merged, source = step.eager_merge([pads[e], routed[e]])",
        "    step.sink(source)",
        "    total = step.accum(step.promote(merged), 'add', rank=1)",
        f"    stores.append(step.linear_offchip_store(total, '{out}', stride=(1,), base=e))",
        "return stores",
    ]
    doc = f"{task.name}: per-expert sums (builtin compiler) by partition on the routing.\n"
    return _program(doc, [x, idx], body)


KINDS: dict[str, Callable] = {
    "ragged_decode_attention": ragged_decode_attention,
    "moe_layer": moe_layer,
    "gather_rows": gather_rows,
    "scatter_rows": scatter_rows,
    "routing_histogram": routing_histogram,
    "routing_partition_sum": routing_partition_sum,
}


def compile_kind(task) -> str:
    """Program text for a task whose spec names a `kind`, or `NotCovered` with the reason."""
    spec = task.spec
    kind = spec.get("kind")
    unknown = sorted(set(spec) - {"kind"})
    if unknown:
        raise NotCovered(
            f"{task.name}: spec key(s) {unknown} are not understood by the {kind!r} lowering"
        )
    lower = KINDS.get(kind)
    if lower is None:
        raise NotCovered(
            f"{task.name}: spec kind {kind!r} has no lowering (known: {sorted(KINDS)})"
        )
    return lower(task)
