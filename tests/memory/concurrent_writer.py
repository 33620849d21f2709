"""One of several processes writing to one store at once (run by test_concurrency.py).

    python -m tests.memory.concurrent_writer DB GO_FILE WRITER COUNT

Says it is ready (a file beside GO_FILE) and waits for GO_FILE, so all writers start
together, then records COUNT attempts: every one
on the shared task `step/shared` (cycles = WRITER * 1000 + i, passed) and every third on
the writer's own task, with lineage to the writer's previous attempt.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from memory import ExperienceStore
from tests.memory.task_factory import make_task


def main() -> None:
    db, go, writer, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    store = ExperienceStore(db)
    (go.parent / f"ready_{writer}").touch()
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    shared, own = make_task("shared"), make_task(f"own_{writer}")
    parent = None
    for i in range(count):
        program = f"from dsl import step\n\n\ndef kernel(x):\n    return x  # {writer}.{i}\n"
        verdict = {"status": "passed", "correct": True, "cycles": writer * 1000 + i}
        parent = store.record_attempt(
            task=shared,
            program=program,
            model=f"writer{writer}",
            prompt_hash="h",
            verdict=verdict,
            parent_id=parent,
            run_id=f"w{writer}",
        )
        time.sleep(0.003)  # a little work between attempts, as a real run has
        if i % 3 == 0:
            store.record_attempt(
                task=own,
                program=program,
                model=f"writer{writer}",
                prompt_hash="h",
                verdict={"status": "error", "correct": False, "feedback": "boom"},
                run_id=f"w{writer}",
            )


if __name__ == "__main__":
    main()
