"""The builtin STeP compiler: lowers a task's `[spec]` to program text with static tiling.

It is the offline policy of `agent solve` (no LLM), so its output is ordinary program text
that takes the same road through the sandbox and the verifier as a model's, and reads like
an example a model could learn from.

The lowering it knows ("row tiling"): every value is a stream of `[tile_rows, C]` row
tiles of one streamed row dim, optionally under batch dims. The spec names them:

    [spec]
    rows = "M"              # the streamed row dim
    batch = ["B"]           # outer dims (optional)
    tile_rows = 16          # static tile height (a kernel parameter the tuner may change)
    whole = ["k", "v"]      # inputs loaded as one tile per batch entry (optional; default:
                            #   every input whose second-to-last dim is not `rows`)
    columns = ["weight"]    # 1-D inputs along `rows`, one value per row (optional)
    ops = [{ out = "y", op = "matmul", args = ["x", "w"], transpose_b = false }, ...]

The program declares two tunable parameters (`agent tune` turns them): `tile_rows`, whose
default is the spec's, and `compute`, the compute units of every map, default 1 (the ops'
own default, so the default program is the plain one).

Inputs are classified by shape: `[*batch, rows, C]` (or a suffix of it: re-read for every
batch entry) are row-tiled; 1-D `[C]` vectors and whole operands are loaded once (per
batch entry) and broadcast over the row tiles with `expand`; column inputs are loaded as
`[1, tile_rows]` tiles and transposed. Ops are element functions of the library applied
tile by tile (`softmax` is expanded into max / sub / exp / sum / div).

A spec whose reduced dim is symbolic (softmax over a symbolic row length, attention over a
symbolic key count) is lowered by `compiler_dynamic.py`; a spec naming a `kind` (ragged
decode attention, gathers / scatters, routing, MoE layers) by `compiler_kinds.py`. A spec
key or op key no lowering understands, or a shape a lowering does not assume, raises
`NotCovered` with the whole reason, never a silently different kernel.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from dsl.errors import NotCovered
from dsl.step.compiler_dynamic import dynamic_lowering
from dsl.step.compiler_kinds import compile_kind

UNARY = frozenset(
    "exp log silu relu gelu sigmoid tanh neg abs sqrt rsqrt recip square rotate_half"
    " row_sum row_max row_mean row_argmax".split()
)
BINARY = frozenset("add sub mul div maximum minimum".split())
PARAMETRIC = {"scale": "factor", "add_scalar": "value"}
SPEC_KEYS = frozenset({"rows", "batch", "tile_rows", "whole", "columns", "ops"})
OP_KEYS = frozenset({"out", "op", "args", "transpose_b", *PARAMETRIC.values()})

# The declared domain of the emitted row tile (the task's own tile_rows is always included).
TILE_ROWS = (8, 16, 32, 64, 128)
# The declared domain of the compute units of every map; 1, the ops' default, is the default.
# At 16 the suite's largest row-tiled program (9 maps) asks 144 of step_default's 1040.
COMPUTE = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class _Input:
    name: str
    role: str  # "rows" | "whole" | "vector" | "column"
    shape: tuple[str | int, ...]
    missing_batch: tuple[str, ...] = ()  # batch dims a rows input lacks (re-read per entry)


def compile_task(task) -> str:
    """Program text for `task` (a `benchmarks.task.Task`), or `NotCovered` with a reason."""
    if "ops" not in task.spec:
        return compile_kind(task)
    rows, tile_rows = _row_spec(task)
    dynamic = dynamic_lowering(task, rows, tile_rows)
    return dynamic if dynamic is not None else _RowTiling(task).emit()


def row_tiled(task) -> bool:
    """Whether `task` compiles by static row tiling (its baseline is then our output)."""
    if "ops" not in task.spec:
        return False
    return dynamic_lowering(task, *_row_spec(task)) is None


def _row_spec(task) -> tuple[str, int]:
    """The streamed row dim and tile height of an `ops` spec, after refusing unknown keys."""
    spec = task.spec
    unknown = sorted(set(spec) - SPEC_KEYS) + sorted(
        {k for op in spec["ops"] for k in op} - OP_KEYS
    )
    if unknown:
        raise NotCovered(f"{task.name}: spec key(s) {unknown} are not understood by row tiling")
    return _need(spec, "rows", str, task.name), int(spec.get("tile_rows", 16))


class _RowTiling:
    """One lowering of a row-tiled spec; `emit` returns the program text."""

    def __init__(self, task) -> None:
        spec = task.spec
        self.task = task
        self.rows = _need(spec, "rows", str, task.name)
        self.batch = tuple(spec.get("batch", ()))
        self.tile_rows = int(spec.get("tile_rows", 16))
        self.ops = list(spec["ops"])
        self.outputs = {o.name for o in task.outputs}
        whole, columns = set(spec.get("whole", ())), set(spec.get("columns", ()))
        self.inputs = [self._classify(t, whole, columns) for t in task.inputs]
        self._check_names()
        self.lines: list[str] = []
        self.pending: dict[str, list[str]] = {}  # value -> handle names not yet consumed

    # --- input classification -------------------------------------------------------
    def _static(self, dim: str | int, what: str) -> int:
        if isinstance(dim, int):
            return dim
        value = self.task.dims.get(dim)
        if value is None:
            raise NotCovered(
                f"{self.task.name}: {what} has the symbolic dim {dim!r}; static "
                "tiling needs it fixed (a dynamic number of tiles would need an "
                "online reduction)"
            )
        return value

    def _classify(self, t, whole: set[str], columns: set[str]) -> _Input:
        shape = t.shape
        if t.dtype != "float32":
            raise NotCovered(
                f"{self.task.name}: input {t.name!r} is {t.dtype}; row tiling "
                "only streams float32 data"
            )
        if t.name in columns:
            if tuple(shape) != (self.rows,):
                raise NotCovered(f"{self.task.name}: column input {t.name!r} must be [{self.rows}]")
            return _Input(t.name, "column", shape)
        if len(shape) == 1:
            self._static(shape[0], f"vector {t.name!r}")
            return _Input(t.name, "vector", shape)
        if t.name not in whole and shape[-2] == self.rows:
            prefix = tuple(shape[:-2])
            if prefix != self.batch[len(self.batch) - len(prefix) :]:
                raise NotCovered(
                    f"{self.task.name}: input {t.name!r} has leading dims "
                    f"{list(prefix)}, not a suffix of the batch dims "
                    f"{list(self.batch)}"
                )
            self._static(shape[-1], f"row-tiled input {t.name!r}")
            return _Input(t.name, "rows", shape, self.batch[: len(self.batch) - len(prefix)])
        prefix = tuple(shape[:-2])
        if prefix not in ((), self.batch):
            raise NotCovered(
                f"{self.task.name}: whole operand {t.name!r} has leading dims "
                f"{list(prefix)}; expected none or {list(self.batch)}"
            )
        for d in shape[-2:]:
            self._static(d, f"whole operand {t.name!r}")
        return _Input(t.name, "whole", shape)

    def _check_names(self) -> None:
        """Every op argument exists when the op runs, every input is used, every output made."""
        known = {i.name for i in self.inputs}
        used: set[str] = set()
        for op in self.ops:
            for arg in op.get("args", ()):
                if arg not in known:
                    raise NotCovered(
                        f"{self.task.name}: op argument {arg!r} is neither an "
                        "input nor an earlier op's output"
                    )
                used.add(arg)
            known.add(op["out"])
        unused = [i.name for i in self.inputs if i.name not in used]
        if unused:
            raise NotCovered(f"{self.task.name}: input {unused[0]!r} is not used by any op")
        missing = sorted(self.outputs - known)
        if missing:
            raise NotCovered(f"{self.task.name}: no op computes output {missing[0]!r}")

    # --- emission helpers -------------------------------------------------------------
    def _line(self, text: str) -> None:
        if len(text) > 96 and "(" in text:  # break a long call after its first parenthesis
            head, _, rest = text.partition("(")
            self.lines += [f"    {head}(", f"        {rest}"]
            return
        self.lines.append("    " + text)

    def _define(
        self, value: str, expr: str, uses: int, comment: str = "", var: str | None = None
    ) -> None:
        """Bind `value` (as Python variable `var`) to `expr`, copying it for several uses."""
        var = var or value
        if uses <= 0:
            raise NotCovered(f"{self.task.name}: value {value!r} is computed but never used")
        line = f"{var} = {expr}"
        if comment and len(line) + len(comment) + 7 <= 100:
            line += f"  # {comment}"
        elif comment:
            self._line(f"# {comment}")
        self._line(line)
        if uses == 1:
            self.pending[value] = [var]
            return
        names = [f"{var}{i}" for i in range(uses)]
        self._line(f"{', '.join(names)} = step.copy({var}, {uses})")
        self.pending[value] = names

    def _use(self, value: str) -> str:
        handles = self.pending.get(value)
        if handles is None:
            raise NotCovered(
                f"{self.task.name}: op argument {value!r} is neither an input "
                "nor an earlier op's output"
            )
        return handles.pop(0)

    # --- the lowering -----------------------------------------------------------------
    def emit(self) -> str:
        by_name = {i.name: i for i in self.inputs}
        uses = Counter(a for op in self.ops for a in op.get("args", ()))
        uses.update(self.outputs)
        broadcast = [i for i in self.inputs if i.role in ("whole", "vector") and uses[i.name]]
        anchor = next((i for i in self.inputs if i.role == "rows" and not i.missing_batch), None)
        if anchor is None:
            raise NotCovered(
                f"{self.task.name}: no input is tiled along {self.rows!r} with every batch dim"
            )
        params = [i.name for i in self.inputs] + [f"tile_rows={self.tile_rows}", "compute=1"]
        if any(i.missing_batch or i.role == "column" for i in self.inputs):
            self._line(
                f"{self.rows}_tiles = step.cdiv({anchor.name}.shape[-2], tile_rows)"
                "  # the last tile is zero-padded"
            )
        for b in dict.fromkeys(d for i in self.inputs for d in i.missing_batch):
            self._line(f"{b} = {anchor.name}.shape[{self.batch.index(b)}]")
        for inp in self.inputs:
            if inp.role == "rows":
                self._load_rows(
                    inp, uses[inp.name] + (len(broadcast) if inp is anchor else 0), anchor
                )
        # Copies of the anchor beyond its own uses drive the broadcasts (expand's ref).
        refs = self.pending[anchor.name][uses[anchor.name] :]
        del self.pending[anchor.name][uses[anchor.name] :]
        for inp in self.inputs:
            if inp.role == "column":
                self._line(
                    f"{inp.name}_row = step.linear_offchip_load({inp.name}, "
                    f"(1, tile_rows), shape=({self.rows}_tiles, 1))"
                )
                self._define(
                    inp.name,
                    _map(f"{inp.name}_row", '"transpose"'),
                    uses[inp.name],
                    "[tile_rows, 1]: one value per row",
                    var=f"{inp.name}_t",
                )
        for inp in broadcast:
            dims = (1, inp.shape[0]) if inp.role == "vector" else inp.shape[-2:]
            rows, cols = (self._static(d, inp.name) for d in dims)
            once = "once per batch entry" if len(inp.shape) > 2 else "once"
            self._line(
                f"{inp.name}_tile = step.linear_offchip_load({inp.name}, "
                f"({rows}, {cols}))  # read {once}"
            )
            self._define(
                inp.name,
                f"step.expand({inp.name}_tile, {refs.pop(0)})",
                uses[inp.name],
                "kept on chip, repeated for every row tile",
                var=f"{inp.name}_t",
            )
        for op in self.ops:
            self._emit_op(op, uses, by_name)
        stores = []
        for out in self.task.outputs:
            stores.append(f'step.linear_offchip_store({self._use(out.name)}, "{out.name}")')
        if len(stores) == 1:
            self._line(f"return {stores[0]}")
        else:
            self._line("return (")
            for s in stores:
                self._line(f"    {s},")
            self._line(")")
        return self._header(params)

    def _load_rows(self, inp: _Input, uses: int, anchor: _Input) -> None:
        cols = self._static(inp.shape[-1], f"input {inp.name!r}")
        if not inp.missing_batch:
            expr = f"step.linear_offchip_load({inp.name}, (tile_rows, {cols}))"
            self._define(inp.name, expr, uses, f"stream [{self._grid()}]", var=f"{inp.name}_t")
            return
        # A rows input without some batch dims is re-read for each of their entries.
        missing = list(inp.missing_batch)
        shape = ", ".join(missing + [f"{self.rows}_tiles", "1"])
        stride = ", ".join(["0"] * len(missing) + ["1", "1"])
        expr = (
            f"step.linear_offchip_load({inp.name}, (tile_rows, {cols}), "
            f"shape=({shape}), stride=({stride}))"
        )
        self._define(
            inp.name, expr, uses, f"stride 0: once per {', '.join(missing)}", var=f"{inp.name}_t"
        )

    def _grid(self) -> str:
        return ", ".join(list(self.batch) + [f"cdiv({self.rows}, tile_rows)", "1"])

    def _emit_op(self, op: dict, uses: Counter, by_name: dict) -> None:
        name, out, args = op["op"], op["out"], [self._use(a) for a in op.get("args", ())]
        if name == "matmul":
            weight = by_name.get(op["args"][1])
            if weight is None or weight.role != "whole":
                raise NotCovered(
                    f"{self.task.name}: matmul {out!r} multiplies two row-tiled "
                    "streams; row tiling needs a whole right-hand operand"
                )
            fn = "step.fn.matmul(transpose_b=True)" if op.get("transpose_b") else '"matmul"'
            expr = _map(f"[{args[0]}, {args[1]}]", fn)
        elif name == "softmax":  # exp(x - rowmax) / rowsum, all within one row tile
            row_max, row_sum = _map(f"{out}_b", '"row_max"'), _map(f"{out}_e2", '"row_sum"')
            shifted = _map(f"[{out}_a, {row_max}]", '"sub"')
            exp = _map(f"{out}_shifted", '"exp"')
            self._line(f"{out}_a, {out}_b = step.copy({args[0]})")
            self._line(f"{out}_shifted = {shifted}")
            self._line(f"{out}_e1, {out}_e2 = step.copy({exp})")
            expr = _map(f"[{out}_e1, {row_sum}]", '"div"')
        elif name in UNARY:
            expr = _map(args[0], f'"{name}"')
        elif name in BINARY:
            expr = _map(f"[{args[0]}, {args[1]}]", f'"{name}"')
        elif name in PARAMETRIC:
            key = PARAMETRIC[name]
            expr = _map(args[0], f"step.fn.{name}({key}={float(op[key])!r})")
        else:
            raise NotCovered(f"{self.task.name}: op {name!r} has no row-tiled lowering")
        self._define(out, expr, uses[out])

    def _header(self, params: list[str]) -> str:
        # The knobs a tuner may turn (agent tune): the row tile trades on-chip memory for
        # fewer, larger steps; `compute` gives every map that many compute units (and memory
        # ports). Every op handles each row tile once, so the pipeline runs at its slowest
        # op's pace: one allocation for all of them keeps the program as legible as its spec.
        tiles = sorted({*TILE_ROWS, self.tile_rows})
        tunable = f"@step.tunable(tile_rows={tiles}, compute={list(COMPUTE)})\n"
        under = f" under {', '.join(self.batch)}" if self.batch else ""
        doc = (
            f'"""{self.task.name}: static row tiling (builtin compiler).\n\n'
            f"Every value is a stream of [tile_rows, C] tiles along {self.rows}{under};\n"
            "weights and vectors are read once and repeated on chip for every row tile "
            '(expand).\n"""\n'
        )
        body = "\n".join(self.lines)
        return (
            f"{doc}\nfrom dsl import step\n\n\n{tunable}def kernel({', '.join(params)}):\n{body}\n"
        )


def _map(args: str, fn: str) -> str:
    """A map of the row-tiled program, on the kernel's `compute` units."""
    return f"step.map({args}, {fn}, compute=compute)"


def _need(spec: dict, key: str, typ: type, task: str):
    value = spec.get(key)
    if not isinstance(value, typ):
        raise NotCovered(f"{task}: spec.{key} must be a {typ.__name__}, got {value!r}")
    return value
