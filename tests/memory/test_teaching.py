"""Memory teaches its best: over a store seeded with known programs, recall offers each
similar task's fastest program with its speed stated, nothing below the relevance floor,
and the improvement pair an optimise prompt shows."""

from __future__ import annotations

import time

import pytest

from agents.prompts import Example, build_messages, pair_of
from benchmarks.task import TensorSpec
from memory import ExperienceStore
from tests.memory.task_factory import make_task


def prog(body: str) -> str:
    return f"from dsl import step\n\n\ndef kernel(x):\n    {body}\n"


def passed(cycles: int, bottleneck: str = "", **metrics: float) -> dict:
    return {"status": "passed", "cycles": cycles, "bottleneck": bottleneck, "metrics": metrics}


FAILED = {"status": "invalid", "cycles": None, "feedback": "line 3: unknown function"}


@pytest.fixture
def store(tmp_path):
    return ExperienceStore(tmp_path / "m.sqlite")


def put(store, task, program, verdict, parent=None, run_id="", round_=0):
    return store.record_attempt(
        task=task,
        program=program,
        model="m",
        prompt_hash="h",
        verdict=verdict,
        parent_id=parent,
        run_id=run_id,
        round=round_,
    )


SOFTMAX = make_task("softmax", description="Row-wise softmax.", spec={"fn": "softmax"})
SOFTMAX_COLS = make_task("softmax_cols", description="Column-wise softmax.", spec={"fn": "softmax"})


def test_the_example_is_the_best_program_not_the_first_that_passed(store):
    """The seen failure: 609 cycles shown where 204 was stored."""
    first = put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(609))
    best = put(
        store,
        SOFTMAX_COLS,
        prog("return step.map(step.retile(x, 64), 'softmax', compute=4)"),
        passed(204),
        parent=first,
    )
    same_speed_but_longer = "return step.map(step.retile(x, 64), 'softmax', compute=4)  # again"
    put(store, SOFTMAX_COLS, prog(same_speed_but_longer), passed(204))
    (example,) = store.recall(SOFTMAX)
    assert (example.id, example.cycles) == (best, 204)


def test_equally_fast_programs_give_the_shortest(store):
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')  # a longer one"), passed(300))
    short = put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(300))
    assert [a.id for a in store.recall(SOFTMAX)] == [short]


def test_examples_state_their_speed_against_their_baseline(store):
    fast_task = make_task("softmax_cols", description="Column-wise softmax.")
    slow_task = make_task("softmax_blocks", description="Blockwise softmax.")
    put(store, fast_task, prog("return step.map(x, 'softmax', compute=4)"), passed(250))
    put(store, slow_task, prog("return step.map(x, 'softmax')"), passed(800))
    store.record_baseline(fast_task, 1000)
    store.record_baseline(slow_task, 400)
    examples = store.recall(SOFTMAX)
    assert {a.task_key: a.speedup for a in examples} == {
        "step/softmax_cols": 4.0,
        "step/softmax_blocks": 0.5,
    }
    user = build_messages(SOFTMAX, mode="propose", examples=[Example.of(a) for a in examples])[1][
        "content"
    ]
    assert "### step/softmax_cols, 250 cycles, 4x faster than its baseline (1000 cycles)" in user
    assert (
        "### step/softmax_blocks, 800 cycles, SLOWER than its baseline (400 cycles, 0.5x)" in user
    )


def test_an_unrelated_kernel_is_not_offered_even_when_it_is_all_there_is(store):
    """The seen failure: with few entries, an unrelated kernel was offered. Sharing one
    common word ("matrix") is below the floor; two salient words or an op are above it."""
    fft = make_task("fft", description="Fast transform of a matrix.", spec={"op": "fft"})
    put(store, fft, prog("return step.fft(x)"), passed(100))
    query = make_task("softmax", description="Softmax of a matrix.", spec={"fn": "softmax"})
    assert store.recall(query) == []
    assert store.similar(query) == []
    # "fast", "matrix" and "transform" in common: similar by words alone.
    near = make_task("fourier", description="A fast matrix transform.", spec={})
    assert [a.task_key for a in store.recall(near)] == [fft.key]


def test_task_features_order_tasks_that_share_as_much(store):
    """Two tasks share the same op with the query; the one of the same shape (symbolic dims,
    input ranks, size) comes first, whatever the key order says."""
    same_shape = make_task("z_softmax_like", description="Alpha.", spec={"fn": "softmax"})
    other = make_task("a_softmax_static", description="Beta.", spec={"fn": "softmax"})
    other = type(other)(
        **{
            **other.__dict__,
            "dims": {"M": 4096, "N": 4096},
            "inputs": (TensorSpec("x", "float32", ("M", "N", "N")),),
        }
    )
    put(store, other, prog("return step.map(x, 'softmax')"), passed(100))
    put(store, same_shape, prog("return step.map(x, 'softmax')"), passed(100))
    assert [key for key, _ in store.similar(SOFTMAX)] == [same_shape.key, other.key]


def test_the_improvement_pair_is_the_best_and_what_it_was_made_from(store):
    start = put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(900))
    broken = put(store, SOFTMAX_COLS, prog("return step.map(x, 'nope')"), FAILED, parent=start)
    middle = put(
        store,
        SOFTMAX_COLS,
        prog("return step.map(x, 'softmax', compute=2)"),
        passed(500),
        parent=start,
    )
    best = put(
        store,
        SOFTMAX_COLS,
        prog("return step.map(x, 'softmax', compute=4)"),
        passed(250, "compute-bound: map", busy=0.9),
        parent=broken,  # repaired from a failure, which came from the 900-cycle program
    )
    pair = store.recall_pair(SOFTMAX)
    assert pair is not None
    assert (pair.slower.id, pair.faster.id) == (start, best)  # the closest verified ancestor
    assert middle != pair.slower.id


def test_without_lineage_the_pair_starts_from_the_first_slower_program(store):
    first = put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(900))
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax', compute=2)"), passed(500))
    best = put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax', compute=4)"), passed(250))
    pair = store.recall_pair(SOFTMAX)
    assert (pair.slower.id, pair.faster.id) == (first, best)


def test_no_pair_when_nothing_was_made_faster(store):
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(900))
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'nope')"), FAILED)
    assert store.recall_pair(SOFTMAX) is None


def test_the_most_relevant_pair_is_offered(store):
    """The query's own task comes before a similar one; an unrelated task's pair never."""
    unrelated = make_task("fft", description="Fast Fourier transform.", spec={"op": "fft"})
    put(store, unrelated, prog("return step.fft(x)"), passed(900))
    put(store, unrelated, prog("return step.fft(x, compute=4)"), passed(100))
    assert store.recall_pair(SOFTMAX) is None
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(900))
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax', compute=4)"), passed(250))
    assert store.recall_pair(SOFTMAX).task_key == "step/softmax_cols"
    put(store, SOFTMAX, prog("return step.map(x, 'softmax', n=1)"), passed(700))
    put(store, SOFTMAX, prog("return step.map(x, 'softmax', n=2)"), passed(600))
    assert store.recall_pair(SOFTMAX).task_key == "step/softmax"


def test_optimise_prompts_show_the_pair_with_the_simulator_reports(store):
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(900, "hbm: load x"))
    put(
        store,
        SOFTMAX_COLS,
        prog("return step.map(x, 'softmax', compute=4)"),
        passed(250, "compute: map", offchip_bytes=4096),
    )
    store.record_baseline(SOFTMAX_COLS, 1000)
    pair = pair_of(store.recall_pair(SOFTMAX))
    messages = build_messages(
        SOFTMAX, mode="optimise", program=prog("return x"), feedback="cycles: 10", pair=pair
    )
    user = messages[1]["content"]
    section = user[user.index("## How a similar program was made faster (step/softmax_cols)") :]
    assert section.index("### Before, 900 cycles, 1.11x faster") < section.index(
        "### After, 250 cycles, 4x faster than its baseline (1000 cycles)"
    )
    assert "simulator: bottleneck hbm: load x" in section
    assert "metrics: offchip_bytes=4.1e+03" in section
    assert section.index("## How") < user.index("## Your program (correct)")
    propose = build_messages(SOFTMAX, mode="propose", pair=pair)[1]["content"]
    assert "made faster" not in propose  # the pair is for optimising only


def test_prune_keeps_what_teaches(store, monkeypatch):
    old = time.time() - 40 * 86_400
    monkeypatch.setattr(time, "time", lambda: old)
    lonely = put(store, SOFTMAX, prog("return step.nope(x)"), FAILED)
    repaired_from = put(store, SOFTMAX, prog("return step.nope2(x)"), FAILED)
    verified = put(store, SOFTMAX, prog("return step.map(x, 'softmax')"), passed(500))
    monkeypatch.undo()
    put(store, SOFTMAX, prog("return step.map(x, 'softmax', c=1)"), passed(400), repaired_from)
    recent = put(store, SOFTMAX, prog("return step.nope3(x)"), FAILED)
    assert store.prune(30, dry_run=True) == 1
    assert len(store.attempts()) == 5
    assert store.prune(30) == 1
    kept = {a.id for a in store.attempts()}
    assert lonely not in kept and {repaired_from, verified, recent} <= kept
    assert store.prune(30) == 0
    with pytest.raises(ValueError):
        store.prune(-1)


def test_tasks_summarise_each_task(store):
    put(store, SOFTMAX, prog("return step.nope(x)"), FAILED)
    put(store, SOFTMAX, prog("return step.map(x, 'softmax')"), passed(500))
    put(store, SOFTMAX, prog("return step.map(x, 'softmax')"), passed(500), run_id="again")
    store.record_baseline(SOFTMAX, 1000)
    put(store, SOFTMAX_COLS, prog("return step.nope(x)"), FAILED)
    rows = {r["task"]: r for r in store.tasks()}
    assert rows["step/softmax"] | {"last_attempt": None} == {
        "task": "step/softmax",
        "attempts": 3,
        "verified_programs": 1,
        "best_cycles": 500,
        "baseline_cycles": 1000,
        "speedup": 2.0,
        "last_attempt": None,
    }
    assert rows["step/softmax_cols"]["best_cycles"] is None


def test_export_and_import_keep_what_recall_compares(store, tmp_path):
    """Baselines and task features travel with an export, so the imported store teaches
    as the original did (speedups stated, the same order)."""
    from memory.transfer import export_store, import_records

    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(250))
    store.record_baseline(SOFTMAX_COLS, 1000)
    export_store(store.path, tmp_path / "out.jsonl")
    copy = ExperienceStore(tmp_path / "copy.sqlite")
    import_records(tmp_path / "out.jsonl", copy)
    (example,) = copy.recall(SOFTMAX)
    assert (example.task_key, example.speedup) == ("step/softmax_cols", 4.0)
    assert copy.similar(SOFTMAX) == store.similar(SOFTMAX)


def test_a_store_from_before_features_is_migrated(tmp_path):
    """A version-1 store (no features or baselines, and the full-text index recall no
    longer reads) opens with both columns added and the index gone, and recalls as before."""
    import sqlite3

    path = tmp_path / "old.sqlite"
    ExperienceStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=1")
        conn.execute("ALTER TABLE tasks DROP COLUMN features")
        conn.execute("ALTER TABLE tasks DROP COLUMN baseline_cycles")
        conn.execute("CREATE VIRTUAL TABLE task_text USING fts5(key UNINDEXED, name, description)")
        conn.execute(
            "INSERT INTO tasks (key, dialect, name, description, ops, first_seen)"
            " VALUES ('step/softmax_cols', 'step', 'softmax_cols', 'Column-wise softmax.',"
            " 'softmax', 1.0)"
        )
    store = ExperienceStore(path)
    put(store, SOFTMAX_COLS, prog("return step.map(x, 'softmax')"), passed(300))
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert "task_text" not in tables
    assert [a.task_key for a in store.recall(SOFTMAX)] == ["step/softmax_cols"]


@pytest.mark.parametrize(
    ("cycles", "baseline", "note"),
    [
        (100, None, ", 100 cycles"),
        (100, 100, ", 100 cycles, as fast as its baseline (100 cycles)"),
        (40, 100, ", 40 cycles, 2.5x faster than its baseline (100 cycles)"),
        (
            200,
            100,
            ", 200 cycles, SLOWER than its baseline (100 cycles, 0.5x): correct, but do not"
            " copy its schedule for speed",
        ),
        (None, 100, ""),
    ],
)
def test_speed_notes(cycles, baseline, note):
    from agents.prompts.lessons import speed_note

    assert speed_note(cycles, baseline) == note
