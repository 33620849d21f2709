"""The builtin compiler: DAE program text for a task's `[spec]`, at Ember's four levels.

- O0 naive decoupled: scalar traversal; every element is pushed with its bag index and
  column and handled by its own callback (read-modify-write of the output);
- O1 vectorised: the column loop runs 8 lanes wide, one callback per 8-element chunk;
- O2 + bufferization: the column loop fills a row buffer, one callback per row;
- O3 + queue alignment: indices that only count (bag number, output row) become
  execute-side counters instead of queue operands; row loads become contiguous vector
  loads; offsets and index lists (read once) get non-temporal hints; a segment's rows are reduced
  `ROWS_PER_CALLBACK` at a time (one dispatch and one read-modify-write of the output for
  several rows: 1.2-1.4x on embedding bags), the odd rest one by one.
  Only the counters are Ember's queue alignment; the other three are ours, and
  `benchmarks.perf.dae_ladder` measures each as its own rung (the keyword overrides of
  `compile_spec` turn them off: most of O3's gain is the contiguous row loads).

Covered ops (`spec.op`): embedding_bag (mode sum|mean|max|min, `weighted`, `padding_idx`;
`tables = T` for a table-batched bag of mode sum, DLRM's / FBGEMM's TBE: inputs offsets_t,
indices_t, table_t per table, out[b, t*D:(t+1)*D] from table t's bags — one loop over the bags
runs each table's item loop in turn, writing its column block; D must be static),
spmm, message_passing (mode sum|mean|max|min), kg_lookup (TransE-style h + r - t),
paged_kv_gather, moe_gather. A segment max/min writes 0 for an empty segment (torch's and
PyG's convention) unless the spec says `nonempty = true`. Anything else — an op, a mode or
a spec key the compiler does not know — raises `NotCovered` with the whole reason: a key
it ignored could change what the task means.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dsl.errors import NotCovered

LEVELS = (0, 1, 2, 3)
LEVEL_NAMES = {
    0: "naive decoupled",
    1: "vectorised",
    2: "vectorised + bufferized",
    3: "vectorised + bufferized + queue-aligned",
}
MAX_INIT = -3.0e38
"""Start value of max pooling (finite, so that the IR stays plain JSON); min starts at its
negation."""
ROWS_PER_CALLBACK = 2
"""Rows one O3 callback reduces. 2 is all the traversal units allow: each row needs its
own 8-lane column loop (8 units), and with the rest loop and the segment loops 3 rows
would need more than the target's 32."""
LANES = (1, 8)
"""Vector lanes O1 and O2 declare tunable (`lanes`, default 8): a loop runs 1 lane or a
multiple of 8 and the target's vector is 8 wide (16 is invalid). Not declared with contiguous
row loads, which need the vector loop (only 8 builds), nor at O3, whose ladder rungs differ
from each other by one hint each (benchmarks/perf/dae_ladder.py)."""
KEYS = {
    "embedding_bag": {"op", "mode", "weighted", "padding_idx", "nonempty", "tables"},
    "message_passing": {"op", "mode", "nonempty"},
    "spmm": {"op"},
    "kg_lookup": {"op"},
    "paged_kv_gather": {"op"},
    "moe_gather": {"op"},
}
"""The spec keys the compiler understands, per op."""


@dataclass(frozen=True)
class Shape:
    """The common form of every covered op: for each segment (a CSR range of `offsets`,
    or each output row when there are none), gather rows of tables at indices read per
    item, optionally scale by a per-item weight, and reduce them into the segment's output
    row (`reduce` add|max, `mean` divides by the count) or copy each to its own output row
    (`reduce` None)."""

    inputs: tuple[str, ...]
    offsets: str | None
    gathers: tuple[tuple[str, str], ...]  # (index input, table input) per gathered row
    weights: str | None = None
    reduce: str | None = None
    mean: bool = False
    block: bool = False  # paged KV: rows are kv_cache[block, slot, :]
    padding: int | None = None  # an index whose row adds nothing (torch's padding_idx)
    fill_empty: bool = False  # max/min: write 0 where a segment has no item
    tables: int = 0  # table-batched bags: `tables` (offsets, indices, table) triples
    column: str = ""  # the written column block's start, added to the column (" + D.value")


def _shape(spec: dict[str, Any], inputs: tuple[str, ...]) -> Shape:
    op = spec.get("op")
    unknown = sorted(set(spec) - KEYS.get(op, {"op"}))
    if op in KEYS and unknown:
        raise NotCovered(
            f"{op} spec key(s) {', '.join(map(repr, unknown))} are not ones the compiler"
            f" understands ({', '.join(sorted(KEYS[op] - {'op'})) or 'none'}); ignoring them"
            " could compute something else than the task means"
        )
    mode = spec.get("mode", "sum")
    if op in ("embedding_bag", "message_passing"):
        if mode not in ("sum", "mean", "max", "min"):
            raise NotCovered(f"{op} mode {mode!r}: the compiler covers sum, mean, max and min")
        weighted = bool(spec.get("weighted", False))
        if weighted and mode != "sum":
            raise NotCovered("per-sample weights are covered for mode 'sum' only (as torch)")
        padding = spec.get("padding_idx")
        if padding is not None and (mode != "sum" or not isinstance(padding, int)):
            raise NotCovered(
                f"padding_idx={padding!r} with mode {mode!r}: covered for an integer index"
                " with mode 'sum' (a mean would have to leave padding out of its count, a"
                " max/min bag of padding only has no row to start from)"
            )
        if "tables" in spec:
            return _tables(spec, weighted, padding)
        table = "table" if op == "embedding_bag" else "features"
        return Shape(
            ("offsets", "indices", table) + (("weights",) if weighted else ()),
            "offsets",
            (("indices", table),),
            weights="weights" if weighted else None,
            reduce={"max": "max", "min": "min"}.get(mode, "add"),
            mean=mode == "mean",
            padding=padding,
            fill_empty=mode in ("max", "min") and not spec.get("nonempty", False),
        )
    if op == "spmm":
        return Shape(
            ("rowptr", "colidx", "values", "x"),
            "rowptr",
            (("colidx", "x"),),
            weights="values",
            reduce="add",
        )
    if op == "kg_lookup":
        return Shape(
            ("heads", "relations", "tails", "entities", "relation_table"),
            None,
            (("heads", "entities"), ("relations", "relation_table"), ("tails", "entities")),
        )
    if op == "paged_kv_gather":
        return Shape(
            ("block_offsets", "block_ids", "kv_cache"),
            "block_offsets",
            (("block_ids", "kv_cache"),),
            block=True,
        )
    if op == "moe_gather":
        return Shape(("expert_offsets", "token_ids", "x"), "expert_offsets", (("token_ids", "x"),))
    raise NotCovered(
        f"op {op!r} is not one the DAE compiler lowers (embedding_bag, spmm,"
        " message_passing, kg_lookup, paged_kv_gather, moe_gather)"
    )


def _tables(spec: dict[str, Any], weighted: bool, padding: Any) -> Shape:
    """The table-batched embedding bag (TBE): per table its own CSR bags, summed into the
    table's column block of the output row."""
    count = spec["tables"]
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 3:
        raise NotCovered(
            f"embedding_bag tables={count!r}: covered for 1 to 3 tables (each table's item"
            " loop takes 9 of the target's 32 traversal units at 8 lanes)"
        )
    if spec.get("mode", "sum") != "sum" or weighted or padding is not None:
        raise NotCovered(
            "a table-batched embedding_bag (tables=...) is covered for mode 'sum' without"
            " weights or padding_idx"
        )
    names = [(f"offsets_{t}", f"indices_{t}", f"table_{t}") for t in range(count)]
    return Shape(
        tuple(name for triple in names for name in triple),
        "offsets_0",
        tuple((indices, table) for _, indices, table in names),
        reduce="add",
        tables=count,
    )


class _Text:
    """Lines of program text at an indentation depth."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def __call__(self, line: str = "") -> None:
        self.lines.append("    " * self.depth + line if line else "")

    def block(self) -> _Indent:
        return _Indent(self)


class _Indent:
    def __init__(self, t: _Text) -> None:
        self.t = t

    def __enter__(self) -> None:
        self.t.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.t.depth -= 1


def compile_spec(
    spec: dict[str, Any],
    inputs: tuple[str, ...],
    level: int = 3,
    title: str = "",
    *,
    contiguous: bool | None = None,
    nontemporal: bool | None = None,
    rows_per_callback: int | None = None,
) -> str:
    """Program text for `spec` at optimisation `level` (0..3).

    `contiguous`, `nontemporal` and `rows_per_callback` override what the level implies (on
    at O3, `ROWS_PER_CALLBACK`), so that the parts of the last step can be measured apart."""
    if level not in LEVELS:
        raise NotCovered(f"level {level} is not one of {LEVELS}")
    shape = _shape(spec, inputs)
    if tuple(inputs) != shape.inputs:
        raise NotCovered(
            f"{spec.get('op')} expects inputs {list(shape.inputs)}, the task"
            f" declares {list(inputs)}"
        )
    t = _Text()
    aligned = level >= 3
    contiguous = aligned if contiguous is None else contiguous and level >= 1
    nontemporal = aligned if nontemporal is None else nontemporal
    several = shape.reduce is not None and shape.offsets is not None and aligned
    several = several and not shape.tables  # units: see _tables
    rows = (ROWS_PER_CALLBACK if several else 1) if rows_per_callback is None else rows_per_callback
    if rows > 1 and not several:
        raise NotCovered(
            "several rows per callback need O3 and a reduction over segments of one table"
        )
    knobs = level in (1, 2) and not contiguous  # see LANES
    hints = _Hints(
        lanes=(", lanes=lanes" if knobs else ", lanes=8") if level >= 1 else "",
        index=", nontemporal=True" if nontemporal else "",
        # Gathered rows are never non-temporal: whether a row is read again depends on the
        # data (Zipf bags, shared KV prefix blocks), which the spec does not say, and a
        # non-temporal row that is reused goes to DRAM again.
        row=", contiguous=True" if contiguous else "",
    )
    t.depth = 0
    t("from dsl import dae")
    t("")
    t("")
    if knobs:
        t(f"@dae.tunable(lanes={list(LANES)})")
    t(f"def kernel({', '.join(shape.inputs)}{', lanes=8' if knobs else ''}, **params):")
    t.depth = 1
    t(f'"""{title or spec.get("op")}: O{level}, {LEVEL_NAMES[level]}."""')
    t('out = dae.output("out")')
    t(f"D = {'table_0' if shape.tables else 'out'}.shape[-1]")
    if shape.block:
        t("BS = kv_cache.shape[1]  # slots (embeddings) per block")
    if aligned:
        t("row = dae.counter(0)  # output row, counted on the core (queue alignment)")
    if shape.tables:
        _emit_tables(t, shape, level, hints)
        t("return out")
        return "\n".join(t.lines) + "\n"
    if not shape.offsets:
        t("with dae.loop(0, out.shape[0]) as seg:")
        with t.block():
            _emit_item(t, shape, level, "seg", hints)
        t("return out")
        return "\n".join(t.lines) + "\n"
    t(f"with dae.loop(1, {shape.offsets}.shape[0]) as end:  # offsets: one per segment + 1")
    with t.block():
        t("seg = end - 1")
        t(f"lo = dae.load({shape.offsets}, seg{hints.index})")
        t(f"hi = dae.load({shape.offsets}, end{hints.index})")
        if shape.mean:
            t("count = dae.maximum(hi - lo, 1)")
        if shape.fill_empty:
            t("size = hi - lo")
        if shape.reduce is not None and level <= 1:
            _emit_init_loop(t, shape, hints.lanes)
        item = "item"
        if rows > 1:
            t(f"mid = lo + (hi - lo) // {rows} * {rows}  # whole groups of {rows} rows")
            t(f"with dae.loop(lo, mid, step={rows}) as group:")
            with t.block():
                _emit_group(t, shape, rows, hints)
            _emit_init(t, shape, level, "group")
            t("with dae.loop(mid, hi) as item:  # the rest, one row at a time")
        else:
            t("with dae.loop(lo, hi) as item:")
        with t.block():
            _emit_item(t, shape, level, item, hints)
        if shape.reduce is not None:
            if level <= 1:
                if shape.mean:
                    _emit_finish_loop(t, hints.lanes, "count", 'n * 1.0, fn="div"')
                if shape.fill_empty:
                    _emit_finish_loop(t, hints.lanes, "size", _fill(shape))
            else:
                if rows == 1:
                    _emit_init(t, shape, level, item)
                _emit_finish(t, shape, level, item)
    t("return out")
    return "\n".join(t.lines) + "\n"


def _emit_tables(t: _Text, shape: Shape, level: int, hints: _Hints) -> None:
    """Table-batched bags: one loop over the bags (every table's offsets have B + 1
    entries), in it each table's item loop in turn, its rows added into the table's column
    block. Start values come from a per-table loop at O0, else on each item loop's `beg`
    (at O1 a per-table 8-lane start loop would take more traversal units than 32)."""
    t("with dae.loop(1, offsets_0.shape[0]) as end:  # offsets: one per segment + 1")
    with t.block():
        t("seg = end - 1")
        for k, (index, table) in enumerate(shape.gathers):
            one = replace(
                shape,
                gathers=((index, table),),
                column=f" + {'' if k == 1 else f'{k} * '}D.value" if k else "",
            )
            if level == 0:
                _emit_init_loop(t, one, hints.lanes)
            t(f"lo{k} = dae.load(offsets_{k}, seg{hints.index})")
            t(f"hi{k} = dae.load(offsets_{k}, end{hints.index})")
            t(f"with dae.loop(lo{k}, hi{k}) as item{k}:")
            with t.block():
                _emit_item(t, one, level, f"item{k}", hints)
            if level >= 1:
                _emit_init(t, one, level, f"item{k}")
        _emit_finish(t, one, level, f"item{k}")


@dataclass(frozen=True)
class _Hints:
    """Keyword text of the loads: vector lanes, index streams, gathered rows."""

    lanes: str
    index: str
    row: str


def _emit_item(t: _Text, shape: Shape, level: int, item: str, hints: _Hints) -> None:
    """The body of one item (or output row): its index and weight loads, the row loads of
    the column loop, and the callback that consumes them."""
    names = []
    for k, (index, table) in enumerate(shape.gathers):
        names.append((f"idx{k}" if len(shape.gathers) > 1 else "idx", table))
        t(f"{names[-1][0]} = dae.load({index}, {item}{hints.index})")
    if shape.weights:
        t(f"w = dae.load({shape.weights}, {item}{hints.index})")
    if shape.block:
        t("with dae.loop(0, BS) as slot:")
        t.depth += 1
    t(f"with dae.loop(0, D{hints.lanes}) as col:")
    with t.block():
        rows = []
        for k, (name, table) in enumerate(names):
            rows.append(f"x{k}" if len(names) > 1 else "x")
            where = f"{name}, slot, col" if shape.block else f"{name}, col"
            t(f"{rows[-1]} = dae.load({table}, {where}{hints.row})")
        if level <= 1:
            _emit_element_callback(t, shape, item, rows)
    if level >= 2:
        _emit_row_callback(t, shape, level, item, rows)
    if shape.block:
        t.depth -= 1


def _emit_group(t: _Text, shape: Shape, rows: int, hints: _Hints) -> None:
    """O3: `rows` consecutive items of a segment, each row pushed whole (with its weight
    and index when needed) on its column loop's end; the last one's callback pops them all,
    combines them and updates the output row once."""
    ((index, table),) = shape.gathers
    for k in range(rows):
        at = "group" if k == 0 else f"group + {k}"
        t(f"idx{k} = dae.load({index}, {at}{hints.index})")
        if shape.weights:
            t(f"w{k} = dae.load({shape.weights}, {at}{hints.index})")
        t(f"with dae.loop(0, D{hints.lanes}) as col{k}:")
        with t.block():
            t(f"x{k} = dae.load({table}, idx{k}, col{k}{hints.row})")
        t(f'dae.push(col{k}, "end", dae.buffer(x{k}))')
        if shape.weights:
            t(f'dae.push(col{k}, "end", w{k})')
        if shape.padding is not None:
            t(f'dae.push(col{k}, "end", idx{k})')
    t(f'@dae.callback(col{rows - 1}, "end")')
    t("def add_rows():")
    with t.block():
        values = []
        for k in range(rows):
            t(f'r{k} = dae.pop("float32", "buffer", D)')
            weight = None
            if shape.weights:
                t(f'w{k} = dae.pop("{_weight_dtype(shape)}")')
                weight = f"w{k}"
            if shape.padding is not None:
                t(f'p{k} = dae.pop("int64")')
            values.append(_kept(shape, _combine([f"r{k}"], weight), f"p{k}"))
        if shape.reduce == "add":
            total = " + ".join(values)
        else:
            total = values[-1]
            for v in reversed(values[:-1]):
                total = f"dae.{'maximum' if shape.reduce == 'max' else 'minimum'}({v}, {total})"
        t(_write(shape, "(row.get(), dae.arange(D))", total))


def _weight_dtype(shape: Shape) -> str:
    return "float32"  # every covered op's weights (embedding_bag, spmm values) are float32


def _kept(shape: Shape, value: str, index: str) -> str:
    """`value`, or nothing (0) where the item is the padding index."""
    if shape.padding is None:
        return value
    return f"dae.where(dae.not_equal({index}, {shape.padding}), {value}, 0.0)"


def _fill(shape: Shape) -> str:
    """Accumulate text that turns the start value of an empty max/min segment into 0 and
    leaves any other value as it is."""
    return f'dae.where(n > 0, {_start(shape)}, 0.0), fn="{shape.reduce}"'


def _row_index(shape: Shape, item: str) -> str:
    """Output row of the current element, as an access-side stream."""
    if shape.reduce is not None or not shape.offsets:
        return "seg"
    return f"{item} * BS + slot" if shape.block else item


def _combine(values: list[str], weight: str | None) -> str:
    expr = f"{values[0]} + {values[1]} - {values[2]}" if len(values) == 3 else values[0]
    return f"{expr} * {weight}" if weight else expr


def _write(shape: Shape, target: str, value: str) -> str:
    if shape.reduce is None:
        return f"dae.store(out, {target}, {value})"
    return f'dae.accumulate(out, {target}, {value}, fn="{shape.reduce}")'


def _start(shape: Shape) -> str:
    return {"max": repr(MAX_INIT), "min": repr(-MAX_INIT)}.get(shape.reduce or "", "0.0")


def _emit_element_callback(t: _Text, shape: Shape, item: str, rows: list[str]) -> None:
    """O0/O1: one callback per element (O0) or per 8-lane chunk (O1)."""
    values = [f"v{k}" for k in range(len(rows))]
    operands = [_row_index(shape, item), "col"] + rows + (["w"] if shape.weights else [])
    names = ["r", "d"] + values + (["wt"] if shape.weights else [])
    if shape.padding is not None:
        operands, names = operands + ["idx"], names + ["p"]
    t(f'@dae.callback(col, "ite", {", ".join(operands)})')
    t(f"def element({', '.join(names)}):")
    with t.block():
        value = _combine(values, "wt" if shape.weights else None)
        t(_write(shape, f"(r, d{shape.column})", _kept(shape, value, "p")))


def _emit_row_callback(t: _Text, shape: Shape, level: int, item: str, rows: list[str]) -> None:
    """O2/O3: one callback per gathered row, which it pops whole as a buffer."""
    values = [f"r{k}" for k in range(len(rows))]
    weight = ["w"] if shape.weights else []
    operands = [f"dae.buffer({r})" for r in rows] + weight
    names = values + (["wt"] if weight else [])
    if shape.padding is not None:
        operands, names = operands + ["idx"], names + ["p"]
    if level >= 3:
        target = f"(row.get(), dae.arange(D){shape.column})"
    else:
        operands, names = [_row_index(shape, item)] + operands, ["i"] + names
        target = f"(i, dae.arange(D){shape.column})"
    t(f'@dae.callback(col, "end", {", ".join(operands)})')
    t(f"def add_row({', '.join(names)}):")
    with t.block():
        value = _combine(values, "wt" if weight else None)
        t(_write(shape, target, _kept(shape, value, "p")))
        if level >= 3 and (shape.reduce is None):
            t("row.increment()")


def _emit_init_loop(t: _Text, shape: Shape, lanes: str) -> None:
    """O0/O1: start values written element by element (or chunk by chunk)."""
    t(f"with dae.loop(0, D{lanes}) as zcol:")
    with t.block():
        t('@dae.callback(zcol, "ite", seg, zcol)')
        t("def init(s, d):")
        with t.block():
            t(f"dae.store(out, (s, d{shape.column}), {_start(shape)})")


def _emit_finish_loop(t: _Text, lanes: str, operand: str, accumulate: str) -> None:
    """O0/O1: a last update of each output element from a per-segment `operand` (the mean's
    count, the item count that tells an empty max/min segment)."""
    t(f"with dae.loop(0, D{lanes}) as fcol:")
    with t.block():
        t(f'@dae.callback(fcol, "ite", seg, fcol, {operand})')
        t("def finish(s, d, n):")
        with t.block():
            t(f"dae.accumulate(out, (s, d), {accumulate})")


def _segment_row(level: int, column: str = "") -> str:
    return f"({'row.get()' if level >= 3 else 's'}, dae.arange(D){column})"


def _emit_init(t: _Text, shape: Shape, level: int, loop: str) -> None:
    """O2/O3: start values on the `beg` of the segment's first item loop."""
    aligned = level >= 3
    t(f'@dae.callback({loop}, "beg")' if aligned else f'@dae.callback({loop}, "beg", seg)')
    t("def init():" if aligned else "def init(s):")
    with t.block():
        t(f"dae.store(out, {_segment_row(level, shape.column)}, {_start(shape)})")


def _emit_finish(t: _Text, shape: Shape, level: int, loop: str) -> None:
    """O2/O3: on the `end` of the segment's last item loop, the mean's division, the empty
    max/min segment's 0, and (O3) the next output row."""
    aligned = level >= 3
    if not (aligned or shape.mean or shape.fill_empty):
        return
    operands = [] if aligned else ["seg"]
    names = [] if aligned else ["s"]
    if shape.mean or shape.fill_empty:
        operands.append("count" if shape.mean else "size")
        names.append("n")
    t(f'@dae.callback({loop}, "end"{"".join(", " + o for o in operands)})')
    t(f"def finish({', '.join(names)}):")
    with t.block():
        target = _segment_row(level)
        if shape.mean:
            t(f'dae.accumulate(out, {target}, n * 1.0, fn="div")')
        if shape.fill_empty:
            t(f"dae.accumulate(out, {target}, {_fill(shape)})")
        if aligned:
            t("row.increment()")


def compile_task(task: Any, level: int | None = None) -> str:
    """Program text for `task` (reads `task.spec`); level from the argument, else the
    task's `params.opt_level`, else 3 (the builtin policy)."""
    if level is None:
        level = int(getattr(task, "params", {}).get("opt_level", 3))
    inputs = tuple(s.name for s in task.inputs)
    return compile_spec(dict(task.spec), inputs, level, title=task.name)
