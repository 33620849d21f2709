"""The builtin compiler: DAE program text for a task's `[spec]`, at Ember's four levels.

- O0 naive decoupled: scalar traversal; every element is pushed with its bag index and
  column and handled by its own callback (read-modify-write of the output);
- O1 vectorised: the column loop runs 8 lanes wide, one callback per 8-element chunk;
- O2 + bufferization: the column loop fills a row buffer, one callback per row;
- O3 + queue alignment: indices that only count (bag number, output row) become
  execute-side counters instead of queue operands; row loads become contiguous vector
  loads; streams read once get non-temporal hints.

Covered ops (`spec.op`): embedding_bag (mode sum|mean|max, `weighted`), spmm,
message_passing (mode sum|mean|max), kg_lookup (TransE-style h + r - t), paged_kv_gather,
moe_gather. Anything else raises `NotCovered` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
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
"""Start value of max pooling (finite, so that the IR stays plain JSON)."""


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
    reuse: bool = True  # rows are read again (Zipf, graphs): keep them temporal


def _shape(spec: dict[str, Any], inputs: tuple[str, ...]) -> Shape:
    op = spec.get("op")
    mode = spec.get("mode", "sum")
    if op in ("embedding_bag", "message_passing"):
        if mode not in ("sum", "mean", "max"):
            raise NotCovered(f"{op} mode {mode!r}: the compiler covers sum, mean and max")
        weighted = bool(spec.get("weighted", False))
        if weighted and mode != "sum":
            raise NotCovered("per-sample weights are covered for mode 'sum' only")
        table = "table" if op == "embedding_bag" else "features"
        return Shape(
            ("offsets", "indices", table) + (("weights",) if weighted else ()),
            "offsets",
            (("indices", table),),
            weights="weights" if weighted else None,
            reduce="max" if mode == "max" else "add",
            mean=mode == "mean",
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
            reuse=False,
        )
    if op == "moe_gather":
        return Shape(("expert_offsets", "token_ids", "x"), "expert_offsets", (("token_ids", "x"),))
    raise NotCovered(
        f"op {op!r} is not one the DAE compiler lowers (embedding_bag, spmm,"
        " message_passing, kg_lookup, paged_kv_gather, moe_gather)"
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
) -> str:
    """Program text for `spec` at optimisation `level` (0..3).

    `contiguous` and `nontemporal` override the load hints the level implies (on at O3),
    so that the parts of the last step can be measured apart."""
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
    lanes = ", lanes=8" if level >= 1 else ""
    nt_index = ", nontemporal=True" if nontemporal else ""
    row_hints = (", contiguous=True" if contiguous else "") + (
        ", nontemporal=True" if nontemporal and not shape.reuse else ""
    )
    t.depth = 0
    t("from dsl import dae")
    t("")
    t("")
    t(f"def kernel({', '.join(shape.inputs)}, **params):")
    t.depth = 1
    t(f'"""{title or spec.get("op")}: O{level}, {LEVEL_NAMES[level]}."""')
    t('out = dae.output("out")')
    t("D = out.shape[-1]")
    if shape.block:
        t("BS = kv_cache.shape[1]  # slots (embeddings) per block")
    if aligned:
        t("row = dae.counter(0)  # output row, counted on the core (queue alignment)")
    if shape.offsets:
        t(f"with dae.loop(1, {shape.offsets}.shape[0]) as end:  # offsets: one per segment + 1")
        t.depth += 1
        t("seg = end - 1")
        t(f"lo = dae.load({shape.offsets}, seg{nt_index})")
        t(f"hi = dae.load({shape.offsets}, end{nt_index})")
        if shape.mean:
            t("count = dae.maximum(hi - lo, 1)")
        if shape.reduce is not None and level <= 1:
            _emit_init_loop(t, shape, lanes)
        t("with dae.loop(lo, hi) as item:")
        item = "item"
    else:
        t("with dae.loop(0, out.shape[0]) as seg:")
        item = "seg"
    t.depth += 1
    names = []
    for k, (index, table) in enumerate(shape.gathers):
        names.append((f"idx{k}" if len(shape.gathers) > 1 else "idx", table))
        t(f"{names[-1][0]} = dae.load({index}, {item}{nt_index})")
    if shape.weights:
        t(f"w = dae.load({shape.weights}, {item}{nt_index})")
    if shape.block:
        t("with dae.loop(0, BS) as slot:")
        t.depth += 1
    t(f"with dae.loop(0, D{lanes}) as col:")
    with t.block():
        rows = []
        for k, (name, table) in enumerate(names):
            rows.append(f"x{k}" if len(names) > 1 else "x")
            where = f"{name}, slot, col" if shape.block else f"{name}, col"
            t(f"{rows[-1]} = dae.load({table}, {where}{row_hints})")
        if level <= 1:
            _emit_element_callback(t, shape, item, rows)
    if level >= 2:
        _emit_row_callback(t, shape, level, item, rows)
    t.depth = 2 if shape.offsets else 1
    if shape.reduce is not None:
        if level <= 1 and shape.mean:
            _emit_mean_loop(t, lanes)
        elif level >= 2:
            _emit_segment_callbacks(t, shape, level)
    t.depth = 1
    t("return out")
    return "\n".join(t.lines) + "\n"


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
    return repr(MAX_INIT) if shape.reduce == "max" else "0.0"


def _emit_element_callback(t: _Text, shape: Shape, item: str, rows: list[str]) -> None:
    """O0/O1: one callback per element (O0) or per 8-lane chunk (O1)."""
    values = [f"v{k}" for k in range(len(rows))]
    weight = ["w"] if shape.weights else []
    t(f'@dae.callback(col, "ite", {", ".join([_row_index(shape, item), "col"] + rows + weight)})')
    t(f"def element({', '.join(['r', 'd'] + values + (['wt'] if weight else []))}):")
    with t.block():
        t(_write(shape, "(r, d)", _combine(values, "wt" if weight else None)))


def _emit_row_callback(t: _Text, shape: Shape, level: int, item: str, rows: list[str]) -> None:
    """O2/O3: one callback per gathered row, which it pops whole as a buffer."""
    values = [f"r{k}" for k in range(len(rows))]
    weight = ["w"] if shape.weights else []
    operands = [f"dae.buffer({r})" for r in rows] + weight
    names = values + (["wt"] if weight else [])
    if level >= 3:
        target = "(row.get(), dae.arange(D))"
    else:
        operands, names = [_row_index(shape, item)] + operands, ["i"] + names
        target = "(i, dae.arange(D))"
    t(f'@dae.callback(col, "end", {", ".join(operands)})')
    t(f"def add_row({', '.join(names)}):")
    with t.block():
        t(_write(shape, target, _combine(values, "wt" if weight else None)))
        if level >= 3 and (shape.reduce is None):
            t("row.increment()")


def _emit_init_loop(t: _Text, shape: Shape, lanes: str) -> None:
    """O0/O1: start values written element by element (or chunk by chunk)."""
    t(f"with dae.loop(0, D{lanes}) as zcol:")
    with t.block():
        t('@dae.callback(zcol, "ite", seg, zcol)')
        t("def init(s, d):")
        with t.block():
            t(f"dae.store(out, (s, d), {_start(shape)})")


def _emit_mean_loop(t: _Text, lanes: str) -> None:
    """O0/O1: divide each output element by the segment's item count."""
    t(f"with dae.loop(0, D{lanes}) as fcol:")
    with t.block():
        t('@dae.callback(fcol, "ite", seg, fcol, count)')
        t("def finish(s, d, n):")
        with t.block():
            t('dae.accumulate(out, (s, d), n * 1.0, fn="div")')


def _emit_segment_callbacks(t: _Text, shape: Shape, level: int) -> None:
    """O2/O3: start values on the item loop's `beg`, mean and next row on its `end`."""
    aligned = level >= 3
    target = "(row.get(), dae.arange(D))" if aligned else "(s, dae.arange(D))"
    t('@dae.callback(item, "beg")' if aligned else '@dae.callback(item, "beg", seg)')
    t("def init():" if aligned else "def init(s):")
    with t.block():
        t(f"dae.store(out, {target}, {_start(shape)})")
    if not (aligned or shape.mean):
        return
    operands = ([] if aligned else ["seg"]) + (["count"] if shape.mean else [])
    names = ([] if aligned else ["s"]) + (["n"] if shape.mean else [])
    t(f'@dae.callback(item, "end"{"".join(", " + o for o in operands)})')
    t(f"def finish({', '.join(names)}):")
    with t.block():
        if shape.mean:
            t(f'dae.accumulate(out, {target}, n * 1.0, fn="div")')
        if aligned:
            t("row.increment()")


def compile_task(task: Any, level: int | None = None) -> str:
    """Program text for `task` (reads `task.spec`); level from the argument, else the
    task's `params.opt_level`, else 3 (the builtin policy)."""
    if level is None:
        level = int(getattr(task, "params", {}).get("opt_level", 3))
    inputs = tuple(s.name for s in task.inputs)
    return compile_spec(dict(task.spec), inputs, level, title=task.name)
