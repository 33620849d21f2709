"""The values of a walked expression: once every access is at its last level and every sum
is reduced, each tree node's value becomes a load, the sum's stream, or ALUs (scalar
operands folded into scalar ALU ops; in block mode, a product of blocks whose orientation
lines up becomes a block matmul). Split from `compiler_lower`, which walks the levels.
"""

from __future__ import annotations

from dsl.errors import NotCovered
from dsl.sam import compiler_tree as tree
from dsl.sam.compiler_graph import Edge, Graph
from dsl.sam.index_notation import BinOp
from dsl.sam.primitives import VAL

UNARY = {
    "exp": "exp",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "rsqrt": "rsqrt",
    "sin": "sin",
    "cos": "cos",
    "neg": "neg",
}
BINARY = {BinOp.ADD: "add", BinOp.SUB: "sub", BinOp.MUL: "mul", BinOp.DIV: "div"}


class Values:
    """Adds the value primitives of tree nodes to `graph` (`block` > 1: block mode)."""

    def __init__(self, graph: Graph, block: int = 1) -> None:
        self.graph, self.block = graph, block

    def of(self, node: tree.Node) -> Edge:
        """The value stream of `node`, walked to its last level: loads, reduced sums and ALUs."""
        if isinstance(node, tree.Leaf):
            if node.next_var is not None:
                raise NotCovered(f"{node.tensor} was not walked to its last level")
            return self.graph.add(
                "load", (node.ref,), {"tensor": node.tensor}, (VAL,), (f"{node.tensor}_val",)
            )[0]
        if isinstance(node, tree.Sum | tree.Value):
            assert node.val is not None, "a sum is read before it is finished"
            return node.val
        if isinstance(node, tree.Call):
            return self.alu(UNARY[node.func], (self.of(node.a),), None, node.func)
        if isinstance(node, tree.Const):
            raise NotCovered("a constant on its own has no stream to ride on")
        return self._binary(node)

    def _binary(self, node: tree.Bin) -> Edge:
        a, b, op = node.a, node.b, node.op
        if isinstance(b, tree.Const):
            x = self.of(a)
            match op:
                case BinOp.MUL:
                    return self.alu("scalar_mul", (x,), b.value, "scaled")
                case BinOp.DIV:
                    return self.alu("scalar_mul", (x,), 1.0 / b.value, "scaled")
                case BinOp.ADD:
                    return self.alu("scalar_add", (x,), b.value, "shifted")
                case BinOp.SUB:
                    return self.alu("scalar_add", (x,), -b.value, "shifted")
        if isinstance(a, tree.Const):
            x = self.of(b)
            match op:
                case BinOp.MUL:
                    return self.alu("scalar_mul", (x,), a.value, "scaled")
                case BinOp.ADD:
                    return self.alu("scalar_add", (x,), a.value, "shifted")
                case BinOp.SUB:
                    return self.alu(
                        "scalar_add", (self.alu("neg", (x,), None, "neg"),), a.value, "shifted"
                    )
                case BinOp.DIV:
                    inverse = self.alu("scalar_pow", (x,), -1.0, "inverse")
                    return self.alu("scalar_mul", (inverse,), a.value, "scaled")
        name = BINARY[op]
        if self.block > 1 and orient(a) != orient(b):
            name = "matmul"  # orient checked that the blocks line up for a product
        return self.alu(name, (self.of(a), self.of(b)), None, name)

    def alu(self, op: str, inputs: tuple[Edge, ...], scalar: float | None, hint: str) -> Edge:
        params: dict[str, object] = {"op": op}
        if scalar is not None:
            params["scalar"] = float(scalar)
        return self.graph.add("alu", inputs, params, (VAL,), (hint,))[0]


def orient(node: tree.Node) -> tuple[str, ...] | None:
    """Block mode: the index variables of a value's block rows and columns.

    Blocks are stored in storage order, so a product of blocks is a block matmul when
    the left operand's columns are the right one's rows (the shared index summed
    across blocks by an enclosing sum), and elementwise when both agree.
    """
    if isinstance(node, tree.Leaf):
        return node.vars
    if isinstance(node, tree.Const):
        return None
    if isinstance(node, tree.Value):
        return node.orient
    if isinstance(node, tree.Call):
        return orient(node.a)
    if isinstance(node, tree.Sum):
        inner = orient(node.child)
        if inner is not None and node.var in inner:
            raise NotCovered(
                f"block mode: the sum over {node.var} would reduce inside"
                " blocks; only sums over a block product's shared index work"
            )
        return inner
    a, b = orient(node.a), orient(node.b)
    if a is None or b is None:
        return a or b
    if a == b:
        return a
    if node.op is BinOp.MUL and a[1] == b[0] and a[0] != b[1]:
        return (a[0], b[1])
    raise NotCovered(
        f"block mode: blocks ({', '.join(a)}) and ({', '.join(b)}) do not line up for"
        f" {'a product' if node.op is BinOp.MUL else 'an elementwise op'}: store one"
        " transposed (mode_order) or put the matmul operands in (row, k) (k, col) order"
    )
