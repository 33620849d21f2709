"""Several processes and threads writing one store at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from memory import ExperienceStore
from tests.memory.task_factory import make_task

ROOT = Path(__file__).resolve().parents[2]
WRITERS, COUNT = 4, 30


def test_several_processes_write_at_once(tmp_path):
    db, go = tmp_path / "m.sqlite", tmp_path / "go"
    store = ExperienceStore(db)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.memory.concurrent_writer",
                str(db),
                str(go),
                str(w),
                str(COUNT),
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(1, WRITERS + 1)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready_*"))) < WRITERS and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    reads = 0
    while any(p.poll() is None for p in procs):  # readers are not blocked meanwhile
        store.recall(make_task("shared"))
        store.stats()
        reads += 1
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    assert reads > 0

    shared = store.attempts(task_key="step/shared")
    assert len(shared) == WRITERS * COUNT
    runs = [a.run_id for a in shared]  # the writers really ran at the same time
    assert sum(a != b for a, b in zip(runs, runs[1:], strict=False)) > 2 * WRITERS
    per_writer_own = len(range(0, COUNT, 3))
    assert len(store.attempts()) == WRITERS * (COUNT + per_writer_own)
    assert store.best("step/shared").cycles == 1000  # writer 1, first attempt
    for w in range(1, WRITERS + 1):  # each writer's lineage chain is intact and in order
        mine = [a for a in store.attempts(run_id=f"w{w}") if a.task_key == "step/shared"]
        chain = store.lineage(mine[-1].id)
        assert [a.id for a in chain] == [a.id for a in mine]
        assert [a.cycles for a in chain] == [w * 1000 + i for i in range(COUNT)]
    stats = store.stats()
    assert stats["tasks"] == 1 + WRITERS and stats["solved"] == 1
    assert stats["by_status"]["error"] == WRITERS * per_writer_own


def test_threads_share_one_store_object(tmp_path):
    store = ExperienceStore(tmp_path / "m.sqlite")
    task = make_task()
    ids: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(20):
            new = store.record_attempt(
                task=task,
                program=f"from dsl import step\n# {n}.{i}\n",
                model="m",
                prompt_hash="h",
                verdict={"status": "passed", "cycles": 10 + n * 100 + i},
            )
            with lock:
                ids.append(new)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 120
    assert store.best(task.key).cycles == 10
