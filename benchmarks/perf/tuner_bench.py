"""The tuner against other autotuners on tuning problems drawn from our three dialects.

    python -m benchmarks.perf.tuner_bench [--quick] [--json] [--repeats R] [--first-seed S]
        [--budgets B ...]
    python -m benchmarks.perf.tuner_bench --problems P --cache F --runs R   # one job per problem
    python -m benchmarks.perf.tuner_bench --summarise R1 R2 R3 [--json]     # then all together

The problems (`benchmarks/perf/tuner_problems.py`), three small ones (hundreds to thousands
of configurations: on them even a perfect tuner has little room over random sampling): STeP
gemm+SiLU tile sizes, compute allocation and loop order under the chip's compute and on-chip
budgets; SAM MTTKRP dataflow order (a permutation of four indices), operand layouts, parallel
level and factor; DAE level, vector length, hints and rows per callback. Two of the size of
real kernels' spaces (`LARGE`): STeP SwiGLU with per-operator tile sizes and compute
allocations (583,200 configurations), SAM SpGEMM dataflow order, per-level operand formats,
parallel level and factor and block size (2,880, of which the compiler refuses about half).

Methods: ours (BaCO design), uniform sampling of feasible configurations, Optuna TPE and
Optuna's GP sampler (Optuna is a dev dependency). The comparison is fair about constraints:
every method gets the known constraints (the space's) the way it can use them, and pays the
same for the unknown ones. Ours and random draw only feasible configurations (chain of trees).
Optuna has no constraint language, so it gets them by rejection: a proposal breaking a known
constraint is told to the study as failed and costs no evaluation (the black box is not
called); after `MAX_REJECTIONS` such proposals in a row the evaluation takes a uniform
feasible draw instead, told to the study as its own trial, and the bench reports how often
that happened. An unknown constraint (over a budget, a deadlock, a failed check) costs an
evaluation for every method; Optuna is told log(2 x the worst feasible cycles its run has
seen), on the scale of its other values (a huge constant would swamp a GP's standardised
targets), or a failure while it has seen none. Every method reads the same cache: a
configuration always gives the same cycles, so each is simulated once per process (`--cache
FILE` keeps them across runs: the figures do not change, only the time). Every method is
deterministic per seed, so `--methods M ...` reruns some methods and keeps the others' runs
from the `--runs` file.

Reported per budget: the geometric mean over problems and repeats of the competitor's best
cycles over ours (> 1: ours found faster code), and the ratio of evaluations to reach the
best configuration known (over every evaluation of every method), random's over ours; a run
that never reaches it counts budget + 1 whichever method it is (a censored count: the ratio
of a pair in which only one run reached it understates that run's lead, so at budget 20
no ratio exceeds 21 / the evaluations ours needed), and a run that found nothing feasible is
scored twice the worst feasible cycles seen. Printed beside them
(on stderr with `--json`): how many runs of each method reached the best known
configuration, and the ceiling, the ratios a tuner finding it in every run would score (how
much room the problems leave over each competitor at that budget), and for evaluations to the
best, the ratio of a tuner reaching it at the first evaluation after its d+1-point design in
every run (random's count over d + 2: a design-then-model tuner's most). `--json` prints
`{"<budget>": {"vs_random", "vs_tpe", "vs_optuna_gp", "evals_to_best_ratio_vs_random"}}`; a
competitor not run at a budget on every problem (GP runs are slow) is left out of that row.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.perf.tuner_problems import LARGE, PROBLEMS, Problem
from tuner.params import Permutation
from tuner.search import SearchSettings
from tuner.space import Config
from tuner.tuner import Tuner

BUDGETS = (20, 40, 60)
METHODS = ("ours", "random", "tpe", "optuna_gp")
# Proposals breaking a known constraint an Optuna sampler may make per evaluation before that
# evaluation falls back to a uniform feasible draw. A GP proposal costs a model fit and an
# acquisition search (~0.5 s), and told a failure the GP proposes much the same point again.
MAX_REJECTIONS = {"tpe": 50, "optuna_gp": 10}


@dataclass
class Run:
    """One method's run: the values of its evaluations in order (inf = failed), and for the
    Optuna samplers the proposals rejected for a known constraint and the cap's fallbacks."""

    values: list[float] = field(default_factory=list)
    rejected: int = 0
    fallbacks: int = 0


# -- methods: each returns a Run of `budget` evaluations ------------------------------------


def run_ours(problem: Problem, budget: int, seed: int) -> Run:
    def objective(config: Config) -> tuple[float | None, bool]:
        value = problem(config)
        return value, value is not None

    # Cheaper steps than the defaults: a smaller acquisition pool (these spaces have hundreds
    # of points) and the GP's hyperparameters refitted every third step, reused in between.
    tuner = Tuner(
        problem.space, objective, budget, seed, search=SearchSettings(500, 5), refit_every=3
    )
    return Run([e.value if e.feasible else math.inf for e in tuner.run().history])


def run_random(problem: Problem, budget: int, seed: int) -> Run:
    rng = np.random.default_rng([seed, 11])
    values = [problem(c) for c in problem.space.sample(rng, budget)]
    return Run([math.inf if v is None else v for v in values])


def _optuna(problem: Problem, budget: int, seed: int, sampler: Any, cap: int) -> Run:
    """Optuna's sampler told the known constraints by rejection (see the module docstring)."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    choices = {}
    for p in problem.space.params:
        # Optuna has no permutation type: orders are categories (as ytopt's baseline did).
        values = list(p.values())
        choices[p.name] = (
            values if not isinstance(p, Permutation) else ["".join(map(str, v)) for v in values]
        )
    study = optuna.create_study(sampler=sampler)
    rng = np.random.default_rng([seed, 13])
    run = Run()

    def propose() -> tuple[Any, Config]:
        for _ in range(cap):
            trial = study.ask()
            raw = {n: trial.suggest_categorical(n, c) for n, c in choices.items()}
            config = {
                p.name: tuple(raw[p.name]) if isinstance(p, Permutation) else raw[p.name]
                for p in problem.space.params
            }
            if problem.space.feasible(config):
                return trial, config
            # Known to be infeasible without running it: no evaluation is spent.
            study.tell(trial, state=TrialState.FAIL)
            run.rejected += 1
        # The sampler keeps proposing infeasible points: spend this evaluation on a uniform
        # feasible draw instead (told to the study as its own trial), and report it.
        run.fallbacks += 1
        config = problem.space.sample(rng)[0]
        study.enqueue_trial(
            {
                p.name: "".join(map(str, config[p.name]))
                if isinstance(p, Permutation)
                else config[p.name]
                for p in problem.space.params
            }
        )
        trial = study.ask()
        for n, c in choices.items():
            trial.suggest_categorical(n, c)
        return trial, config

    while len(run.values) < budget:
        trial, config = propose()
        value = problem(config)
        run.values.append(math.inf if value is None else value)
        feasible = [v for v in run.values if v < math.inf]
        if value is not None:
            study.tell(trial, math.log(value))
        elif feasible:  # an unknown constraint: worse than anything feasible seen, on scale
            study.tell(trial, math.log(2 * max(feasible)))
        else:
            study.tell(trial, state=TrialState.FAIL)
    return run


def run_tpe(problem: Problem, budget: int, seed: int) -> Run:
    import optuna

    return _optuna(
        problem, budget, seed, optuna.samplers.TPESampler(seed=seed), MAX_REJECTIONS["tpe"]
    )


def run_optuna_gp(problem: Problem, budget: int, seed: int) -> Run:
    import optuna

    sampler = optuna.samplers.GPSampler(seed=seed)
    return _optuna(problem, budget, seed, sampler, MAX_REJECTIONS["optuna_gp"])


RUNNERS = {"ours": run_ours, "random": run_random, "tpe": run_tpe, "optuna_gp": run_optuna_gp}


def geomean(values: list[float]) -> float:
    return math.exp(float(np.mean(np.log(values))))


def evals_to_reach(values: list[float], target: float, budget: int) -> int:
    """1-based index of the first evaluation at or below ``target``; budget + 1 if none."""
    for i, v in enumerate(values[:budget]):
        if v <= target * (1 + 1e-9):
            return i + 1
    return budget + 1


COMPETITORS = (("random", "vs_random"), ("tpe", "vs_tpe"), ("optuna_gp", "vs_optuna_gp"))


def _found(run: list[float], budget: int, worst: float) -> float:
    """A run's best within ``budget``; one that found nothing feasible (inf) is scored twice
    the worst feasible value any method saw on the problem, not infinitely bad."""
    return min(min(run[:budget]), worst * 2)


def _worst(methods: dict[str, list[list[float]]]) -> float:
    return max(v for r in methods.values() for run in r for v in run if v < math.inf)


def _complete(runs: dict[str, dict[str, list[list[float]]]], method: str, budget: int) -> bool:
    """Whether ``method`` ran at least ``budget`` evaluations on every problem."""
    return all(m.get(method) and all(len(r) >= budget for r in m[method]) for m in runs.values())


def summarise(
    runs: dict[str, dict[str, list[list[float]]]], best: dict[str, float], budgets: list[int]
) -> dict[str, dict[str, float]]:
    """Per budget: competitor best / our best (geomean) and random's evals-to-best / ours."""
    out = {}
    for b in budgets:
        row: dict[str, float] = {}
        for other, key in COMPETITORS:
            if not _complete(runs, other, b):
                continue  # not run (or not this long) on every problem
            ratios = []
            for methods in runs.values():
                worst = _worst(methods)
                for ours, theirs in zip(methods["ours"], methods[other], strict=False):
                    ratios.append(_found(theirs, b, worst) / _found(ours, b, worst))
            row[key] = round(geomean(ratios), 4)
        reach = []
        for name, methods in runs.items():
            for ours, rand in zip(methods["ours"], methods["random"], strict=False):
                reach.append(
                    evals_to_reach(rand, best[name], b) / evals_to_reach(ours, best[name], b)
                )
        row["evals_to_best_ratio_vs_random"] = round(geomean(reach), 4)
        out[str(b)] = row
    return out


def ceiling(
    runs: dict[str, dict[str, list[list[float]]]], best: dict[str, float], budget: int
) -> dict[str, float]:
    """The ``vs_*`` ratios a tuner would score that found the best known configuration in
    every run: how far the problems let any method beat each competitor at ``budget``."""
    row = {}
    for other, key in COMPETITORS:
        if _complete(runs, other, budget):
            ratios = [
                _found(theirs, budget, _worst(methods)) / best[name]
                for name, methods in runs.items()
                for theirs in methods[other]
            ]
            row[key] = round(geomean(ratios), 4)
    return row


def reach_ceiling(
    runs: dict[str, dict[str, list[list[float]]]],
    best: dict[str, float],
    budget: int,
    design: dict[str, int],
) -> float:
    """The evaluations-to-best ratio vs random of a tuner that reaches the best known
    configuration with its first proposal after its design (``design[name]`` points) in every
    run: the most a design-then-model tuner can score unless the design itself hits it."""
    ratios = [
        evals_to_reach(r, best[name], budget) / (design[name] + 1)
        for name, methods in runs.items()
        for r in methods["random"]
    ]
    return round(geomean(ratios), 4)


def reached(
    runs: dict[str, dict[str, list[list[float]]]], best: dict[str, float], budget: int
) -> dict[str, tuple[int, int]]:
    """Per method: (runs that reached the best known configuration within ``budget``, runs)."""
    counts: dict[str, tuple[int, int]] = {}
    for name, methods in runs.items():
        for method, method_runs in methods.items():
            hits = sum(evals_to_reach(r, best[name], budget) <= budget for r in method_runs)
            done, total = counts.get(method, (0, 0))
            counts[method] = (done + hits, total + len(method_runs))
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, budgets 20 and 40")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per problem (10)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seed of the first repeat (0); fresh seeds check a change was not fitted to 0-9",
    )
    parser.add_argument(
        "--budgets", type=int, nargs="+", help=f"evaluation budgets (default {BUDGETS})"
    )
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--cache", type=Path, help="JSON file of evaluations, read and updated")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=list(METHODS),
        help="methods to run; the others' runs are kept from the --runs file (deterministic)",
    )
    parser.add_argument(
        "--runs", type=Path, help="JSON file the runs are added to (to summarise separate jobs)"
    )
    parser.add_argument(
        "--summarise",
        type=Path,
        nargs="+",
        help="only summarise the runs in these --runs files (problems run as separate jobs)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 10)
    budgets = args.budgets or ([20, 40] if args.quick else list(BUDGETS))
    longest = max(budgets)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    runs: dict[str, dict[str, list[list[float]]]] = {}
    best: dict[str, float] = {}
    if args.summarise:
        for path in args.summarise:
            # Files holding the same problem add their methods (jobs may run methods apart).
            for name, data in json.loads(path.read_text()).items():
                runs.setdefault(name, {}).update(
                    (m, [[math.inf if v is None else v for v in r] for r in rs])
                    for m, rs in data.items()
                )
        for name, methods in runs.items():
            best[name] = min(min(run) for r in methods.values() for run in r)
        shortest = min(len(r) for m in runs.values() for r in m["ours"] + m["random"])
        budgets = [b for b in BUDGETS if b <= shortest]
        if not budgets:
            parser.error(f"the runs hold {shortest} evaluations, fewer than a budget {BUDGETS}")
        args.problems = []
    for name in args.problems:
        problem = PROBLEMS[name]()
        if args.cache:
            problem.load(args.cache)
        kept = {}
        if args.runs and args.runs.exists():
            kept = json.loads(args.runs.read_text()).get(name, {})
        runs[name] = {m: [] for m in args.methods}
        for m, rs in kept.items():
            if m not in args.methods:
                if len(rs) < repeats:
                    parser.error(f"{name}: {args.runs} holds fewer than {repeats} runs of {m}")
                runs[name][m] = [[math.inf if v is None else v for v in r] for r in rs]
        seconds = dict.fromkeys(args.methods, 0.0)
        rejected = dict.fromkeys(args.methods, 0)
        fallbacks = dict.fromkeys(args.methods, 0)
        for seed in range(args.first_seed, args.first_seed + repeats):
            for method in args.methods:
                start, simulated = time.perf_counter(), problem.seconds
                run = RUNNERS[method](problem, longest, seed)
                runs[name][method].append(run.values)
                seconds[method] += time.perf_counter() - start - (problem.seconds - simulated)
                rejected[method] += run.rejected
                fallbacks[method] += run.fallbacks
            # After every repeat, so that a stopped job's finished repeats can be summarised.
            if args.cache:
                problem.save(args.cache)
            if args.runs:
                saved = json.loads(args.runs.read_text()) if args.runs.exists() else {}
                saved[name] = {
                    m: [[None if v == math.inf else v for v in r] for r in rs]
                    for m, rs in runs[name].items()
                }
                args.runs.write_text(json.dumps(saved))
        # Over this run's evaluations (a cache file may hold others from earlier runs).
        best[name] = min(min(run) for r in runs[name].values() for run in r)
        size = "realistic size" if name in LARGE else "small"
        say(
            f"{name} ({size}): {problem.space.count() or '?'} feasible configs, "
            f"{len(problem.cache)} "
            f"evaluated ({problem.seconds:.0f} s now), best known {best[name]:.0f} cycles; "
            "method seconds (without simulation): "
            + ", ".join(f"{m} {s:.0f}" for m, s in seconds.items())
        )
        for method in ("tpe", "optuna_gp"):
            if method in args.methods:
                say(
                    f"  {method}: {rejected[method]} proposals rejected for a known constraint; "
                    f"{fallbacks[method]} evaluations hit the cap of {MAX_REJECTIONS[method]} rejections "
                    "and took a uniform feasible draw"
                )
        for method in runs[name]:
            found = [min(r[: budgets[0]]) for r in runs[name][method]]
            say(f"  {method:>9} @ {budgets[0]}: geomean best {geomean(found):.0f} cycles")
    if not all("ours" in methods for methods in runs.values()):
        return  # competitors run alone, for ours to be compared with later (--runs)
    summary = summarise(runs, best, budgets)
    # Design sizes (d + 1) of the bench's own problems (summarised runs may name others).
    design = {name: len(PROBLEMS[name]().space) + 1 for name in runs if name in PROBLEMS}
    say(
        "evaluations to the best known configuration (the best any method evaluated on the "
        "problem): the 1-based index of a run's first evaluation at or below it; a run that "
        "never reaches it within the budget counts budget + 1, for every method alike"
    )
    for b, row in summary.items():
        say(f"budget {b}: " + ", ".join(f"{k} {v:g}" for k, v in row.items()))
        counts = reached(runs, best, int(b))
        say(
            "  runs reaching the best known: "
            + ", ".join(f"{m} {h}/{n}" for m, (h, n) in counts.items())
        )
        say(
            "  ceiling (a tuner finding the best known in every run): "
            + ", ".join(f"{k} {v:g}" for k, v in ceiling(runs, best, int(b)).items())
        )
        if len(design) == len(runs):
            say(
                "  evals_to_best_ratio_vs_random ceiling (a tuner reaching it at the first "
                f"evaluation after its d+1-point design): {reach_ceiling(runs, best, int(b), design):g}"
            )
    if args.json:
        print(json.dumps(summary))


def _set_up_process() -> None:
    """Process-wide settings for a bench process (not for callers of `main`, e.g. tests)."""
    logging.getLogger("interpreter.verifier").setLevel(logging.CRITICAL)
    import torch

    torch.set_num_threads(1)  # tiny GPs: threads only add contention on a shared machine


if __name__ == "__main__":
    _set_up_process()
    main()
