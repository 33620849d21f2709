"""Lowering of one fused kernel to SAM primitives: FuseFlow's lowering table, variable by
variable in the dataflow order.

At each index variable v, every tensor access that stores v next is scanned; the scans are
merged by the expression's structure (intersect under `*` and `/`, union under `+` and `-`);
accesses that lack v have their references repeated once per merged coordinate. After the
last variable each access loads its values and the expression tree becomes ALUs
(`compiler_values`).

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

from dsl.errors import NotCovered
from dsl.sam import compiler_tree as tree
from dsl.sam.compiler_graph import Edge, Graph
from dsl.sam.compiler_order import Level, TensorFormat
from dsl.sam.compiler_values import Values, orient
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
from dsl.sam.primitives import CRD, REF, REPSIG, VAL

# --------------------------------------------------------------------------- lowering


class Lowering:
    """Builds the primitives of one kernel into `graph`."""

    def __init__(
        self, graph: Graph, order: tuple[str, ...], formats: dict[str, TensorFormat], block: int = 1
    ) -> None:
        self.graph = graph
        self.block = block
        self.order = order
        self.pos = {v: n for n, v in enumerate(order)}
        self.formats = formats
        self.values = Values(graph, block)

    # ---- public

    def lower_statement(
        self, stmt: Statement, parallel: tuple[str, int] | None
    ) -> tuple[bool, ...]:
        """Walk one result's expression and write every level and the values.

        Returns, per output level, whether the walk there yields every coordinate (the
        compiler stores such levels of an intermediate densely).
        """
        out = stmt.lhs.tensor
        fmt = self.formats[out]
        out_vars = fmt.level_vars(stmt.lhs.indices)
        top = self._build(stmt.rhs)
        walk = [v for v in self.order if v in tree.free(top)]
        if tuple(walk) != out_vars:
            raise NotCovered(
                f"{out} stores its levels as ({', '.join(out_vars)}) but the"
                f" dataflow order visits ({', '.join(walk)})"
            )
        if self.block > 1 and orient(top) != out_vars:
            raise NotCovered(
                f"block mode: the value blocks come out as {orient(top)},"
                f" but {out} stores them as {out_vars}"
            )
        full: list[bool] = []
        if parallel is None:
            ctx = self._walk(top, walk, [], full)
            val = self.values.of(top)
            crds = [c for _, c in ctx]
        else:
            crds, val = self._walk_parallel(top, walk, full, *parallel)
        for level, crd in enumerate(crds):
            self.graph.add("write_level", (crd,), {"tensor": out, "level": level}, (), shared=False)
        self.graph.add("write_vals", (val,), {"tensor": out}, (), shared=False)
        return tuple(full)

    # ---- tree

    def _build(self, expr: Expr) -> tree.Node:
        match expr:
            case Access(tensor, indices):
                fmt = self.formats[tensor]
                if fmt.rank != len(indices):
                    raise NotCovered(
                        f"{tensor} has rank {fmt.rank} but is read as {tensor}({','.join(indices)})"
                    )
                root = self.graph.add("root", (), {}, (REF,), ("root",))[0]
                return tree.Leaf(tensor, fmt.level_vars(indices), fmt.levels, root)
            case Const(value):
                return tree.Const(value)
            case Binary(op, lhs, rhs):
                a, b = self._build(lhs), self._build(rhs)
                if isinstance(a, tree.Const) and isinstance(b, tree.Const):
                    return tree.Const(tree.fold(op, a.value, b.value))
                return tree.Bin(op, a, b, free_indices(expr))
            case Call(func, arg):
                inner = self._build(arg)
                if isinstance(inner, tree.Const):
                    raise NotCovered(f"{func} of a constant: fold it by hand")
                return tree.Call(func, inner, free_indices(expr))
            case Sum():
                # Directly nested sums commute: the one walked first goes outside, so each
                # finishes inside the walk of the one around it.
                # Max and min commute with themselves only: a chain mixing reductions
                # stays in its written order, which only the one walk order fits.
                chain, ops, body = [], set(), expr
                while isinstance(body, Sum):
                    chain.append(body.index)
                    ops.add(body.op)
                    body = body.body
                if len(ops) > 1:
                    raise NotCovered(
                        f"directly nested reductions of different kinds ({', '.join(sorted(ops))})"
                        " in one term: write each in its own statement"
                    )
                node = self._build(body)
                for index in sorted(chain, key=lambda v: self.pos[v], reverse=True):
                    node = tree.Sum(index, node, tree.free(node) - {index}, op=expr.op)
                return node
        raise TypeError(expr)

    def _members(self, node: tree.Node) -> list[tree.Leaf | tree.Sum | tree.Value]:
        """Accesses, finished sums and hoisted values whose streams follow this walk."""
        if isinstance(node, tree.Leaf | tree.Value):
            return [node]
        if isinstance(node, tree.Const):
            return []
        if isinstance(node, tree.Bin):
            return self._members(node.a) + self._members(node.b)
        if isinstance(node, tree.Call):
            return self._members(node.a)
        return [node] if node.done else self._members(node.child)

    def _open_sums(self, node: tree.Node, before: str | None) -> list[tree.Sum]:
        """Unfinished sums whose variable comes before `before` (None: all of them)."""
        if isinstance(node, tree.Bin):
            return self._open_sums(node.a, before) + self._open_sums(node.b, before)
        if isinstance(node, tree.Call):
            return self._open_sums(node.a, before)
        if isinstance(node, tree.Sum) and not node.done:
            if before is None or self.pos[node.var] < self.pos[before]:
                return [node]
            return self._open_sums(node.child, before)
        return []

    # ---- the walk

    def _walk(
        self,
        top: tree.Node,
        walk: list[str],
        ctx: list[tuple[str, Edge]],
        full: list[bool] | None = None,
    ) -> list[tuple[str, Edge]]:
        """Merge and align at each variable of `walk`; `full` collects whether each merge
        yields every coordinate."""
        for v in walk:
            ctx = self._step(top, v, ctx, full)
        for s in self._open_sums(top, None):
            self._finish(s, ctx)
        return ctx

    def _step(
        self, top: tree.Node, v: str, ctx: list[tuple[str, Edge]], full: list[bool] | None
    ) -> list[tuple[str, Edge]]:
        for s in self._open_sums(top, v):
            self._finish(s, ctx)
        merged = self._merge(top, v)
        if merged is None:  # cannot happen: v is free in top
            raise NotCovered(f"nothing walks index {v}")
        self._align(top, v, merged)
        if full is not None:
            full.append(merged.full)
        return ctx + [(v, merged.crd)]

    def _finish(self, s: tree.Sum, ctx: list[tuple[str, Edge]]) -> None:
        """Walk a reduction's body from its variable on, then reduce it."""
        walk = [u for u in self.order if u in tree.free(s.child) and self.pos[u] >= self.pos[s.var]]
        inner = self._walk(s.child, walk, ctx)
        val = self.values.of(s.child)
        after = walk[1:]
        if s.op != "add" and after:
            raise NotCovered(
                f"the {s.op} over {s.var} has {', '.join(after)} after it in the order: only a"
                f" reducer takes a {s.op} (sparse accumulators add), so {s.var} must be innermost"
            )
        if not after:
            name = "sum" if s.op == "add" else s.op
            s.val = self.graph.add("reduce", (val,), {"op": s.op}, (VAL,), (f"{name}_{s.var}",))[0]
        elif len(after) == 1:
            crd, s.val = self.graph.add(
                "spacc",
                (inner[-1][1], val),
                {"order": 1},
                (CRD, VAL),
                (f"{after[0]}_crd_acc", f"acc_{s.var}"),
            )
            s.crds = [crd]
        elif len(after) == 2:
            held, crd = self.graph.add(
                "crd_hold",
                (inner[-2][1], inner[-1][1]),
                {},
                (CRD, CRD),
                (f"{after[0]}_crd_held", f"{after[1]}_crd"),
            )
            outer, crd, s.val = self.graph.add(
                "spacc",
                (held, crd, val),
                {"order": 2},
                (CRD, CRD, VAL),
                (f"{after[0]}_crd_acc", f"{after[1]}_crd_acc", f"acc_{s.var}"),
            )
            s.crds = [outer, crd]
        else:
            raise NotCovered(
                f"the sum over {s.var} has {len(after)} index variables after it in the order"
                f" ({', '.join(after)}); sparse accumulators cover at most two: move it inward"
            )
        s.pending = list(after)
        s.done = True

    def _merge(self, node: tree.Node, v: str) -> tree.Merge | None:
        if isinstance(node, tree.Leaf):
            if node.next_var != v:
                return None
            level = node.depth
            crd, ref = self.graph.add(
                "scan",
                (node.ref,),
                {"tensor": node.tensor, "level": level},
                (CRD, REF),
                (f"{v}_crd_{node.tensor}", f"{node.tensor}_{v}_ref"),
            )
            dense = node.levels[level] is Level.DENSE
            return tree.Merge(
                crd, [(node, ref)], dense and not node.maybe_empty, node if dense else None
            )
        if isinstance(node, tree.Const | tree.Value):
            return None
        if isinstance(node, tree.Call):
            return self._merge(node.a, v)
        if isinstance(node, tree.Sum):
            if not node.done:
                return self._merge(node.child, v) if v in tree.free(node.child) else None
            if node.pending and node.pending[0] == v:
                assert node.val is not None
                if len(node.pending) > 1:  # an order-2 accumulator's outer level: no payload
                    return tree.Merge(node.crds[0], [], False)
                return tree.Merge(node.crds[0], [(node, node.val)], False)
            return None
        product = node.op in (BinOp.MUL, BinOp.DIV)
        operands = tree.chain(node, product)
        parts = [m for m in (self._merge(x, v) for x in operands) if m is not None]
        if not parts:
            return None
        if product:
            return self._intersect(parts, v)
        merged = self._join("union", parts, v)
        if len(parts) < len(operands) and not merged.full:
            # x(i) + y(i,j): x counts at every j, so the union must walk j densely.
            merged = self._densify(node, v, merged)
        return merged

    def _intersect(self, parts: list[tree.Merge], v: str) -> tree.Merge:
        """Intersect the sparse parts; find the dense levels' positions with `locate`
        instead of scanning them (FuseFlow's insert-iterate-locate)."""
        dense = [p for p in parts if p.dense_leaf is not None]
        sparse = [p for p in parts if p.dense_leaf is None] or [dense.pop(0)]
        merged = self._join("intersect", sparse, v)
        for part in dense:
            leaf = part.dense_leaf
            assert leaf is not None
            # The located crd equals its input; keeping the input lets CSE see that walks
            # which locate different dense tensors still share these coordinates.
            _, ref = self.graph.add(
                "locate",
                (merged.crd, leaf.ref),
                {"tensor": leaf.tensor, "level": leaf.depth},
                (CRD, REF),
                (f"{v}_crd", f"{leaf.tensor}_{v}_ref"),
            )
            merged = tree.Merge(
                merged.crd, merged.payloads + [(leaf, ref)], merged.full and part.full
            )
        return merged

    def _join(self, op: str, parts: list[tree.Merge], v: str) -> tree.Merge:
        """One joiner per payload position (joiners carry one payload per input)."""
        if any(not part.payloads for part in parts) and len({p.crd for p in parts}) > 1:
            raise NotCovered(
                f"at {v} the outer level of an order-2 accumulator would have to"
                " be merged with another operand; pick another order or unfuse"
            )
        unique: list[tree.Merge] = []
        for part in parts:
            same = next((u for u in unique if u.crd == part.crd), None)
            if same is None:
                unique.append(tree.Merge(part.crd, list(part.payloads), part.full))
            else:
                same.payloads += part.payloads
        if len(unique) == 1:  # one operand (or one scan reached twice): no joiner
            single = parts[0].dense_leaf if len(parts) == 1 else None
            return tree.Merge(unique[0].crd, unique[0].payloads, unique[0].full, single)
        width = max(len(u.payloads) for u in unique)
        payloads: list[tuple[tree.Leaf | tree.Sum, Edge]] = []
        crd: Edge | None = None
        for t in range(width):
            inputs: list[Edge] = []
            for u in unique:
                inputs += [u.crd, u.payloads[min(t, len(u.payloads) - 1)][1]]
            outs = self.graph.add(
                op,
                tuple(inputs),
                {"n": len(unique)},
                (CRD,) + tuple(s.kind for s in inputs[1::2]),
                (f"{v}_crd",) + tuple(self.graph.hints.get(s, "p") for s in inputs[1::2]),
            )
            crd = crd or outs[0]
            for k, u in enumerate(unique):
                if t < len(u.payloads):
                    member = u.payloads[t][0]
                    payloads.append((member, outs[1 + k]))
                    if op == "union" and isinstance(member, tree.Leaf):
                        member.maybe_empty = True
        assert crd is not None
        full = (all if op == "intersect" else any)(u.full for u in unique)
        return tree.Merge(crd, payloads, full)

    def _densify(self, node: tree.Node, v: str, merged: tree.Merge) -> tree.Merge:
        """Union `merged` with a dense walk of v borrowed from a tensor storing v densely."""
        for leaf in self._members(node):
            if (
                isinstance(leaf, tree.Leaf)
                and leaf.next_var == v
                and leaf.levels[leaf.depth] is Level.DENSE
                and not leaf.maybe_empty
            ):
                crd, ref = self.graph.add(
                    "scan",
                    (leaf.ref,),
                    {"tensor": leaf.tensor, "level": leaf.depth},
                    (CRD, REF),
                    (f"{v}_crd_{leaf.tensor}", f"{leaf.tensor}_{v}_ref"),
                )
                # The borrowed walk contributes coordinates only; its payload is dropped.
                borrowed = tree.Leaf(leaf.tensor, leaf.vars, leaf.levels, ref)
                out = self._join("union", [merged, tree.Merge(crd, [(borrowed, ref)], True)], v)
                out.payloads = [(m, s) for m, s in out.payloads if m is not borrowed]
                return out
        raise NotCovered(
            f"index {v} must be walked densely (a term of a sum is broadcast along it) but no"
            f" tensor read here stores {v} in a"
            " dense level: give one of them a dense level for it (csr rows, say)"
        )

    def _align(self, top: tree.Node, v: str, merged: tree.Merge) -> None:
        """Give every member a payload aligned with the merged coordinates at v."""
        self._hoist(top, v)
        got = {id(m): s for m, s in merged.payloads}
        signal: Edge | None = None
        for member in self._members(top):
            if id(member) in got:
                stream = got[id(member)]
                if isinstance(member, tree.Leaf):
                    member.ref, member.depth = stream, member.depth + 1
                else:
                    member.val, member.pending, member.crds = stream, [], []
                continue
            if (
                isinstance(member, tree.Sum)
                and member.pending
                and member.pending[0] == v
                and merged.crd == member.crds[0]
            ):
                member.pending, member.crds = member.pending[1:], member.crds[1:]
                continue
            if isinstance(member, tree.Sum) and member.pending:
                raise NotCovered(
                    f"the sum over {member.var} yields coordinates of {member.pending[0]}, but the"
                    f" enclosing expression walks {v} first, so the partial result would be"
                    " re-walked per coordinate of that index: choose an order that visits"
                    f" {v} before {member.var}, or do not fuse this statement"
                )
            if signal is None:
                signal = self.graph.add(
                    "repeat_signal", (merged.crd,), {}, (REPSIG,), (f"{v}_repsig",)
                )[0]
            if isinstance(member, tree.Leaf):
                member.ref = self.graph.add(
                    "repeat", (member.ref, signal), {}, (REF,), (f"{member.tensor}_{v}_ref",)
                )[0]
            else:
                assert member.val is not None
                hint = f"{self.graph.hints.get(member.val, 'val')}_{v}"
                member.val = self.graph.add("repeat", (member.val, signal), {}, (VAL,), (hint,))[0]

    def _hoist(self, node: tree.Node, v: str) -> None:
        """Replace each largest finished subexpression that lacks v by its values, so loads
        and ALUs run once per outer coordinate and the result is repeated over v."""
        for name in ("a", "b", "child"):
            child = getattr(node, name, None)
            if (
                child is None
                or isinstance(child, tree.Const | tree.Value)
                or (isinstance(child, tree.Sum) and child.done)
            ):
                continue
            if v not in tree.free(child) and self._finished(child):
                blocks = orient(child) if self.block > 1 else None
                setattr(node, name, tree.Value(self.values.of(child), tree.free(child), blocks))
            else:
                self._hoist(child, v)

    def _finished(self, node: tree.Node) -> bool:
        """Every access walked to its last level and every sum done, none pending."""
        if isinstance(node, tree.Leaf):
            return node.next_var is None
        if isinstance(node, tree.Sum):
            return node.done and not node.pending
        if isinstance(node, tree.Bin):
            return self._finished(node.a) and self._finished(node.b)
        if isinstance(node, tree.Call):
            return self._finished(node.a)
        return True

    # ---- parallel lanes

    def _walk_parallel(
        self, top: tree.Node, walk: list[str], full: list[bool], level: str, lanes: int
    ) -> tuple[list[Edge], Edge]:
        """Walk up to `level`, deal its coordinates to `lanes` copies of the rest of the
        walk (fork), and merge the copies' coordinates and values back (join)."""
        if level not in walk:
            raise NotCovered(
                f"parallel level {level} is not an index of the result ({', '.join(walk)})"
            )
        cut = walk.index(level) + 1
        ctx: list[tuple[str, Edge]] = []
        for v in walk[:cut]:
            ctx = self._step(top, v, ctx, full)
        order_crd = ctx[-1][1]
        members = self._members(top)
        for member in members:
            if isinstance(member, tree.Sum) and member.pending:
                raise NotCovered(
                    f"parallel level {level}: the sum over {member.var} is still"
                    f" pending at {member.pending[0]}; parallelize an outer"
                    " level"
                )
        forked = {
            id(m): self.graph.add(
                "fork",
                (m.ref if isinstance(m, tree.Leaf) else m.val,),
                {"lanes": lanes},
                (m.ref.kind if isinstance(m, tree.Leaf) else VAL,) * lanes,
                tuple(
                    f"lane{k}_{self.graph.hints.get(m.ref if isinstance(m, tree.Leaf) else m.val)}"
                    for k in range(lanes)
                ),
                shared=False,
            )
            for m in members
        }
        lane_crds: list[list[Edge]] = []
        lane_vals: list[Edge] = []
        for k in range(lanes):
            lane_top = copy.deepcopy(top)
            for m_orig, m_lane in zip(members, self._members(lane_top), strict=True):
                if isinstance(m_lane, tree.Leaf):
                    m_lane.ref = forked[id(m_orig)][k]
                else:
                    m_lane.val = forked[id(m_orig)][k]
            lane_ctx = self._walk(lane_top, walk[cut:], [], full if k == 0 else None)
            lane_crds.append([c for _, c in lane_ctx])
            lane_vals.append(self.values.of(lane_top))
        crds = [c for _, c in ctx]
        for depth, v in enumerate(walk[cut:], 1):
            crds.append(
                self.graph.add(
                    "join",
                    (order_crd, *[lane[depth - 1] for lane in lane_crds]),
                    {"lanes": lanes, "depth": depth},
                    (CRD,),
                    (f"{v}_crd",),
                    shared=False,
                )[0]
            )
        val = self.graph.add(
            "join",
            (order_crd, *lane_vals),
            {"lanes": lanes, "depth": len(walk) - cut},
            (VAL,),
            ("val",),
            shared=False,
        )[0]
        return crds, val
