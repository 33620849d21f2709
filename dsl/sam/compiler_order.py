"""Front half of the SAM compiler: formats, fusion groups and the dataflow order.

FuseFlow's recipe (research notes, section 6): the statements of one fusion group become
one expression by inlining every intermediate the group both produces and consumes;
index variables are unified by name (a producer's variables are renamed to its consumer's
through the access that reads it); every stored tensor's level order adds arcs between
variables, and any topological order of that partial order is a legal dataflow order. A
cycle means some tensor would have to be read against its storage order: the error says
which tensors close the cycle.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dsl.sam.formats import FormatError, normalize
from dsl.sam.index_notation import (
    Access,
    Binary,
    Call,
    Const,
    Expr,
    IndexNotationError,
    Statement,
    Sum,
    free_indices,
    tensors_read,
)


class Level(enum.Enum):
    DENSE = "dense"
    COMPRESSED = "compressed"


@dataclass(frozen=True)
class TensorFormat:
    """Per storage level a level format; `mode_order[l]` is the mode stored at level l."""

    levels: tuple[Level, ...]
    mode_order: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.levels)

    def level_vars(self, indices: tuple[str, ...]) -> tuple[str, ...]:
        """The index variables an access walks, outermost storage level first."""
        return tuple(indices[m] for m in self.mode_order)


def parse_format(owner: str, text: object, rank: int, mode_order: object = None) -> TensorFormat:
    """A format as the dialect spells it (dsl/sam/formats: dense, csr, dcsr, csc, dcsc, csf,
    compressed, a per-level list) or one letter per level (`d` dense, `c` compressed:
    "dc" is CSR), with an optional `mode_order` list."""
    if isinstance(text, str) and text and set(text) <= {"d", "c"}:
        text = ["dense" if ch == "d" else "compressed" for ch in text]
    try:
        levels, order = normalize(text, rank, mode_order)
    except FormatError as exc:
        raise IndexNotationError(f"{owner}: {exc}") from None
    return TensorFormat(tuple(Level(lv) for lv in levels), order)


# --------------------------------------------------------------------------- fusion


def fusion_groups(statements: list[Statement], fuse: object) -> list[list[int]]:
    """Statement indices per graph. `fuse` is true (one graph), false (one per statement)
    or a list of groups, each a list of statement numbers (0-based) or result names."""
    count = len(statements)
    if fuse is True:
        return [list(range(count))]
    if fuse is False:
        return [[n] for n in range(count)]
    if not isinstance(fuse, list) or not all(isinstance(g, list) and g for g in fuse):
        raise IndexNotationError(f"fuse must be true, false or a list of groups, got {fuse!r}")
    names = {s.lhs.tensor: n for n, s in enumerate(statements)}
    groups: list[list[int]] = []
    for group in fuse:
        members = []
        for item in group:
            if isinstance(item, str) and item in names:
                members.append(names[item])
            elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < count:
                members.append(item)
            else:
                raise IndexNotationError(
                    f"fuse group {group!r}: {item!r} is neither a statement number below"
                    f" {count} nor a result name"
                )
        groups.append(sorted(members))
    seen = sorted(n for g in groups for n in g)
    if seen != list(range(count)):
        raise IndexNotationError(
            f"fuse groups must cover every statement exactly once, got {fuse!r}"
        )
    done: set[str] = set()
    for group in groups:  # graphs run in the listed order
        mine = {statements[n].lhs.tensor for n in group}
        for n in group:
            for access in tensors_read(statements[n].rhs):
                name = access.tensor
                if name in names and name not in mine and name not in done:
                    raise IndexNotationError(
                        f"fuse group {[statements[m].lhs.tensor for m in group]} reads {name}"
                        " before the group that computes it has run"
                    )
        done |= mine
    return groups


def inline(stmt: Statement, producers: dict[str, Statement], aliases: dict[str, str]) -> Statement:
    """Replace each read of a result in `producers` by its right-hand side, renamed.

    The producer's result indices become the reader's; a summed index of the producer that
    would collide with an index in scope at the read (the reader's own indices, or one
    summed around the read) gets a fresh name, recorded in `aliases` (fresh -> original)
    so that a dataflow order naming the original places the copy just before it.
    """
    taken = set().union(
        *(all_indices(s.rhs) | set(s.lhs.indices) for s in [stmt, *producers.values()])
    )

    def fresh(name: str) -> str:
        n = 2
        while f"{name}_{n}" in taken:
            n += 1
        taken.add(f"{name}_{n}")
        return f"{name}_{n}"

    def go(expr: Expr, scope: frozenset[str]) -> Expr:
        match expr:
            case Access(tensor, indices) if tensor in producers:
                producer = producers[tensor]
                if len(indices) != len(producer.lhs.indices):
                    raise IndexNotationError(
                        f"{tensor} has rank {len(producer.lhs.indices)} but is read as"
                        f" {tensor}({','.join(indices)})"
                    )
                body = go(producer.rhs, frozenset(producer.lhs.indices))
                rename = dict(zip(producer.lhs.indices, indices, strict=True))
                for b in sorted(_bound(body)):
                    if b in scope or b in indices:
                        rename[b] = fresh(b)
                        aliases[rename[b]] = aliases.get(b, b)
                return _rename(body, rename)
            case Access() | Const():
                return expr
            case Binary(op, lhs, rhs):
                return Binary(op, go(lhs, scope), go(rhs, scope))
            case Call(func, arg):
                return Call(func, go(arg, scope))
            case Sum(index, body, op):
                return Sum(index, go(body, scope | {index}), op)
        raise TypeError(expr)

    scope = frozenset(stmt.lhs.indices) | free_indices(stmt.rhs)
    return Statement(stmt.lhs, go(stmt.rhs, scope), stmt.text)


def _bound(expr: Expr) -> set[str]:
    match expr:
        case Sum(index, body):
            return {index} | _bound(body)
        case Binary(_, lhs, rhs):
            return _bound(lhs) | _bound(rhs)
        case Call(_, arg):
            return _bound(arg)
    return set()


def _rename(expr: Expr, names: dict[str, str]) -> Expr:
    match expr:
        case Access(tensor, indices):
            return Access(tensor, tuple(names.get(i, i) for i in indices))
        case Const():
            return expr
        case Binary(op, lhs, rhs):
            return Binary(op, _rename(lhs, names), _rename(rhs, names))
        case Call(func, arg):
            return Call(func, _rename(arg, names))
        case Sum(index, body, op):
            return Sum(names.get(index, index), _rename(body, names), op)
    raise TypeError(expr)


def all_indices(expr: Expr) -> set[str]:
    """Free and bound index variables of an expression."""
    found = set(free_indices(expr)) | _bound(expr)
    for access in tensors_read(expr):
        found |= set(access.indices)
    return found


# --------------------------------------------------------------------------- order


def dataflow_order(
    variables: list[str],
    constraints: list[tuple[str, tuple[str, ...]]],
    requested: object = None,
    aliases: dict[str, str] | None = None,
) -> tuple[str, ...]:
    """A topological order of `variables` under each tensor's level order.

    `constraints` holds (tensor, variables by storage level). `requested` is the task's
    `order` (a string of one-letter variables or a list of names) restricted to these
    variables; without it the first order is taken, ties broken by first appearance.
    Renamed copies of summed indices (`aliases`, see `inline`) go just before the original.
    """
    aliases = aliases or {}
    for copy_name, original in aliases.items():
        if copy_name in variables and original in variables:
            variables = [v for v in variables if v != copy_name]
            variables.insert(variables.index(original), copy_name)
    arcs = _arcs(variables, constraints)
    if requested is not None:
        order = _requested_order(requested, variables, aliases)
        position = {v: n for n, v in enumerate(order)}
        for outer in variables:
            for inner, tensor in arcs[outer].items():
                if position[outer] > position[inner]:
                    raise IndexNotationError(
                        f"order {''.join(order) if all(len(v) == 1 for v in order) else order}"
                        f" visits {inner} before {outer}, but {tensor} stores {outer} above"
                        f" {inner}; legal orders: {', '.join(legal_orders(variables, arcs)[:6])}"
                    )
        return order
    return tuple(_kahn(variables, arcs))


def all_orders(
    variables: list[str], constraints: list[tuple[str, tuple[str, ...]]], limit: int = 720
) -> list[str]:
    """Every legal dataflow order (up to `limit`): the search space of the `order` knob."""
    return legal_orders(variables, _arcs(variables, constraints), limit)


def _arcs(
    variables: list[str], constraints: list[tuple[str, tuple[str, ...]]]
) -> dict[str, dict[str, str]]:
    """outer -> {inner: tensor} for consecutive storage levels; rejects cycles."""
    arcs: dict[str, dict[str, str]] = {v: {} for v in variables}
    for tensor, level_vars in constraints:
        if len(set(level_vars)) != len(level_vars):
            raise IndexNotationError(
                f"{tensor}({','.join(level_vars)}) repeats an index (diagonals are not supported)"
            )
        for outer, inner in zip(level_vars, level_vars[1:], strict=False):
            arcs[outer].setdefault(inner, tensor)
    cycle = _find_cycle(variables, arcs)
    if cycle:
        path = " -> ".join(
            f"{a} ({arcs[a][b]} stores {a} above {b})"
            for a, b in zip(cycle, cycle[1:], strict=False)
        )
        raise IndexNotationError(
            f"no dataflow order exists: the tensors' level orders form a cycle {path}; store"
            " one of them in another mode order or do not fuse these statements"
        )
    return arcs


def _requested_order(
    requested: object, variables: list[str], aliases: dict[str, str]
) -> tuple[str, ...]:
    if isinstance(requested, str):
        items = list(requested) if "," not in requested else requested.split(",")
    elif isinstance(requested, (list, tuple)):
        items = [str(v) for v in requested]
    else:
        raise IndexNotationError(f"order must be a string or a list, got {requested!r}")
    items = [v.strip() for v in items]
    for copy_name, original in aliases.items():
        if copy_name in variables and copy_name not in items and original in items:
            items.insert(items.index(original), copy_name)
    unknown = [v for v in items if v not in variables]
    kept = [v for v in items if v in variables]
    missing = [v for v in variables if v not in kept]
    if missing or len(set(kept)) != len(kept):
        raise IndexNotationError(
            f"order {requested!r} must list each index variable {sorted(variables)} once"
            + (f" (missing {', '.join(missing)})" if missing else "")
        )
    del unknown  # variables of other fusion groups are allowed in a global order
    return tuple(kept)


def _kahn(variables: list[str], arcs: dict[str, dict[str, str]]) -> list[str]:
    indegree = {v: 0 for v in variables}
    for outer in variables:
        for inner in arcs[outer]:
            indegree[inner] += 1
    order: list[str] = []
    ready = [v for v in variables if indegree[v] == 0]
    while ready:
        v = ready.pop(0)
        order.append(v)
        for inner in arcs[v]:
            indegree[inner] -= 1
            if indegree[inner] == 0:
                ready.append(inner)
        ready.sort(key=variables.index)
    return order


def _find_cycle(variables: list[str], arcs: dict[str, dict[str, str]]) -> list[str] | None:
    state = {v: 0 for v in variables}  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in arcs[v]:
            if state[w] == 1:
                return stack[stack.index(w) :] + [w]
            if state[w] == 0:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        state[v] = 2
        return None

    for v in variables:
        if state[v] == 0:
            found = visit(v)
            if found:
                return found
    return None


def legal_orders(
    variables: list[str], arcs: dict[str, dict[str, str]], limit: int = 720
) -> list[str]:
    """Every topological order (up to `limit`), as strings joined by ''."""
    found: list[str] = []

    def extend(prefix: list[str], left: set[str]) -> None:
        if len(found) >= limit:
            return
        if not left:
            found.append("".join(prefix) if all(len(v) == 1 for v in prefix) else ",".join(prefix))
            return
        for v in variables:
            if v in left and not any(v in arcs[u] for u in left):
                extend(prefix + [v], left - {v})

    extend([], set(variables))
    return found
