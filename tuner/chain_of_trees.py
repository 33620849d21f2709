"""Exact uniform sampling of feasible configurations: BaCO's chain of trees.

Known constraints often leave a small fraction of the product space feasible (``unroll <
chunk``, ``gs % ls == 0``, ``x * y <= budget``), so drawing each parameter independently and
rejecting wastes most draws and, worse, cannot tell "tight" from "empty". Instead the
parameters linked by constraints are grouped into connected components; each component is
enumerated depth first, a constraint pruning a branch as soon as the last parameter it reads
is assigned. The surviving root-to-leaf paths of one tree are its feasible partial
configurations; the feasible set is the product of the trees' leaves, so picking one leaf per
tree uniformly is exactly uniform over feasible configurations.

A tree is kept as its list of leaves (the paths spelled out), which for the size cap is a few
megabytes. A component whose product of domain sizes exceeds the cap, or that holds a real
parameter, is sampled by rejection instead: uniform draws of its parameters, kept when all its
constraints hold, which is also exactly uniform, only slower. Permutations are enumerated
lazily and only under the cap, so ``n!`` orders are never listed for large ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tuner.errors import SpaceError
from tuner.expr import Constraint
from tuner.params import Parameter, Real

# Draws per rejection round and the rounds tried before the constraints are judged too tight.
_REJECTION_BATCH = 256
_REJECTION_ROUNDS = 400


@dataclass
class Component:
    """Parameters linked by constraints; ``leaves`` is None when sampled by rejection."""

    params: list[Parameter]
    constraints: list[Constraint]
    leaves: list[tuple[Any, ...]] | None = None
    # For each depth, the constraints whose last-read parameter sits at that depth.
    by_depth: list[list[Constraint]] = field(default_factory=list)

    def feasible(self, env: dict[str, Any]) -> bool:
        return all(c(env) for c in self.constraints)

    def sample(self, rng: np.random.Generator, env: dict[str, Any]) -> None:
        """Write one uniformly drawn feasible assignment of this component into ``env``."""
        if self.leaves is not None:
            leaf = self.leaves[int(rng.integers(len(self.leaves)))]
            env.update(zip((p.name for p in self.params), leaf, strict=True))
            return
        for _ in range(_REJECTION_ROUNDS * _REJECTION_BATCH):
            for p in self.params:
                env[p.name] = p.sample(rng)
            if self.feasible(env):
                return
        names = ", ".join(p.name for p in self.params)
        texts = "; ".join(c.text for c in self.constraints)
        raise SpaceError(
            f"no feasible value of ({names}) found in {_REJECTION_ROUNDS * _REJECTION_BATCH} "
            f"random draws: constraints {texts!r} are empty or too tight"
        )


def build_components(
    params: Sequence[Parameter], constraints: Sequence[Constraint], cap: int
) -> list[Component]:
    """Group ``params`` by the constraints linking them and enumerate each group under ``cap``."""
    index = {p.name: i for i, p in enumerate(params)}
    parent = list(range(len(params)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for c in constraints:
        ids = [index[name] for name in c.names]
        for other in ids[1:]:
            parent[root(other)] = root(ids[0])
    groups: dict[int, Component] = {}
    for i, p in enumerate(params):
        groups.setdefault(root(i), Component([], [])).params.append(p)
    for c in constraints:
        if not c.names:  # a constant constraint: either always true or the space is empty
            if not c({}):
                raise SpaceError(f"constraint {c.text!r} is never true")
            continue
        groups[root(index[next(iter(c.names))])].constraints.append(c)
    components = list(groups.values())
    for component in components:
        if component.constraints:
            _enumerate(component, cap)
    return components


def _enumerate(component: Component, cap: int) -> None:
    params = component.params
    if any(isinstance(p, Real) for p in params):
        return
    if math.prod(p.size for p in params) > cap:
        return
    depth_of = {p.name: d for d, p in enumerate(params)}
    component.by_depth = [[] for _ in params]
    for c in component.constraints:
        component.by_depth[max(depth_of[name] for name in c.names)].append(c)
    leaves: list[tuple[Any, ...]] = []
    env: dict[str, Any] = {}
    path: list[Any] = []

    def descend(depth: int) -> None:
        if depth == len(params):
            leaves.append(tuple(path))
            return
        p = params[depth]
        for value in p.values():
            env[p.name] = value
            if all(c(env) for c in component.by_depth[depth]):
                path.append(value)
                descend(depth + 1)
                path.pop()
        del env[p.name]

    descend(0)
    if not leaves:
        texts = "; ".join(c.text for c in component.constraints)
        raise SpaceError(f"constraints {texts!r} leave no feasible configuration")
    component.leaves = leaves
