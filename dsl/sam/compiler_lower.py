"""Lowering of one fused kernel to SAM primitives: FuseFlow's lowering table, variable by
variable in the dataflow order.

At each index variable v, every tensor access that stores v next is scanned; the scans are
merged by the expression's structure (intersect under `*` and `/`, union under `+` and `-`);
accesses that lack v have their references repeated once per merged coordinate. After the
last variable each access loads its values and the expression tree becomes ALUs.

A reduction `sum(k, e)` splits the walk. Before k its body shares the enclosing walk (same
merges, so CSE builds those scanners once). At k the body walks on by itself; when it is
done a reducer (k innermost in the body) or an order-1 sparse accumulator (one variable
after k, Gustavson style) turns it into a value stream, or a (crd, value) pair that joins
the enclosing merge at that variable like a tensor level would. A reduced value that the
enclosing expression needs at more variables is repeated like a reference.

A sum with a broadcast operand (`T(i,j) + b(j)`) is dense in the broadcast variable, so
the union there includes a dense walk of it, borrowed from a tensor that stores the
variable in a dense level.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from dsl.errors import NotCovered
from dsl.sam.compiler_graph import Graph, Kind, Op, Stream
from dsl.sam.compiler_order import Level, TensorFormat
from dsl.sam.index_notation import (
    Access,
    Binary,
    BinOp,
    Call,
    Const,
    Expr,
    Statement,
    Sum,
    free_indices,
)

UNARY = {"exp": "exp", "relu": "relu", "sigmoid": "sigmoid", "rsqrt": "rsqrt", "sin": "sin",
         "cos": "cos", "neg": "neg"}
BINARY = {BinOp.ADD: "add", BinOp.SUB: "sub", BinOp.MUL: "mul", BinOp.DIV: "div"}


# --------------------------------------------------------------------------- walk state


@dataclass(eq=False)
class _Leaf:
    """One access of a stored tensor and where its walk stands."""

    tensor: str
    vars: tuple[str, ...]          # index variables by storage level
    levels: tuple[Level, ...]
    ref: Stream
    depth: int = 0                 # storage levels scanned so far
    maybe_empty: bool = False      # the ref may be Empty (it came out of a union)

    @property
    def next_var(self) -> str | None:
        return self.vars[self.depth] if self.depth < len(self.vars) else None


@dataclass(eq=False)
class _Const:
    value: float


@dataclass(eq=False)
class _Bin:
    op: BinOp
    a: _Node
    b: _Node
    free: frozenset[str]


@dataclass(eq=False)
class _Call:
    func: str
    a: _Node
    free: frozenset[str]


@dataclass(eq=False)
class _Sum:
    var: str
    child: _Node
    free: frozenset[str]
    done: bool = False
    val: Stream | None = None      # once done: values, aligned with the enclosing walk
    crds: list[Stream] = field(default_factory=list)   # a sparse accumulator's coordinates
    pending: list[str] = field(default_factory=list)   # ... of these later variables


_Node = _Leaf | _Const | _Bin | _Call | _Sum


def _free(node: _Node) -> frozenset[str]:
    if isinstance(node, _Leaf):
        return frozenset(node.vars)
    if isinstance(node, _Const):
        return frozenset()
    return node.free


@dataclass
class _Merge:
    """The merged coordinates of a subtree at one variable and each member's payload."""

    crd: Stream
    payloads: list[tuple[_Leaf | _Sum, Stream]] = field(default_factory=list)
    full: bool = False             # every coordinate of the dimension comes out
    dense_leaf: _Leaf | None = None    # a plain scan of this dense level (locate instead)


# --------------------------------------------------------------------------- lowering


class Lowering:
    """Builds the primitives of one kernel into `graph`."""

    def __init__(self, graph: Graph, order: tuple[str, ...],
                 formats: dict[str, TensorFormat], block: int = 1) -> None:
        self.graph = graph
        self.block = block
        self.order = order
        self.pos = {v: n for n, v in enumerate(order)}
        self.formats = formats

    # ---- public

    def lower_statement(self, stmt: Statement,
                        parallel: tuple[str, int] | None) -> tuple[bool, ...]:
        """Walk one result's expression and write every level and the values.

        Returns, per output level, whether the walk there yields every coordinate (the
        compiler stores such levels of an intermediate densely).
        """
        out = stmt.lhs.tensor
        fmt = self.formats[out]
        out_vars = fmt.level_vars(stmt.lhs.indices)
        top = self._build(stmt.rhs)
        walk = [v for v in self.order if v in _free(top)]
        if tuple(walk) != out_vars:
            raise NotCovered(f"{out} stores its levels as ({', '.join(out_vars)}) but the"
                             f" dataflow order visits ({', '.join(walk)})")
        if self.block > 1 and self._orient(top) != out_vars:
            raise NotCovered(f"block mode: the value blocks come out as {self._orient(top)},"
                             f" but {out} stores them as {out_vars}")
        full: list[bool] = []
        if parallel is None:
            ctx = self._walk(top, walk, [], full)
            val = self._value(top)
            crds = [c for _, c in ctx]
        else:
            crds, val = self._walk_parallel(top, walk, full, *parallel)
        for level, crd in enumerate(crds):
            self.graph.add(Op.WRITE_LEVEL, (crd,), {"tensor": out, "level": level}, (),
                           shared=False)
        self.graph.add(Op.WRITE_VALS, (val,), {"tensor": out}, (), shared=False)
        return tuple(full)

    # ---- tree

    def _build(self, expr: Expr) -> _Node:
        match expr:
            case Access(tensor, indices):
                fmt = self.formats[tensor]
                if fmt.rank != len(indices):
                    raise NotCovered(f"{tensor} has rank {fmt.rank} but is read as"
                                     f" {tensor}({','.join(indices)})")
                root = self.graph.add(Op.ROOT, (), {}, (Kind.REF,), ("root",))[0]
                return _Leaf(tensor, fmt.level_vars(indices), fmt.levels, root)
            case Const(value):
                return _Const(value)
            case Binary(op, lhs, rhs):
                a, b = self._build(lhs), self._build(rhs)
                if isinstance(a, _Const) and isinstance(b, _Const):
                    return _Const(_fold(op, a.value, b.value))
                return _Bin(op, a, b, free_indices(expr))
            case Call(func, arg):
                inner = self._build(arg)
                if isinstance(inner, _Const):
                    raise NotCovered(f"{func} of a constant: fold it by hand")
                return _Call(func, inner, free_indices(expr))
            case Sum():
                # Directly nested sums commute: the one walked first goes outside, so each
                # finishes inside the walk of the one around it.
                chain, body = [], expr
                while isinstance(body, Sum):
                    chain.append(body.index)
                    body = body.body
                node = self._build(body)
                for index in sorted(chain, key=lambda v: self.pos[v], reverse=True):
                    node = _Sum(index, node, _free(node) - {index})
                return node
        raise TypeError(expr)

    def _members(self, node: _Node) -> list[_Leaf | _Sum]:
        """Accesses and finished sums whose streams follow this walk's coordinates."""
        if isinstance(node, _Leaf):
            return [node]
        if isinstance(node, _Const):
            return []
        if isinstance(node, _Bin):
            return self._members(node.a) + self._members(node.b)
        if isinstance(node, _Call):
            return self._members(node.a)
        return [node] if node.done else self._members(node.child)

    def _open_sums(self, node: _Node, before: str | None) -> list[_Sum]:
        """Unfinished sums whose variable comes before `before` (None: all of them)."""
        if isinstance(node, _Bin):
            return self._open_sums(node.a, before) + self._open_sums(node.b, before)
        if isinstance(node, _Call):
            return self._open_sums(node.a, before)
        if isinstance(node, _Sum) and not node.done:
            if before is None or self.pos[node.var] < self.pos[before]:
                return [node]
            return self._open_sums(node.child, before)
        return []

    # ---- the walk

    def _walk(self, top: _Node, walk: list[str], ctx: list[tuple[str, Stream]],
              full: list[bool] | None = None) -> list[tuple[str, Stream]]:
        """Merge and align at each variable of `walk`; `full` collects whether each merge
        yields every coordinate."""
        for v in walk:
            ctx = self._step(top, v, ctx, full)
        for s in self._open_sums(top, None):
            self._finish(s, ctx)
        return ctx

    def _step(self, top: _Node, v: str, ctx: list[tuple[str, Stream]],
              full: list[bool] | None) -> list[tuple[str, Stream]]:
        for s in self._open_sums(top, v):
            self._finish(s, ctx)
        merged = self._merge(top, v)
        if merged is None:  # cannot happen: v is free in top
            raise NotCovered(f"nothing walks index {v}")
        self._align(top, v, merged)
        if full is not None:
            full.append(merged.full)
        return ctx + [(v, merged.crd)]

    def _finish(self, s: _Sum, ctx: list[tuple[str, Stream]]) -> None:
        """Walk a reduction's body from its variable on, then reduce it."""
        walk = [u for u in self.order
                if u in _free(s.child) and self.pos[u] >= self.pos[s.var]]
        inner = self._walk(s.child, walk, ctx)
        val = self._value(s.child)
        after = walk[1:]
        if not after:
            s.val = self.graph.add(Op.REDUCE, (val,), {"op": "add"}, (Kind.VAL,),
                                   (f"sum_{s.var}",))[0]
        elif len(after) == 1:
            crd, s.val = self.graph.add(Op.SPACC, (inner[-1][1], val), {"order": 1},
                                        (Kind.CRD, Kind.VAL),
                                        (f"{after[0]}_crd_acc", f"acc_{s.var}"))
            s.crds = [crd]
        elif len(after) == 2:
            held, crd = self.graph.add(Op.CRD_HOLD, (inner[-2][1], inner[-1][1]), {},
                                       (Kind.CRD, Kind.CRD),
                                       (f"{after[0]}_crd_held", f"{after[1]}_crd"))
            outer, crd, s.val = self.graph.add(
                Op.SPACC, (held, crd, val), {"order": 2}, (Kind.CRD, Kind.CRD, Kind.VAL),
                (f"{after[0]}_crd_acc", f"{after[1]}_crd_acc", f"acc_{s.var}"))
            s.crds = [outer, crd]
        else:
            raise NotCovered(
                f"the sum over {s.var} has {len(after)} index variables after it in the order"
                f" ({', '.join(after)}); sparse accumulators cover at most two: move it inward")
        s.pending = list(after)
        s.done = True

    def _merge(self, node: _Node, v: str) -> _Merge | None:
        if isinstance(node, _Leaf):
            if node.next_var != v:
                return None
            level = node.depth
            crd, ref = self.graph.add(Op.SCAN, (node.ref,),
                                      {"tensor": node.tensor, "level": level},
                                      (Kind.CRD, Kind.REF),
                                      (f"{v}_crd_{node.tensor}", f"{node.tensor}_{v}_ref"))
            dense = node.levels[level] is Level.DENSE
            return _Merge(crd, [(node, ref)], dense and not node.maybe_empty,
                          node if dense else None)
        if isinstance(node, _Const):
            return None
        if isinstance(node, _Call):
            return self._merge(node.a, v)
        if isinstance(node, _Sum):
            if not node.done:
                return self._merge(node.child, v) if v in _free(node.child) else None
            if node.pending and node.pending[0] == v:
                assert node.val is not None
                if len(node.pending) > 1:  # an order-2 accumulator's outer level: no payload
                    return _Merge(node.crds[0], [], False)
                return _Merge(node.crds[0], [(node, node.val)], False)
            return None
        product = node.op in (BinOp.MUL, BinOp.DIV)
        operands = _chain(node, product)
        parts = [m for m in (self._merge(x, v) for x in operands) if m is not None]
        if not parts:
            return None
        if product:
            return self._intersect(parts, v)
        merged = self._join(Op.UNION, parts, v)
        if len(parts) < len(operands) and not merged.full:
            # x(i) + y(i,j): x counts at every j, so the union must walk j densely.
            merged = self._densify(node, v, merged)
        return merged

    def _intersect(self, parts: list[_Merge], v: str) -> _Merge:
        """Intersect the sparse parts; find the dense levels' positions with `locate`
        instead of scanning them (FuseFlow's insert-iterate-locate)."""
        dense = [p for p in parts if p.dense_leaf is not None]
        sparse = [p for p in parts if p.dense_leaf is None] or [dense.pop(0)]
        merged = self._join(Op.INTERSECT, sparse, v)
        for part in dense:
            leaf = part.dense_leaf
            assert leaf is not None
            # The located crd equals its input; keeping the input lets CSE see that walks
            # which locate different dense tensors still share these coordinates.
            _, ref = self.graph.add(Op.LOCATE, (merged.crd, leaf.ref),
                                    {"tensor": leaf.tensor, "level": leaf.depth},
                                    (Kind.CRD, Kind.REF), (f"{v}_crd", f"{leaf.tensor}_{v}_ref"))
            merged = _Merge(merged.crd, merged.payloads + [(leaf, ref)],
                            merged.full and part.full)
        return merged

    def _join(self, op: Op, parts: list[_Merge], v: str) -> _Merge:
        """One joiner per payload position (joiners carry one payload per input)."""
        if any(not part.payloads for part in parts) and len({p.crd for p in parts}) > 1:
            raise NotCovered(f"at {v} the outer level of an order-2 accumulator would have to"
                             " be merged with another operand; pick another order or unfuse")
        unique: list[_Merge] = []
        for part in parts:
            same = next((u for u in unique if u.crd == part.crd), None)
            if same is None:
                unique.append(_Merge(part.crd, list(part.payloads), part.full))
            else:
                same.payloads += part.payloads
        if len(unique) == 1:  # one operand (or one scan reached twice): no joiner
            single = parts[0].dense_leaf if len(parts) == 1 else None
            return _Merge(unique[0].crd, unique[0].payloads, unique[0].full, single)
        width = max(len(u.payloads) for u in unique)
        payloads: list[tuple[_Leaf | _Sum, Stream]] = []
        crd: Stream | None = None
        for t in range(width):
            inputs: list[Stream] = []
            for u in unique:
                inputs += [u.crd, u.payloads[min(t, len(u.payloads) - 1)][1]]
            outs = self.graph.add(op, tuple(inputs), {"n": len(unique)},
                                  (Kind.CRD,) + tuple(s.kind for s in inputs[1::2]),
                                  (f"{v}_crd",) + tuple(self.graph.hints.get(s, "p")
                                                        for s in inputs[1::2]))
            crd = crd or outs[0]
            for k, u in enumerate(unique):
                if t < len(u.payloads):
                    member = u.payloads[t][0]
                    payloads.append((member, outs[1 + k]))
                    if op is Op.UNION and isinstance(member, _Leaf):
                        member.maybe_empty = True
        assert crd is not None
        full = (all if op is Op.INTERSECT else any)(u.full for u in unique)
        return _Merge(crd, payloads, full)

    def _densify(self, node: _Node, v: str, merged: _Merge) -> _Merge:
        """Union `merged` with a dense walk of v borrowed from a tensor storing v densely."""
        for leaf in self._members(node):
            if (isinstance(leaf, _Leaf) and leaf.next_var == v
                    and leaf.levels[leaf.depth] is Level.DENSE and not leaf.maybe_empty):
                crd, ref = self.graph.add(Op.SCAN, (leaf.ref,),
                                          {"tensor": leaf.tensor, "level": leaf.depth},
                                          (Kind.CRD, Kind.REF),
                                          (f"{v}_crd_{leaf.tensor}", f"{leaf.tensor}_{v}_ref"))
                # The borrowed walk contributes coordinates only; its payload is dropped.
                borrowed = _Leaf(leaf.tensor, leaf.vars, leaf.levels, ref)
                out = self._join(Op.UNION, [merged, _Merge(crd, [(borrowed, ref)], True)], v)
                out.payloads = [(m, s) for m, s in out.payloads if m is not borrowed]
                return out
        raise NotCovered(
            f"index {v} must be walked densely (a term of a sum is broadcast along it) but no"
            f" tensor read here stores {v} in a"
            " dense level: give one of them a dense level for it (csr rows, say)")

    def _align(self, top: _Node, v: str, merged: _Merge) -> None:
        """Give every member a payload aligned with the merged coordinates at v."""
        got = {id(m): s for m, s in merged.payloads}
        signal: Stream | None = None
        for member in self._members(top):
            if id(member) in got:
                stream = got[id(member)]
                if isinstance(member, _Leaf):
                    member.ref, member.depth = stream, member.depth + 1
                else:
                    member.val, member.pending, member.crds = stream, [], []
                continue
            if isinstance(member, _Sum) and member.pending and member.pending[0] == v \
                    and merged.crd == member.crds[0]:
                member.pending, member.crds = member.pending[1:], member.crds[1:]
                continue
            if isinstance(member, _Sum) and member.pending:
                raise NotCovered(
                    f"the sum over {member.var} yields coordinates of {member.pending[0]}, but the"
                    f" enclosing expression walks {v} first, so the partial result would be"
                    " re-walked per coordinate of that index: choose an order that visits"
                    f" {v} before {member.var}, or do not fuse this statement")
            if signal is None:
                signal = self.graph.add(Op.REPSIG, (merged.crd,), {}, (Kind.SIG,),
                                        (f"{v}_repsig",))[0]
            if isinstance(member, _Leaf):
                member.ref = self.graph.add(Op.REPEAT, (member.ref, signal), {}, (Kind.REF,),
                                            (f"{member.tensor}_{v}_ref",))[0]
            else:
                assert member.val is not None
                member.val = self.graph.add(Op.REPEAT, (member.val, signal), {}, (Kind.VAL,),
                                            (f"acc_{member.var}_{v}",))[0]

    # ---- values

    def _value(self, node: _Node) -> Stream:
        if isinstance(node, _Leaf):
            if node.next_var is not None:
                raise NotCovered(f"{node.tensor} was not walked to its last level")
            return self.graph.add(Op.LOAD, (node.ref,), {"tensor": node.tensor}, (Kind.VAL,),
                                  (f"{node.tensor}_val",))[0]
        if isinstance(node, _Sum):
            assert node.done and node.val is not None
            return node.val
        if isinstance(node, _Call):
            return self._alu(UNARY[node.func], (self._value(node.a),), None, node.func)
        if isinstance(node, _Const):
            raise NotCovered("a constant on its own has no stream to ride on")
        return self._binary(node)

    def _binary(self, node: _Bin) -> Stream:
        a, b, op = node.a, node.b, node.op
        if isinstance(b, _Const):
            x = self._value(a)
            match op:
                case BinOp.MUL:
                    return self._alu("scalar_mul", (x,), b.value, "scaled")
                case BinOp.DIV:
                    return self._alu("scalar_mul", (x,), 1.0 / b.value, "scaled")
                case BinOp.ADD:
                    return self._alu("scalar_add", (x,), b.value, "shifted")
                case BinOp.SUB:
                    return self._alu("scalar_add", (x,), -b.value, "shifted")
        if isinstance(a, _Const):
            x = self._value(b)
            match op:
                case BinOp.MUL:
                    return self._alu("scalar_mul", (x,), a.value, "scaled")
                case BinOp.ADD:
                    return self._alu("scalar_add", (x,), a.value, "shifted")
                case BinOp.SUB:
                    return self._alu("scalar_add", (self._alu("neg", (x,), None, "neg"),),
                                     a.value, "shifted")
                case BinOp.DIV:
                    inverse = self._alu("scalar_pow", (x,), -1.0, "inverse")
                    return self._alu("scalar_mul", (inverse,), a.value, "scaled")
        name = BINARY[op]
        if self.block > 1 and self._orient(a) != self._orient(b):
            name = "matmul"  # _orient checked that the blocks line up for a product
        return self._alu(name, (self._value(a), self._value(b)), None, name)

    def _orient(self, node: _Node) -> tuple[str, ...] | None:
        """Block mode: the index variables of a value's block rows and columns.

        Blocks are stored in storage order, so a product of blocks is a block matmul when
        the left operand's columns are the right one's rows (the shared index summed
        across blocks by an enclosing sum), and elementwise when both agree.
        """
        if isinstance(node, _Leaf):
            return node.vars
        if isinstance(node, _Const):
            return None
        if isinstance(node, _Call):
            return self._orient(node.a)
        if isinstance(node, _Sum):
            inner = self._orient(node.child)
            if inner is not None and node.var in inner:
                raise NotCovered(f"block mode: the sum over {node.var} would reduce inside"
                                 " blocks; only sums over a block product's shared index work")
            return inner
        a, b = self._orient(node.a), self._orient(node.b)
        if a is None or b is None:
            return a or b
        if a == b:
            return a
        if node.op is BinOp.MUL and a[1] == b[0] and a[0] != b[1]:
            return (a[0], b[1])
        raise NotCovered(
            f"block mode: blocks ({', '.join(a)}) and ({', '.join(b)}) do not line up for"
            f" {'a product' if node.op is BinOp.MUL else 'an elementwise op'}: store one"
            " transposed (mode_order) or put the matmul operands in (row, k) (k, col) order")

    def _alu(self, op: str, inputs: tuple[Stream, ...], scalar: float | None,
             hint: str) -> Stream:
        params: dict[str, object] = {"op": op}
        if scalar is not None:
            params["scalar"] = float(scalar)
        return self.graph.add(Op.ALU, inputs, params, (Kind.VAL,), (hint,))[0]

    # ---- parallel lanes

    def _walk_parallel(self, top: _Node, walk: list[str], full: list[bool],
                       level: str, lanes: int) -> tuple[list[Stream], Stream]:
        """Walk up to `level`, deal its coordinates to `lanes` copies of the rest of the
        walk (fork), and merge the copies' coordinates and values back (join)."""
        if level not in walk:
            raise NotCovered(f"parallel level {level} is not an index of the result"
                             f" ({', '.join(walk)})")
        cut = walk.index(level) + 1
        ctx: list[tuple[str, Stream]] = []
        for v in walk[:cut]:
            ctx = self._step(top, v, ctx, full)
        order_crd = ctx[-1][1]
        members = self._members(top)
        for member in members:
            if isinstance(member, _Sum) and member.pending:
                raise NotCovered(f"parallel level {level}: the sum over {member.var} is still"
                                 f" pending at {member.pending[0]}; parallelize an outer"
                                 " level")
        forked = {id(m): self.graph.add(
            Op.FORK, (m.ref if isinstance(m, _Leaf) else m.val,), {"lanes": lanes},
            (m.ref.kind if isinstance(m, _Leaf) else Kind.VAL,) * lanes,
            tuple(f"lane{k}_{self.graph.hints.get(m.ref if isinstance(m, _Leaf) else m.val)}"
                  for k in range(lanes)), shared=False) for m in members}
        lane_crds: list[list[Stream]] = []
        lane_vals: list[Stream] = []
        for k in range(lanes):
            lane_top = copy.deepcopy(top)
            for m_orig, m_lane in zip(members, self._members(lane_top), strict=True):
                if isinstance(m_lane, _Leaf):
                    m_lane.ref = forked[id(m_orig)][k]
                else:
                    m_lane.val = forked[id(m_orig)][k]
            lane_ctx = self._walk(lane_top, walk[cut:], [], full if k == 0 else None)
            lane_crds.append([c for _, c in lane_ctx])
            lane_vals.append(self._value(lane_top))
        crds = [c for _, c in ctx]
        for depth, v in enumerate(walk[cut:], 1):
            crds.append(self.graph.add(
                Op.JOIN, (order_crd, *[lane[depth - 1] for lane in lane_crds]),
                {"lanes": lanes, "depth": depth}, (Kind.CRD,), (f"{v}_crd",), shared=False)[0])
        val = self.graph.add(Op.JOIN, (order_crd, *lane_vals),
                             {"lanes": lanes, "depth": len(walk) - cut}, (Kind.VAL,),
                             ("val",), shared=False)[0]
        return crds, val


def _chain(node: _Bin, product: bool) -> list[_Node]:
    """Operands of a chain of products (or of sums) under `node`, flattened, so one n-ary
    joiner serves the whole chain."""
    ops = (BinOp.MUL, BinOp.DIV) if product else (BinOp.ADD, BinOp.SUB)
    if node.op not in ops:
        return [node]
    out: list[_Node] = []
    for x in (node.a, node.b):
        out += _chain(x, product) if isinstance(x, _Bin) else [x]
    return out


def _fold(op: BinOp, a: float, b: float) -> float:
    return {BinOp.ADD: a + b, BinOp.SUB: a - b, BinOp.MUL: a * b, BinOp.DIV: a / b}[op]
