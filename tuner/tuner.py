"""The tuner's entry point: ``tune(space, objective, budget, seed)`` or the ``Tuner`` ask/tell loop.

The objective is a black box from a configuration to ``(value, feasible)``: ``feasible`` is
False when the configuration could not be run (over a hardware budget, deadlock, timeout), and
the value is then ignored. Lower values are better (cycles). The loop is BaCO's: a design of
experiments of d+1 feasible points spread over every parameter's values, then each step fits
the GP and the feasibility classifier and evaluates the configuration that maximises
EI × P(feasible).

Every step draws its randomness from ``(seed, step number)`` alone, so a run is reproducible and
a run resumed from its history file proposes exactly what the uninterrupted run would have
(with ``refit_every`` > 1 a resumed run refits at its first step, so it may differ from there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuner.errors import TunerError
from tuner.history import Evaluation, HistoryWriter, load
from tuner.params import Categorical, Parameter, Permutation
from tuner.search import (
    FEASIBILITY_THRESHOLD,
    SearchSettings,
    acquisition,
    draw_threshold,
    maximise,
)
from tuner.space import Config, Space
from tuner.surrogate import FeasibilityModel, ObjectiveModel

Objective = Callable[[Config], tuple[float | None, bool]]
# Stream number of the design of experiments, apart from the per-step streams 0, 1, 2, ...
_DOE_STREAM = 2**32
# Draws tried when looking for a configuration not yet evaluated.
_FRESH_TRIES = 200


@dataclass
class TuneResult:
    """The best feasible configuration found (None if none ran) and every evaluation in order."""

    best: Config | None
    best_value: float | None
    history: list[Evaluation] = field(default_factory=list)


def _coverage(p: Parameter, value: Any, bins: int) -> set:
    """What a design point shows of parameter ``p``: a category, a permutation's (position,
    item) pairs, or which of ``bins`` equal slices of an ordered range the value falls in."""
    if isinstance(p, Categorical):
        return {value}
    if isinstance(p, Permutation):
        return set(enumerate(value))
    return {min(int(p.encode(value)[0] * _coverage_size(p, bins)), _coverage_size(p, bins) - 1)}


def _coverage_size(p: Parameter, bins: int) -> int:
    """How many distinct things ``_coverage`` can show of ``p``."""
    if isinstance(p, Categorical):
        return p.size
    if isinstance(p, Permutation):
        return p.n * p.n
    return bins if p.size is None else min(p.size, bins)


class Tuner:
    """Bayesian optimisation of ``objective`` over ``space`` for ``budget`` evaluations in all
    (a resumed history counts towards the budget)."""

    def __init__(
        self,
        space: Space,
        objective: Objective | None,
        budget: int,
        seed: int = 0,
        history: str | Path | None = None,
        *,
        log_objective: bool = True,
        search: SearchSettings | None = None,
        gp_restarts: int = 2,
        feasibility_threshold: float = FEASIBILITY_THRESHOLD,
        initial: Config | None = None,
        refit_every: int = 1,
    ) -> None:
        if budget < 1:
            raise TunerError(f"the tuning budget must be at least 1 evaluation, not {budget}")
        self.space, self.objective, self.budget, self.seed = space, objective, budget, seed
        self.log_objective = log_objective
        self.search = search or SearchSettings()
        self.gp_restarts = gp_restarts
        self.feasibility_threshold = feasibility_threshold
        if refit_every < 1:
            raise TunerError(f"refit_every must be at least 1 step, not {refit_every}")
        # Steps between hyperparameter fits; in between, the last fit is reused (cheaper).
        self.refit_every = refit_every
        self._hyper: tuple[int, dict] | None = None  # (step fitted at, hyperparameters)
        self.evaluations: list[Evaluation] = []
        self._writer = None
        if history is not None:
            path = Path(history)
            self.evaluations = load(path, space)
            self._writer = HistoryWriter(path, space)
        self._seen = {space.key(e.config) for e in self.evaluations}
        if initial is not None:
            space.check(initial, "initial configuration")
            if not space.feasible(initial):
                raise TunerError(f"initial configuration {initial} breaks a known constraint")
        self._doe = self._design(initial)

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])

    def _design(self, initial: Config | None) -> list[Config]:
        """d+1 distinct feasible points (fewer if the feasible set is that small); the first is
        ``initial`` when given (BaCO starts from the default configuration).

        The points are spread like a Latin hypercube (HyperMapper's other design): each is
        the uniform feasible draw, of a pool, that shows the most parameter values the design
        has not shown yet. Plain uniform draws often leave a category out of all d+1 points
        (measured: SAM SpGEMM's seed 1 ran only parallel level j in its 4 feasible design
        points), and the GP, fitted on the design, then never learns that the other value is
        better; a parameter starts afresh once the design has shown all its values."""
        rng, wanted = self._rng(_DOE_STREAM), len(self.space) + 1
        design = [] if initial is None else [dict(initial)]
        keys = {self.space.key(c) for c in design}
        pool = []
        for config in self.space.sample(rng, wanted * 20):
            if self.space.key(config) not in keys:
                keys.add(self.space.key(config))
                pool.append(config)
        shown = [set() for _ in self.space.params]
        for config in design:
            self._show(config, shown, wanted)
        while pool and len(design) < wanted:
            scores = [self._novelty(c, shown, wanted) for c in pool]
            chosen = pool.pop(int(np.argmax(scores)))  # ties: the earliest (uniform) draw
            design.append(chosen)
            self._show(chosen, shown, wanted)
        return design

    def _show(self, config: Config, shown: list[set], bins: int) -> None:
        """Record ``config``'s values in ``shown``, starting a parameter afresh once full."""
        for p, seen in zip(self.space.params, shown, strict=True):
            seen |= _coverage(p, config[p.name], bins)
            if len(seen) >= _coverage_size(p, bins):
                seen.clear()

    def _novelty(self, config: Config, shown: list[set], bins: int) -> float:
        """How many parameters show a value not shown yet (a permutation counts the share of
        its (position, item) pairs that are new)."""
        total = 0.0
        for p, seen in zip(self.space.params, shown, strict=True):
            keys = _coverage(p, config[p.name], bins)
            total += len(keys - seen) / len(keys)
        return total

    def ask(self) -> Config:
        """The next configuration to evaluate (always feasible under the known constraints)."""
        step = len(self.evaluations)
        rng = self._rng(step)
        if step < len(self._doe) and self.space.key(self._doe[step]) not in self._seen:
            return dict(self._doe[step])
        feasible = [e for e in self.evaluations if e.feasible]
        if step >= len(self._doe) and feasible:
            proposal = self._maximise_acquisition(feasible, rng)
            if proposal is not None:
                return proposal
        return self._fresh(rng)

    def _fresh(self, rng: np.random.Generator) -> Config:
        """A uniform feasible draw, preferring one not yet evaluated."""
        for config in self.space.sample(rng, _FRESH_TRIES):
            if self.space.key(config) not in self._seen:
                return config
        return config

    def _maximise_acquisition(
        self, feasible: list[Evaluation], rng: np.random.Generator
    ) -> Config | None:
        model_seed = int(rng.integers(2**31))
        values = np.asarray([e.value for e in feasible], dtype=np.float64)
        target = np.log(values) if self.log_objective else values
        step = len(self.evaluations)
        reuse = self._hyper is not None and step - self._hyper[0] < self.refit_every
        gp = ObjectiveModel(
            self.space.encode(e.config for e in feasible),
            target,
            model_seed,
            self.gp_restarts,
            hyper=self._hyper[1] if reuse else None,
        )
        if not reuse:
            self._hyper = (step, gp.hyper)
        classifier = FeasibilityModel(
            self.space.encode(e.config for e in self.evaluations),
            np.asarray([e.feasible for e in self.evaluations]),
            model_seed,
        )
        best = float(target.min())
        threshold = draw_threshold(rng, self.feasibility_threshold)

        def score(configs: list[Config]) -> np.ndarray:
            x = self.space.encode(configs)
            return acquisition(
                gp.expected_improvement(x, best),
                classifier.probability(x),
                threshold,
            )

        order = np.argsort(values, kind="stable")[:3]
        incumbents = [feasible[i].config for i in order]
        return maximise(self.space, score, incumbents, self._seen, rng, self.search)

    def tell(self, config: Config, value: float | None, feasible: bool) -> Evaluation:
        """Record the outcome of evaluating ``config``."""
        self.space.check(config)
        if feasible:
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise TunerError(
                    f"objective returned {value!r} for feasible {config}: needs a number"
                )
            if self.log_objective and value <= 0:
                raise TunerError(
                    f"objective returned {value} for {config}: a log objective needs values > 0"
                )
        evaluation = Evaluation(dict(config), float(value) if feasible else None, bool(feasible))
        self.evaluations.append(evaluation)
        self._seen.add(self.space.key(config))
        if self._writer is not None:
            self._writer.write(evaluation)
        return evaluation

    def run(self) -> TuneResult:
        """Evaluate until the budget is spent; return the best configuration and the history."""
        if self.objective is None:
            raise TunerError("Tuner.run needs an objective (or drive it with ask/tell)")
        while len(self.evaluations) < self.budget:
            config = self.ask()
            outcome = self.objective(dict(config))
            if not (isinstance(outcome, tuple) and len(outcome) == 2):
                raise TunerError(f"objective returned {outcome!r}: expected (value, feasible)")
            self.tell(config, *outcome)
        return self.result()

    def result(self) -> TuneResult:
        feasible = [e for e in self.evaluations if e.feasible]
        if not feasible:
            return TuneResult(None, None, list(self.evaluations))
        best = min(feasible, key=lambda e: e.value)
        return TuneResult(dict(best.config), best.value, list(self.evaluations))


def tune(
    space: Space,
    objective: Objective,
    budget: int,
    seed: int = 0,
    history: str | Path | None = None,
    initial: Config | None = None,
) -> TuneResult:
    """Tune ``objective`` over ``space`` with the default settings (``Tuner`` exposes them)."""
    return Tuner(space, objective, budget, seed, history, initial=initial).run()
