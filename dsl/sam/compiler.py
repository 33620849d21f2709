"""The builtin SAM compiler: tensor index notation in, program text out.

`compile_task(task)` reads the task's `[spec]`:

    expr     = ["T(i,j) = A(i,k) * X(k,j)", "Y(i,j) = T(i,j) + b(j)"]   # or one string
    order    = "ikj"             # dataflow order (any topological order); default: the first
    fuse     = true              # one graph; false: one graph per statement (the unfused
                                 # baseline); or groups: [["T"], ["Y"]] / [[0], [1]]
    parallel = { level = "i", factor = 4 }     # fork/join lanes below level i
    formats  = { T = "dcsr", C = { format = "csc" } }   # intermediates; input re-layouts
    block    = 16                # store matrices in 16x16 blocks; block products are matmuls

Tensor formats come from the task's inputs and outputs (`format`, `mode_order`).
Intermediates that cross graphs are written in their `formats` entry (default: every level
compressed) and scanned back by the next graph. The result is a readable program in the
dialect (`from dsl import sam`, `def kernel(...)`), which goes through the sandbox and the
verifier like any agent's program. What the compiler cannot lower raises `NotCovered` with
the reason. In block mode the block size is the program's declared tunable `block`
(`@sam.tunable`, `agent tune`); the dataflow order and the parallel lanes shape the graph
itself, so they stay compile-time choices of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsl.errors import NotCovered
from dsl.sam.compiler_emit import TensorLine, emit_program
from dsl.sam.compiler_graph import Graph
from dsl.sam.compiler_lower import Lowering
from dsl.sam.compiler_order import (
    Level,
    TensorFormat,
    all_indices,
    all_orders,
    dataflow_order,
    fusion_groups,
    inline,
    parse_format,
)
from dsl.sam.index_notation import (
    IndexNotationError,
    Statement,
    parse_program,
    tensors_read,
)

SPEC_KEYS = ("expr", "order", "fuse", "parallel", "formats", "block", "fusion_variants")
"""`fusion_variants` names other `fuse` values worth comparing (benchmarks/perf/sam_fusion)."""


@dataclass(frozen=True)
class Operand:
    """A task tensor as the compiler sees it: shape (dim names or ints) and layout."""

    name: str
    shape: tuple[str | int, ...]
    format: object = "dense"
    mode_order: object = None


def compile_task(task: Any) -> str:
    """Program text for a `benchmarks.task.Task` from its `[spec]` (see the module doc)."""
    return compile_spec(task.spec, _operands(task.inputs), _operands(task.outputs), title=task.name)


def dataflow_orders(task: Any, limit: int = 720) -> list[str]:
    """Every legal dataflow order of the task's statements fused into one graph, under its
    tensors' formats (the search space of `[spec] order`, FuseFlow's order sweep)."""
    try:
        return _Compiler(
            task.spec, _operands(task.inputs), _operands(task.outputs), task.name
        ).orders(limit)
    except IndexNotationError as exc:
        raise NotCovered(str(exc)) from None


def _operands(specs: Any) -> list[Operand]:
    return [
        Operand(t.name, tuple(t.shape), t.extra.get("format", "dense"), t.extra.get("mode_order"))
        for t in specs
    ]


def compile_spec(
    spec: dict[str, Any], inputs: list[Operand], outputs: list[Operand], title: str = "kernel"
) -> str:
    """Program text for a spec table over the given inputs and outputs."""
    try:
        return _Compiler(spec, inputs, outputs, title).program()
    except IndexNotationError as exc:
        raise NotCovered(str(exc)) from None


class _Compiler:
    def __init__(
        self, spec: dict[str, Any], inputs: list[Operand], outputs: list[Operand], title: str
    ) -> None:
        unknown = set(spec) - set(SPEC_KEYS)
        if unknown:
            raise NotCovered(f"[spec] has unknown keys {sorted(unknown)}; known: {SPEC_KEYS}")
        if "expr" not in spec:
            raise NotCovered("[spec] needs expr: the statements in index notation")
        self.block = spec.get("block", 1)
        if isinstance(self.block, bool) or not isinstance(self.block, int) or self.block < 1:
            raise NotCovered(f"block must be an int >= 1, got {self.block!r}")
        self.spec = spec
        self.title = title
        self.statements = parse_program(spec["expr"])
        self.inputs = {op.name: op for op in inputs}
        self.outputs = {op.name: op for op in outputs}
        if not isinstance(spec.get("formats", {}), dict):
            raise NotCovered(f"formats must be a table of tensor formats, got {spec['formats']!r}")
        self.layouts = dict(spec.get("formats", {}))
        self._check_names()
        self.dims = self._index_dims()
        self.formats: dict[str, TensorFormat] = {}
        self.relayout: list[str] = []
        for op in inputs:
            self.formats[op.name] = self._input_format(op)
            if self.block > 1 and op.name not in self.relayout:
                self.relayout.append(op.name)
        if self.block > 1:
            for op in [*inputs, *outputs]:
                if len(op.shape) != 2:
                    raise NotCovered(
                        f"block mode stores b x b blocks of matrices; {op.name}"
                        f" has rank {len(op.shape)}"
                    )
        for op in outputs:
            self.formats[op.name] = parse_format(op.name, op.format, len(op.shape), op.mode_order)

    # ---- checks

    def _check_names(self) -> None:
        results = [s.lhs.tensor for s in self.statements]
        for name in results:
            if name in self.inputs:
                raise NotCovered(f"statement result {name} is also a task input")
        for name in self.outputs:
            if name not in results:
                raise NotCovered(f"no statement computes the task output {name}")
        for n, stmt in enumerate(self.statements):
            for access in tensors_read(stmt.rhs):
                if access.tensor not in self.inputs and access.tensor not in results[:n]:
                    raise NotCovered(
                        f"statement {n} reads {access.tensor}, which is neither a"
                        " task input nor an earlier result"
                    )
            if stmt.lhs.tensor not in self.outputs and not any(
                a.tensor == stmt.lhs.tensor
                for s in self.statements[n + 1 :]
                for a in tensors_read(s.rhs)
            ):
                raise NotCovered(f"the result {stmt.lhs.tensor} of statement {n} is never used")
        for name in self.layouts:
            if name in self.outputs:
                raise NotCovered(f"formats.{name}: an output's format comes from the task")
            if name not in self.inputs and name not in results:
                raise NotCovered(f"formats.{name}: no such tensor")

    def _index_dims(self) -> dict[str, str | int]:
        """Each index variable's dimension, from the shapes of the tensors it indexes."""
        dims: dict[str, tuple[str | int, str]] = {}
        shapes = {n: op.shape for n, op in {**self.inputs, **self.outputs}.items()}
        for stmt in self.statements:
            accesses = tensors_read(stmt.rhs) + [stmt.lhs]
            for access in accesses:
                shape = shapes.get(access.tensor)
                if shape is None:
                    continue
                if len(shape) != len(access.indices):
                    raise NotCovered(
                        f"{access.tensor} has rank {len(shape)} but {stmt.text!r}"
                        f" indexes it with ({', '.join(access.indices)})"
                    )
                for var, dim in zip(access.indices, shape, strict=True):
                    seen = dims.setdefault(var, (dim, access.tensor))
                    if seen[0] != dim:
                        raise NotCovered(
                            f"index {var} has size {seen[0]} in {seen[1]} but"
                            f" {dim} in {access.tensor}"
                        )
            if stmt.lhs.tensor not in shapes:  # an intermediate: sized by its indices
                shapes[stmt.lhs.tensor] = tuple(dims[v][0] for v in stmt.lhs.indices)
        return {v: d for v, (d, _) in dims.items()}

    def _input_format(self, op: Operand) -> TensorFormat:
        entry = self.layouts.get(op.name)
        if entry is None:
            return parse_format(op.name, op.format, len(op.shape), op.mode_order)
        fmt, order = _layout_entry(op.name, entry)
        self.relayout.append(op.name)
        return parse_format(op.name, fmt, len(op.shape), order)

    # ---- compile

    def program(self) -> str:
        groups = fusion_groups(self.statements, self.spec.get("fuse", True))
        requested = self.spec.get("order")
        parallel = self._parallel()
        kernels: list[tuple[str, Graph]] = []
        declared: list[TensorLine] = []
        for name in self.relayout:
            declared.append(self._line(name, "input"))
        for name in self.outputs:
            declared.append(self._line(name, "output"))
        for group in groups:
            members = [self.statements[n] for n in group]
            later = [
                a.tensor
                for n, s in enumerate(self.statements)
                if n not in group
                for a in tensors_read(s.rhs)
            ]
            producers = {s.lhs.tensor: s for s in members}
            roots = [s for s in members if s.lhs.tensor in self.outputs or s.lhs.tensor in later]
            aliases: dict[str, str] = {}
            fused = [
                inline(s, {k: v for k, v in producers.items() if k != s.lhs.tensor}, aliases)
                for s in roots
            ]
            order = self._order(fused, requested, aliases)
            for stmt in fused:
                name = stmt.lhs.tensor
                if name not in self.outputs:
                    self.formats[name] = self._intermediate_format(stmt, order)
                    declared.append(self._line(name, "intermediate"))
            graph = Graph()
            lowering = Lowering(graph, order, self.formats, self.block)
            for stmt in fused:
                lanes = parallel if parallel and parallel[0] in stmt.lhs.indices else None
                lowering.lower_statement(stmt, lanes)
            kernels.append(("_".join(s.lhs.tensor for s in roots), graph))
        if parallel and not any(parallel[0] in s.lhs.indices for s in self.statements):
            raise NotCovered(f"parallel level {parallel[0]} is not an index of any result")
        return emit_program(list(self.inputs), declared, kernels, self._doc(groups))

    def _order(
        self, fused: list[Statement], requested: object, aliases: dict[str, str]
    ) -> tuple[str, ...]:
        variables, constraints = self._order_problem(fused)
        return dataflow_order(variables, constraints, requested, aliases)

    def orders(self, limit: int) -> list[str]:
        """Legal orders of all statements fused into one graph."""
        producers = {s.lhs.tensor: s for s in self.statements}
        roots = [s for s in self.statements if s.lhs.tensor in self.outputs]
        fused = [
            inline(s, {k: v for k, v in producers.items() if k != s.lhs.tensor}, {}) for s in roots
        ]
        return all_orders(*self._order_problem(fused), limit=limit)

    def _order_problem(
        self, fused: list[Statement]
    ) -> tuple[list[str], list[tuple[str, tuple[str, ...]]]]:
        """The index variables of `fused` and each stored tensor's level order over them."""
        variables: list[str] = []
        constraints: list[tuple[str, tuple[str, ...]]] = []
        for stmt in fused:
            for access in [*tensors_read(stmt.rhs), stmt.lhs]:
                for v in access.indices:
                    if v not in variables:
                        variables.append(v)
            for v in sorted(all_indices(stmt.rhs)):
                if v not in variables:
                    variables.append(v)
            for access in tensors_read(stmt.rhs):
                fmt = self.formats[access.tensor]
                constraints.append((access.tensor, fmt.level_vars(access.indices)))
            if stmt.lhs.tensor in self.formats:
                fmt = self.formats[stmt.lhs.tensor]
                constraints.append((stmt.lhs.tensor, fmt.level_vars(stmt.lhs.indices)))
        return variables, constraints

    def _intermediate_format(self, stmt: Statement, order: tuple[str, ...]) -> TensorFormat:
        """The declared format, or: levels in the producer's walk order, dense where the
        walk yields every coordinate and compressed elsewhere."""
        name, indices = stmt.lhs.tensor, stmt.lhs.indices
        fmt, mode_order = _layout_entry(name, self.layouts.get(name, "csf"))
        if mode_order is None:
            mode_order = sorted(range(len(indices)), key=lambda m: order.index(indices[m]))
        if name not in self.layouts:
            self.formats[name] = parse_format(name, "csf", len(indices), mode_order)
            trial = Lowering(Graph(), order, self.formats, self.block)
            full = trial.lower_statement(stmt, None)
            fmt = "".join("d" if f else "c" for f in full)
        return parse_format(name, fmt, len(indices), mode_order)

    def _parallel(self) -> tuple[str, int] | None:
        raw = self.spec.get("parallel")
        if raw is None:
            return None
        if not isinstance(raw, dict) or set(raw) != {"level", "factor"}:
            raise NotCovered(f'parallel must be {{level = "i", factor = 4}}, got {raw!r}')
        level, factor = raw["level"], raw["factor"]
        if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
            raise NotCovered(f"parallel.factor must be an int >= 1, got {factor!r}")
        if not isinstance(level, str):
            raise NotCovered(f"parallel.level must name an index variable, got {level!r}")
        return None if factor == 1 else (level, factor)

    def _line(self, name: str, role: str) -> TensorLine:
        fmt = self.formats[name]
        shape = (
            self.outputs[name].shape
            if role == "output"
            else self.inputs[name].shape
            if role == "input"
            else tuple(self.dims[v] for v in self._lhs(name).lhs.indices)
        )
        levels = tuple("dense" if lv is Level.DENSE else "compressed" for lv in fmt.levels)
        return TensorLine(name, role, tuple(shape), levels, fmt.mode_order, self.block)

    def _lhs(self, name: str) -> Statement:
        return next(s for s in self.statements if s.lhs.tensor == name)

    def _doc(self, groups: list[list[int]]) -> str:
        how = "one fused graph" if len(groups) == 1 else f"{len(groups)} graphs"
        order = self.spec.get("order")
        extra = f", order {order}" if order else ""
        par = self.spec.get("parallel")
        if par:
            extra += f", {par['factor']} lanes at {par['level']}"
        if self.block > 1:
            extra += f", {self.block}x{self.block} blocks"
        lines = [f"{self.title}: {how}{extra}.", ""]
        for n, group in enumerate(groups):
            prefix = f"graph {n}: " if len(groups) > 1 else ""
            lines += [prefix + self.statements[m].text for m in group]
        return "\n".join(lines)


def _layout_entry(name: str, entry: object) -> tuple[object, object]:
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, dict) and set(entry) <= {"format", "mode_order"} and "format" in entry:
        return entry["format"], entry.get("mode_order")
    raise NotCovered(
        f"formats.{name} must be a format name or {{format, mode_order}}, got {entry!r}"
    )
