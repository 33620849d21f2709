"""Printing compiled graphs as a SAM program (the text an agent would write).

Streams get names from the lowering's hints (`i_crd_A`, `B_k_ref`); a stream read by
several primitives is fanned out with `sam.broadcast` right after it is made, because the
dialect consumes every stream once. Root references are written inline (`A.scan(0)`,
`sam.repeat(sam.root(), sig)`) since a root is a free source, not a stream worth sharing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsl.sam.compiler_graph import Edge, Graph, Node

# The block sizes a blocked program declares tunable (Comal's block modes).
BLOCK_SIZES = (16, 32, 64)


@dataclass(frozen=True)
class TensorLine:
    """A tensor the program declares or re-lays out before its graphs."""

    name: str
    role: str  # "output", "intermediate" or "input" (a with_layout)
    shape: tuple[str | int, ...]
    levels: tuple[str, ...]
    mode_order: tuple[int, ...]
    block: int = 1


def emit_program(
    inputs: list[str], tensors: list[TensorLine], kernels: list[tuple[str, Graph]], doc: str
) -> str:
    """The whole program: imports, `def kernel(...)`, declarations, one block per graph.

    In block mode the block size is the kernel's tunable `block`, over Comal's block modes
    that divide the compiled size: the graph is the same for every size, and a sparse
    operand stored in b x b blocks is a union of blocks of any size dividing b, so the same
    entries are present (a larger block would make the zeros around them present too)."""
    blocks = {t.block for t in tensors if t.block > 1}
    signature = ", ".join(inputs)
    lines = ["from dsl import sam", "", ""]
    if blocks:
        (block,) = blocks  # one block size for every matrix of the program
        sizes = sorted({block, *(b for b in BLOCK_SIZES if block % b == 0)})
        lines.append(f"@sam.tunable(block={sizes})")
        signature += f", block={block}"
    lines.append(f"def kernel({signature}, **params):")
    doc_lines = doc.splitlines()
    lines.append(f'    """{doc_lines[0]}')
    lines += [f"    {line}".rstrip() for line in doc_lines[1:]]
    lines.append('    """')
    for t in tensors:
        layout = f"format={list(t.levels)!r}, mode_order={list(t.mode_order)!r}"
        if t.block > 1:
            layout += ", block=block"
        if t.role == "output":
            lines.append(f"    {t.name} = sam.output({t.name!r}, {layout})")
        elif t.role == "intermediate":
            lines.append(f"    {t.name} = sam.tensor({t.name!r}, {list(t.shape)!r}, {layout})")
        else:
            lines.append(f"    {t.name}.with_layout({layout})")
    reserved = set(inputs) | {t.name for t in tensors} | {"sam", "kernel", "params", "block"}
    for name, graph in kernels:
        lines.append(f"    with sam.graph({name!r}):")
        lines += ["        " + line for line in _GraphPrinter(graph, reserved).lines()]
    return "\n".join(lines) + "\n"


class _GraphPrinter:
    def __init__(self, graph: Graph, reserved: set[str]) -> None:
        self.graph = graph.live()
        self.by_id = {n.id: n for n in self.graph.nodes}
        self.taken = set(reserved)
        self.uses = self.graph.uses()
        self.copies: dict[Edge, list[str]] = {}
        self.out: list[str] = []

    def lines(self) -> list[str]:
        for node in self.graph.nodes:
            if node.op == "root":
                continue
            self._node(node)
        return self.out

    # ---- names

    def _fresh(self, hint: str) -> str:
        base = re.sub(r"\W", "_", hint) or "s"
        if base[0].isdigit():
            base = "s" + base
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def _define(self, stream: Edge) -> str:
        """Name for a new output; `_` if unread. Queues the broadcast copies if shared."""
        uses = self.uses.get(stream, 0)
        if uses == 0:
            return "_"
        name = self._fresh(self.graph.hints.get(stream, stream.kind))
        if uses == 1:
            self.copies[stream] = [name]
        return name

    def _read(self, stream: Edge) -> str:
        node = self.by_id[stream.node]
        if node.op == "root":
            return "sam.root()"
        return self.copies[stream].pop(0)

    def _fan_out(self, streams: tuple[Edge, ...], names: list[str]) -> None:
        for stream, name in zip(streams, names, strict=True):
            uses = self.uses.get(stream, 0)
            if uses > 1:
                copies = [self._fresh(f"{name}_{k}") for k in range(uses)]
                self.out.append(f"{', '.join(copies)} = sam.broadcast({name}, {uses})")
                self.copies[stream] = copies

    # ---- one node

    def _node(self, node: Node) -> None:
        args = [self._read(s) for s in node.inputs]
        names = [self._define(s) for s in node.outputs]
        lhs = ", ".join(names)
        p = dict(node.params)
        match node.op:
            case "scan":
                ref = "" if args[0] == "sam.root()" and p["level"] == 0 else f", {args[0]}"
                call = f"{p['tensor']}.scan({p['level']}{ref})"
            case "locate":
                call = f"{p['tensor']}.locate({p['level']}, {args[0]}, {args[1]})"
            case "repeat_signal":
                call = f"sam.repeat_signal({args[0]})"
            case "repeat":
                call = f"sam.repeat({args[0]}, {args[1]})"
            case "intersect" | "union":
                pairs = ", ".join(f"({args[k]}, {args[k + 1]})" for k in range(0, len(args), 2))
                call = f"sam.{node.op}({pairs})"
            case "load":
                call = f"{p['tensor']}.load({args[0]})"
            case "alu":
                scalar = f", scalar={p['scalar']!r}" if "scalar" in p else ""
                call = f"sam.alu({p['op']!r}, {', '.join(args)}{scalar})"
            case "reduce":
                op = "" if p["op"] == "add" else f", {p['op']!r}"
                call = f"sam.reduce({args[0]}{op})"
            case "spacc":
                call = f"sam.spacc{p['order']}({', '.join(args)})"
            case "crd_hold":
                call = f"sam.crd_hold({args[0]}, {args[1]})"
            case "write_level":
                call = f"{p['tensor']}.write_level({p['level']}, {args[0]})"
            case "write_vals":
                call = f"{p['tensor']}.write_vals({args[0]})"
            case "fork":
                call = f"sam.fork({args[0]}, {p['lanes']})"
            case "join":
                call = f"sam.join({args[0]}, [{', '.join(args[1:])}], depth={p['depth']})"
            case _:
                raise ValueError(f"cannot print {node.op}")
        self.out.append(f"{lhs} = {call}" if node.outputs else call)
        self._fan_out(node.outputs, names)
