"""The registry of primitive rules: what each primitive computes and how it steps.

A rule takes a node, its input streams and the run context, and returns its output streams
together with a `StepPlan`, built lazily where that costs work: the primitive performs `steps` steps, one per cycle at most;
`consume[p][t]` is the step that takes token t of input p, and `emit[q][t]` the step that
emits token t of output q; both never decrease, and `None` means "token t at step t".
The cycle pass (`interpreter.sam.cycles`) turns step plans into cycles on the shared channel
solver without knowing any primitive; what a primitive is counted for (FLOPs, memory words)
is its count rule's concern (`interpreter.sam.counts`), read from the streams afterwards.
Rule modules (`walk`, `merge`, `compute`, `route`) register themselves by primitive name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dsl.core.spec import SEMANTICS
from dsl.sam.ir import Node, TensorDecl
from dsl.sam.primitives import SAM
from interpreter.errors import ExecutionError
from interpreter.sam.fibertree import Fibertree
from interpreter.sam.streams import Tokens


@dataclass
class StepPlan:
    """How a primitive steps through its streams (see the module doc); no times."""

    steps: int
    consume: list[np.ndarray | None]
    emit: list[np.ndarray | None]
    memory: np.ndarray | None = None  # step of every memory word it moves (any order)


@dataclass
class Result:
    """A rule's answer: the output streams and the step plan (or a function that builds
    it, which only the cycle pass calls: a functional run never pays for timing)."""

    outputs: list[Tokens]
    step_plan: StepPlan | Callable[[], StepPlan]

    @property
    def plan(self) -> StepPlan:
        if callable(self.step_plan):
            self.step_plan = self.step_plan()
        return self.step_plan


@dataclass
class Context:
    """What rules may read: the tensors in storage form and every declaration, by name."""

    tensors: dict[str, Fibertree]
    decls: dict[str, TensorDecl]
    memory_steps: bool = True  # build StepPlan.memory (only a memory model reads it)

    def tensor(self, node: Node) -> Fibertree:
        return self.tensors[node.attrs["tensor"]]


MAX_TOKENS = 60_000_000
"""Longest stream a rule may build, counted in values (a b x b block is b² of them); longer
means a program that would exhaust the trusted side's memory."""


def check_size(node: Node, tokens: int, block: int = 1) -> None:
    """Refuse to build a stream of more than MAX_TOKENS values (checked before allocating)."""
    values = tokens * block * block
    if values > MAX_TOKENS:
        what = f"{tokens:,} tokens"
        if block > 1:
            what += f" of {block}x{block} blocks ({values:,} values)"
        raise ExecutionError(
            f"{node.label()}: would emit {what}, more than the {MAX_TOKENS:,} values allowed"
        )


Rule = Callable[[Node, list[Tokens], Context], Result]
RULES: dict[str, Rule] = {}
SAM.attach(SEMANTICS, RULES)


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


def one_to_one(n_tokens: int, n_inputs: int, n_outputs: int, **kw: object) -> StepPlan:
    """Step plan of a primitive that takes one token per input and emits one per output per
    step."""
    return StepPlan(n_tokens, [None] * n_inputs, [None] * n_outputs, **kw)  # type: ignore


def block_size(val: np.ndarray) -> int:
    """b for a stream of b x b blocks, 1 for scalars."""
    return int(val.shape[1]) if val.ndim == 3 else 1
