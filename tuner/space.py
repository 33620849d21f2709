"""A tuning space: typed parameters plus known constraints, and the operations the search needs.

The space is the only place that knows which configurations are feasible under the known
constraints, so every configuration the tuner proposes comes from here: uniform feasible draws
(chain of trees), feasible neighbours for local search, and the [0, 1] feature encoding the
surrogate models read. A configuration is a plain dict from parameter name to value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tuner.chain_of_trees import build_components
from tuner.errors import SpaceError
from tuner.expr import Constraint
from tuner.params import Parameter

Config = dict[str, Any]
# Leaves a component may enumerate before it falls back to rejection sampling.
DEFAULT_TREE_CAP = 100_000


class Space:
    """Parameters and the constraints over them; ``constraints`` are expression strings."""

    def __init__(
        self,
        params: Sequence[Parameter],
        constraints: Sequence[str] = (),
        *,
        tree_cap: int = DEFAULT_TREE_CAP,
    ) -> None:
        if not params:
            raise SpaceError("a tuning space needs at least one parameter")
        self.params = list(params)
        names = [p.name for p in self.params]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise SpaceError(f"parameter {repeated[0]!r} is declared twice")
        self.constraints = [Constraint(text, set(names)) for text in constraints]
        self.components = build_components(self.params, self.constraints, tree_cap)
        self.width = sum(p.width for p in self.params)

    def __len__(self) -> int:
        return len(self.params)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary, stored in a history file so a resume checks it is the same space."""
        return {
            "params": [repr(p) for p in self.params],
            "constraints": [c.text for c in self.constraints],
        }

    def count(self) -> int | None:
        """How many configurations are feasible, when every component was enumerated (a
        caller stops once it has evaluated them all); None when some are sampled."""
        total = 1
        for component in self.components:
            if component.leaves is not None:
                total *= len(component.leaves)
            elif component.constraints or any(p.size is None for p in component.params):
                return None
            else:  # unconstrained finite parameters: every value is feasible
                total *= math.prod(p.size for p in component.params)
        return total

    def all_feasible(self, limit: int) -> list[Config] | None:
        """Every feasible configuration, in a fixed order, when there are at most ``limit``;
        None otherwise. A space this small has its acquisition maximised exactly instead of
        over a random pool (which misses points and repeats others)."""
        count = self.count()
        if count is None or count > limit:
            return None
        parts = []
        for component in self.components:
            names = [p.name for p in component.params]
            leaves = component.leaves
            if leaves is None:  # unconstrained finite parameters (count() checked)
                leaves = itertools.product(*(p.values() for p in component.params))
            parts.append([dict(zip(names, leaf, strict=True)) for leaf in leaves])
        configs = []
        for combination in itertools.product(*parts):
            merged = {k: v for part in combination for k, v in part.items()}
            configs.append({p.name: merged[p.name] for p in self.params})
        return configs

    def key(self, config: Config) -> tuple[Any, ...]:
        """A hashable identity of a configuration, for de-duplication."""
        return tuple(config[p.name] for p in self.params)

    def check(self, config: Config, where: str = "configuration") -> None:
        """Raise a one-line SpaceError if ``config`` is not a value of this space."""
        for p in self.params:
            if p.name not in config:
                raise SpaceError(f"{where}: missing parameter {p.name!r}")
            if not p.contains(config[p.name]):
                raise SpaceError(f"{where}: {config[p.name]!r} is outside parameter {p.name!r}")
        extra = sorted(set(config) - {p.name for p in self.params})
        if extra:
            raise SpaceError(f"{where}: unknown parameter {extra[0]!r}")

    def feasible(self, config: Config) -> bool:
        return all(c(config) for c in self.constraints)

    def sample(self, rng: np.random.Generator, count: int = 1) -> list[Config]:
        """``count`` independent uniform draws from the feasible configurations."""
        draws = []
        for _ in range(count):
            config: Config = {}
            for component in self.components:
                component.sample(rng, config)
            draws.append({p.name: config[p.name] for p in self.params})
        return draws

    def neighbours(self, config: Config, rng: np.random.Generator) -> list[Config]:
        """Feasible configurations one move away: the nearest feasible step up and down of an
        ordered parameter, every other category, every swap of two positions of a permutation."""
        found = []
        for p in self.params:
            for ray in p.neighbour_rays(config[p.name], rng):
                for value in ray:
                    moved = {**config, p.name: value}
                    if self.feasible(moved):
                        found.append(moved)
                        break
        return found

    def encode(self, configs: Iterable[Config]) -> np.ndarray:
        """Features in [0, 1], one row per configuration, for the surrogate models."""
        rows = [[x for p in self.params for x in p.encode(c[p.name])] for c in configs]
        return np.asarray(rows, dtype=np.float64).reshape(-1, self.width)

    def to_json(self, config: Config) -> dict[str, Any]:
        return {p.name: p.to_json(config[p.name]) for p in self.params}

    def from_json(self, data: dict[str, Any]) -> Config:
        # Keys stay as given (missing or extra ones are for ``check`` to name); values are decoded.
        decoded = {p.name: p.from_json(data[p.name]) for p in self.params if p.name in data}
        return {**data, **decoded}
