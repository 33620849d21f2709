"""The solve workflow for one task, as a langgraph graph.

    recall ──► generate × N ──► collect ──► verify × n ──► decide ─┬─► generate × N (repair
      │           (proposer + guardian)      (dedupe)                │     or optimise) ...
      └──────────────────────────────────────► verify (recalled)    └─► END

- recall: examples of similar tasks from the experience store, and this task's stored
  best program, which is re-verified before anything is asked of the model (a second run
  starts from what the first one found and re-measures it).
- generate: one model call per sample, in parallel (langgraph `Send`). With the guardian
  on (`--guardian`, off by default), a proposal is checked first and only one that does
  not build or validate (the stream-use and type errors the seed paper's guardian fixes)
  costs a second call that corrects it; a proposal that validates keeps its verdict (in
  the seed runs the review changed nothing in 12 of 12 proposals and doubled the prompts).
  A reply without a usable program becomes a failed attempt with the reason.
- collect: attempts whose program was already seen reuse its verdict instead of a check.
- verify: each new program in the verifier pool (processes), then into the store.
- decide: no pass yet and repair rounds left → repair every failure of the last round
  from its verdict's feedback; a pass and optimise rounds left → ask for faster rewrites of
  the best, fed the simulator's bottleneck report; else stop. The best is the fastest
  passing attempt, so a slower or failing rewrite never replaces it.

Every attempt is written to the store as soon as it is final (with its parent's store id
for lineage), so a killed or budget-stopped run still teaches memory. The graph is
checkpointed after every step (durability "sync"), and parallel nodes that finished keep
their writes: a resumed run re-does no finished generation or verification. (Only a node
killed between its store write and its checkpoint write, a window of milliseconds, runs
again; the store keeps one row per run, task, program and round, so it adds none.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from agents.models import BudgetExceeded, Model, ModelConfigError, ModelError, Reply
from agents.models.base import one_line
from agents.prompts import (
    Example,
    PromptError,
    ReplyError,
    build_messages,
    extract_program,
    pair_of,
    prompt_hash,
)
from agents.workflows import attempts as at
from agents.workflows.attempts import Origin, RunAttempt

if TYPE_CHECKING:
    from agents.workflows.verify_pool import VerifierPool
    from benchmarks.task import Task
    from memory.store import ExperienceStore

log = logging.getLogger(__name__)

# CPython 3.11's ast.parse is not thread-safe (gh-106905: a shared recursion counter gives a
# spurious SystemError), and the parallel nodes parse replies and, through the store,
# programs: one lock serialises the parsing (it takes milliseconds).
_AST_LOCK = threading.Lock()

# The verdict of a program that did not build or validate: what the guardian can fix.
GUARDED_STATUSES = frozenset({"invalid"})

EventHandler = Callable[[str, RunAttempt], None]  # (task key, attempt just generated/verified)


@dataclass(frozen=True)
class SolveSettings:
    samples: int = 4
    repair_rounds: int = 2
    optimise_rounds: int = 2
    recall_k: int = 3
    temperature: float = 0.7
    max_tokens: int = 4096
    guardian: bool = False  # the guardian round (see the module docstring)
    tune_budget: int = 0  # evaluations to tune the best program's declared parameters (0: off)


class SolveState(TypedDict, total=False):
    task: str
    examples: list[dict[str, Any]]  # recalled verified programs of similar tasks
    pair: dict[str, Any] | None  # recalled improvement pair (`prompts.pair_of`), for optimise
    attempts: Annotated[dict[str, RunAttempt], at.merge_attempts]
    round: int  # the latest round planned (1: first proposals)
    repairs: int  # repair rounds planned so far
    optimisations: int  # optimise rounds planned so far
    tuned: bool  # the best program's parameters were tuned (agents.tuning)
    plan: list[dict[str, Any]]  # the next fan-out: {"node": ..., "payload": ...}


def _example(attempt: Any) -> dict[str, Any]:
    return asdict(Example.of(attempt))


def _pair(store: Any, task: Task) -> dict[str, Any] | None:
    """Memory's most relevant improvement pair, for optimise prompts (None: none known)."""
    recall_pair = getattr(store, "recall_pair", None)  # `--memory none` keeps no pairs
    pair = recall_pair(task) if recall_pair is not None else None
    return pair_of(pair) if pair is not None else None


class TaskSolver:
    """Builds and runs the solve graph of one task."""

    def __init__(
        self,
        task: Task,
        model: Model,
        store: ExperienceStore,
        pool: VerifierPool,
        settings: SolveSettings,
        *,
        run_id: str,
        on_event: EventHandler | None = None,
    ) -> None:
        self.task = task
        self.model = model
        self.store = store
        self.pool = pool
        self.settings = settings
        self.run_id = run_id
        self.on_event = on_event or (lambda key, attempt: None)

    def graph(self, checkpointer: Any = None) -> CompiledStateGraph:
        builder = StateGraph(SolveState)
        builder.add_node("recall", self.recall)
        builder.add_node("generate", self.generate)
        builder.add_node("collect", self.collect)
        builder.add_node("verify", self.verify)
        builder.add_node("decide", self.decide)
        builder.add_edge(START, "recall")
        builder.add_conditional_edges("recall", _dispatch(END), ["generate", "verify", END])
        builder.add_edge("generate", "collect")
        builder.add_conditional_edges("collect", _dispatch("decide"), ["verify", "decide"])
        builder.add_edge("verify", "decide")
        builder.add_conditional_edges("decide", _dispatch(END), ["generate", END])
        return builder.compile(checkpointer=checkpointer)

    # ------------------------------------------------------------------ nodes

    def recall(self, state: SolveState) -> SolveState:
        examples = [
            _example(a) for a in self.store.recall(self.task, k=self.settings.recall_k) if a.program
        ]
        stored = self.store.best(self.task.key)
        pair = _pair(self.store, self.task)
        if stored is None or not stored.program:
            return {
                "task": self.task.key,
                "examples": examples,
                "pair": pair,
                "round": 1,
                "repairs": 0,
                "optimisations": 0,
                "plan": self._proposals(1, examples),
            }
        recalled: RunAttempt = {
            "id": "r0s0",
            "round": 0,
            "index": 0,
            "origin": Origin.RECALL.value,
            "parent": None,
            "parent_store_id": stored.id,
            "program": stored.program,
            "model": "memory",
            "prompt_hash": "",
            "tokens": 0,
            "cost_usd": 0.0,
            "seconds": 0.0,
            "guardian": "skipped",
            "verdict": None,
        }
        return {
            "task": self.task.key,
            "examples": examples,
            "pair": pair,
            "round": 0,
            "repairs": 0,
            "optimisations": 0,
            "attempts": {"r0s0": recalled},
            "plan": [{"node": "verify", "payload": recalled}],
        }

    def generate(self, request: dict[str, Any]) -> SolveState:
        """One model call (plus the guardian for proposals): one attempt."""
        origin = Origin(request["origin"])
        attempt: RunAttempt = {
            "id": request["id"],
            "round": request["round"],
            "index": request["index"],
            "origin": origin.value,
            "parent": request.get("parent"),
            "parent_store_id": request.get("parent_store_id"),
            "program": None,
            "model": self.model.name,
            "prompt_hash": "",
            "tokens": 0,
            "cost_usd": 0.0,
            "seconds": 0.0,
            "guardian": "skipped",
            "verdict": None,
        }
        try:
            messages = build_messages(
                self.task,
                mode=origin.value,
                examples=[Example(**e) for e in request.get("examples", ())],
                program=request.get("program"),
                feedback=request.get("feedback"),
                pair=request.get("pair"),
            )
        except PromptError as exc:
            reply, failure = None, f"prompt could not be built: {one_line(exc)}"
        else:
            attempt["prompt_hash"] = prompt_hash(messages)
            # Kept for the report's lineage; the system turn (the dialect's reference, the
            # same for every attempt) is left out.
            attempt["prompt"] = [m for m in messages if m["role"] != "system"]
            reply, failure = self._ask(messages, attempt)
        if reply is not None:
            attempt["reply"] = reply.text
            try:
                attempt["program"] = _parse(reply.text, self.task.dialect)
            except ReplyError as exc:
                failure = f"unusable reply: {one_line(exc)} (reply began: {_opening(reply.text)})"
        if reply is not None and reply.refusal:  # declined: final, never retried
            attempt["program"], attempt["reason"] = None, reply.refusal
            attempt["verdict"] = at.refusal_verdict(self.task.key, reply.refusal)
            attempt["store_id"] = self._record(attempt)
        elif attempt["program"] is None:
            attempt["reason"] = failure or "no program"
            attempt["verdict"] = at.no_program_verdict(self.task.key, attempt["reason"])
            attempt["store_id"] = self._record(attempt)
        elif origin is Origin.PROPOSE and self.settings.guardian:
            self._guard_unless_valid(attempt)
        self.on_event(self.task.key, attempt)
        return {"attempts": {attempt["id"]: attempt}}

    def collect(self, state: SolveState) -> SolveState:
        """Plan checks for the new programs; a program seen before reuses its verdict."""
        attempts = state["attempts"]
        seen: dict[str, str] = {}
        updates: dict[str, RunAttempt] = {}
        plan = []
        for attempt in at.ordered(attempts):
            program = attempt.get("program")
            if program is None:
                continue
            if at.status(attempt) != at.PENDING:
                if at.reusable(attempt):
                    seen.setdefault(program, attempt["id"])
                continue
            first = seen.setdefault(program, attempt["id"])
            if first != attempt["id"]:
                updates[attempt["id"]] = {"duplicate_of": first}
            else:
                plan.append({"node": "verify", "payload": attempt})
        # Duplicates of a program still being checked wait for that check (in decide).
        return {"attempts": updates, "plan": plan}

    def verify(self, attempt: RunAttempt) -> SolveState:
        """Check one program. The verifier answers every program with a verdict; what it
        raises instead (sandbox configuration, a worker that died twice, a full disk) is a
        fault of the set-up, so it stops the run rather than becoming this program's verdict
        (the checkpoint keeps the attempt pending: a resume checks it again)."""
        assert attempt.get("program") is not None
        verdict = self.pool.verify(self.task, attempt["program"])
        done: RunAttempt = {**attempt, "verdict": verdict}
        done["store_id"] = self._record(done)
        self.on_event(self.task.key, done)
        return {"attempts": {done["id"]: {"verdict": verdict, "store_id": done["store_id"]}}}

    def decide(self, state: SolveState) -> SolveState:
        attempts = dict(state["attempts"])
        updates = self._settle_duplicates(attempts)
        attempts = at.merge_attempts(attempts, updates)
        current = state.get("round", 0)
        latest = [a for a in at.ordered(attempts) if a["round"] == current]
        winner = at.best(attempts)
        nxt = current + 1
        if winner is None and current == 0:  # the recalled program no longer passes
            return {
                "attempts": updates,
                "round": 1,
                "plan": self._proposals(1, state.get("examples", [])),
            }
        if winner is None and state.get("repairs", 0) < self.settings.repair_rounds:
            plan = self._repairs(nxt, latest, state.get("examples", []))
            if plan:
                return {
                    "attempts": updates,
                    "round": nxt,
                    "plan": plan,
                    "repairs": state.get("repairs", 0) + 1,
                }
        optimising_left = state.get("optimisations", 0) < self.settings.optimise_rounds
        if winner is not None and optimising_left and not state.get("tuned"):  # tuning is last
            optimising = latest and latest[0]["origin"] == Origin.OPTIMISE.value
            stalled = optimising and not any(
                a.get("program") and not a.get("duplicate_of") for a in latest
            )
            if not stalled:
                return {
                    "attempts": updates,
                    "round": nxt,
                    "optimisations": state.get("optimisations", 0) + 1,
                    "plan": self._optimisations(nxt, winner, state.get("pair")),
                }
        if winner is not None and self.settings.tune_budget > 0 and not state.get("tuned"):
            tuned = self._tuning(nxt, winner)
            return {
                "attempts": {**updates, **{a["id"]: a for a in tuned}},
                "round": nxt,
                "tuned": True,
                "plan": [{"node": "verify", "payload": a} for a in tuned],
            }
        return {"attempts": updates, "plan": []}

    def _tuning(self, round_: int, winner: RunAttempt) -> list[RunAttempt]:
        """Tune the best program's declared parameters; verify and record the tuned program
        as a child of the best (nothing when it declares none or none are faster)."""
        from agents.tuning import tune_winner

        program = tune_winner(self.task, winner["program"], self.settings.tune_budget, self.pool)
        if program is None:
            return []
        attempt: RunAttempt = {
            "id": f"r{round_}s0",
            "round": round_,
            "index": 0,
            "origin": Origin.TUNE.value,
            "model": "tuner",
            "program": program,
            "parent_store_id": winner.get("store_id"),
        }
        return [attempt]

    # ------------------------------------------------------------------ planning

    def _proposals(self, round_: int, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            _generate(round_, i, Origin.PROPOSE, examples=examples)
            for i in range(self.settings.samples)
        ]

    def _repairs(
        self, round_: int, latest: list[RunAttempt], examples: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """One repair per distinct failure of the last round (at most `samples`).

        A reply that held no program has nothing to repair: a fresh proposal takes its place.
        A refusal (`not_covered`) gets neither: the model would decline again.
        """
        failures = [
            a for a in latest if not a.get("duplicate_of") and at.status(a) != at.NOT_COVERED
        ][: self.settings.samples]
        plan = []
        for i, failed in enumerate(failures):
            if failed.get("program") is None:
                plan.append(_generate(round_, i, Origin.PROPOSE, examples=examples))
                continue
            plan.append(
                _generate(
                    round_,
                    i,
                    Origin.REPAIR,
                    examples=examples,
                    parent=failed["id"],
                    parent_store_id=failed.get("store_id"),
                    program=failed["program"],
                    feedback=at.report(failed),
                )
            )
        return plan

    def _optimisations(
        self, round_: int, winner: RunAttempt, pair: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        feedback = at.report(winner)
        return [
            _generate(
                round_,
                i,
                Origin.OPTIMISE,
                parent=winner["id"],
                parent_store_id=winner.get("store_id"),
                program=winner["program"],
                feedback=feedback,
                pair=pair,
            )
            for i in range(self.settings.samples)
        ]

    def _settle_duplicates(self, attempts: dict[str, RunAttempt]) -> dict[str, RunAttempt]:
        """Give each duplicate its original's verdict, and record it (it was an attempt)."""
        updates: dict[str, RunAttempt] = {}
        for attempt in at.ordered(attempts):
            original = attempts.get(attempt.get("duplicate_of") or "")
            if original is None or attempt.get("verdict") or not original.get("verdict"):
                continue
            done: RunAttempt = {**attempt, "verdict": original["verdict"]}
            done["store_id"] = self._record(done)
            self.on_event(self.task.key, done)
            updates[attempt["id"]] = {"verdict": done["verdict"], "store_id": done["store_id"]}
        return updates

    # ------------------------------------------------------------------ helpers

    def _ask(
        self, messages: list[dict[str, str]], attempt: RunAttempt
    ) -> tuple[Reply | None, str | None]:
        """One model call, counted into the attempt; a failure becomes a reason."""
        start = time.perf_counter()
        try:
            reply = self.model.complete(
                messages,
                temperature=self.settings.temperature,
                max_tokens=self.settings.max_tokens,
                task=self.task,
            )
        except (BudgetExceeded, ModelConfigError):
            raise  # the run stops: no further call can succeed
        except ModelError as exc:
            return None, f"model error: {one_line(exc)}"
        except Exception as exc:  # a provider's surprise must fail one attempt, not the run
            log.exception("model call for %s failed", self.task.key)
            return None, f"model error: {type(exc).__name__}: {one_line(exc)}"
        finally:
            attempt["seconds"] = attempt.get("seconds", 0.0) + time.perf_counter() - start
        attempt["tokens"] = attempt.get("tokens", 0) + reply.tokens
        if reply.tokens_estimated:
            attempt["tokens_estimated"] = True
        attempt["cost_usd"] = attempt.get("cost_usd", 0.0) + reply.cost_usd
        return reply, None

    def _guard_unless_valid(self, attempt: RunAttempt) -> None:
        """Check the proposal; only one that does not build or validate goes to the
        guardian. A kept verdict is final (recorded now, so `collect` checks it no more);
        a corrected program stays pending and is checked like any other."""
        program = attempt["program"]
        assert program is not None
        verdict = self.pool.verify(self.task, program)
        if verdict.get("status") not in GUARDED_STATUSES:
            attempt["guardian"] = "skipped: proposal validates"
        else:
            attempt["program"], attempt["guardian"] = self._guard(attempt)
            if attempt["program"] != program:
                return
        attempt["verdict"] = verdict
        attempt["store_id"] = self._record(attempt)

    def _guard(self, attempt: RunAttempt) -> tuple[str, str]:
        """The guardian pass: the proposal, corrected; kept as it was if the pass fails.

        Out of budget, the proposal (already paid for) goes to verification unguarded; the
        run stops at its next call.
        """
        program = attempt["program"]
        assert program is not None
        try:
            messages = build_messages(self.task, mode="guardian", program=program)
            reply, failure = self._ask(messages, attempt)
        except PromptError as exc:
            return program, f"failed: prompt could not be built: {one_line(exc)}"
        except BudgetExceeded:
            return program, "skipped: budget reached"
        if reply is None:
            return program, f"failed: {failure}"
        try:
            fixed = _parse(reply.text, self.task.dialect)
        except ReplyError as exc:
            return program, f"failed: unusable reply: {one_line(exc)}"
        return fixed, ("unchanged" if fixed.strip() == program.strip() else "changed")

    def _record(self, attempt: RunAttempt) -> int:
        assert attempt.get("verdict")
        with _AST_LOCK:  # the store parses the program for its op features
            return self.store.record_attempt(
                task=self.task,
                program=attempt.get("program") or "",
                model=attempt["model"],
                prompt_hash=attempt.get("prompt_hash", ""),
                verdict=attempt["verdict"],
                parent_id=attempt.get("parent_store_id"),
                tokens=attempt.get("tokens", 0),
                cost_usd=attempt.get("cost_usd", 0.0),
                seconds=attempt.get("seconds", 0.0),
                run_id=self.run_id,
                round=attempt.get("round", 0),
            )


def _dispatch(otherwise: str) -> Callable[[SolveState], Any]:
    """Turn the state's plan into parallel `Send`s, or go to `otherwise` when it is empty."""

    def route(state: SolveState) -> Any:
        plan = state.get("plan") or []
        return [Send(step["node"], step["payload"]) for step in plan] or otherwise

    return route


def _opening(text: str) -> str:
    """The start of a reply, quoted, so a failed attempt shows what the model said."""
    return repr(one_line(text, 100)) if text.strip() else "empty"


def _parse(reply_text: str, dialect: str) -> str:
    with _AST_LOCK:
        return extract_program(reply_text, dialect)


def _generate(round_: int, index: int, origin: Origin, **request: Any) -> dict[str, Any]:
    """One step of the plan: ask the model for attempt `r<round>s<index>`."""
    payload = {
        "id": f"r{round_}s{index}",
        "round": round_,
        "index": index,
        "origin": origin.value,
        **request,
    }
    return {"node": "generate", "payload": payload}
