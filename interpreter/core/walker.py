"""A pass walker over a dialect program, in the spirit of torch.fx's `Interpreter`.

`Walker.run` visits the nodes in program order (inputs come first), fetches each node's
input values from an environment keyed by `Port`, calls the node's rule and stores what
it returns under the node's output ports. Each step is a method a subclass overrides to
change one concern: `call` (dispatch; a method named `op_<name>` replaces one op's rule),
`store` (a place to check or transform outputs) and `fail` (how an error raised by a rule
is reported). Given a partial environment, `run` re-runs only the nodes whose
outputs are missing, so a pass can resume from values another pass produced.

Rules are looked up by op name in the mapping given (typically a dialect registry's
`rules(SEMANTICS)`); a rule is called `rule(node, inputs, context)` and returns one value
per output port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dsl.core.ir import Graph, Node, Port
from interpreter.errors import ExecutionError

Rule = Callable[[Node, list[Any], Any], Sequence[Any]]

USER_FAULTS = (ValueError, IndexError, TypeError, FloatingPointError, OverflowError, MemoryError)
"""What a rule raises when the program's data breaks it (a bad index, an overflow); the
walker reports these as `ExecutionError`s naming the node. Anything else is a bug."""


class Walker:
    """Run `program`'s nodes through `rules`, passing `context` to every rule."""

    def __init__(self, program: Graph, rules: Mapping[str, Rule], context: Any = None) -> None:
        self.program = program
        self.rules = rules
        self.context = context
        self._targets: dict[str, Rule] = {}  # op name -> what `call` runs (`_target`)

    def run(self, env: Mapping[Port, Any] | None = None, *, keep: bool = True) -> dict[Port, Any]:
        """Every output value by port. Nodes whose outputs are all in `env` are not re-run
        (nodes without outputs always are); without `keep`, a value is dropped after its
        last reader ran, so a long pass holds only the live streams."""
        values: dict[Port, Any] = dict(env or {})
        last_use = {} if keep else {p: n.id for n in self.program.nodes for p in n.inputs}
        call, store = self.call, self.store
        for node in self.program.nodes:
            if env and (ports := node.ports()) and all(p in values for p in ports):
                continue
            try:  # (one lookup per input: a program may have thousands of nodes)
                inputs = [values[p] for p in node.inputs]
            except KeyError:
                raise _never_computed(node, values) from None
            store(node, call(node, inputs), values)
            if keep:  # (a Port's hash is a Python call: none for each input of each node)
                continue
            for p in node.inputs:
                if last_use.get(p) == node.id:
                    del values[p]
        return values

    def call(self, node: Node, inputs: list[Any]) -> Sequence[Any]:
        """Dispatch `node` to `self.op_<name>` when a subclass defines it, else to its rule
        (looked up once per op name and walker)."""
        try:
            try:
                target = self._targets[node.op]
            except KeyError:
                target = self._targets[node.op] = self._target(node)
            return target(node, inputs, self.context)
        except (ExecutionError, *USER_FAULTS) as exc:
            raise self.fail(node, exc) from None

    def _target(self, node: Node) -> Rule:
        """What `call` runs for `node`'s op, as a rule: the override, else the op's rule."""
        override = getattr(self, f"op_{node.op}", None)
        if override is not None:
            return lambda node, inputs, _context: override(node, inputs)
        rule = self.rules.get(node.op)
        if rule is None:
            raise ExecutionError(f"{node.label()}: op {node.op!r} has no rule in this pass")
        return rule

    def store(self, node: Node, outputs: Sequence[Any], values: dict[Port, Any]) -> None:
        check_count(node, outputs)
        for port, value in zip(node.ports(), outputs, strict=True):
            values[port] = value

    def fail(self, node: Node, exc: Exception) -> Exception:
        """The error to raise for `exc` from `node`'s rule: one line naming the node."""
        msg = str(exc)
        if isinstance(exc, ExecutionError):
            return exc if node.label() in msg else ExecutionError(f"{node.label()}: {msg}")
        return ExecutionError(f"{node.label()}: {type(exc).__name__}: {msg}")


def check_count(node: Node, outputs: Sequence[Any]) -> None:
    """Raise unless `node`'s rule returned one value per output (what `store` stores)."""
    if len(outputs) != len(node.outputs):
        raise ExecutionError(
            f"{node.label()}: the rule returned {len(outputs)} values for"
            f" {len(node.outputs)} outputs"
        )


def _never_computed(node: Node, values: Mapping[Port, Any]) -> ExecutionError:
    """The error for `node`, one of whose inputs is not in `values`."""
    port = next(p for p in node.inputs if p not in values)
    return ExecutionError(
        f"{node.label()}: input from node {port.node} output {port.index} was never computed"
    )
