"""A killed `agent solve` (SIGKILL to its process group) resumes with `--resume` and re-does
nothing it had verified.

The first part runs with the queue model: this test answers its prompt files (two
proposals; the guardian is off by default), and kills
the run while it waits for the answer to an optimise prompt, which it only asks after
both proposals were verified and recorded. The second part resumes with a scripted model
that holds replies for the optimise prompts only: had the run asked for proposals again,
it would get no reply and the attempt would fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memory.store import ExperienceStore
from tests.agents.gemm_programs import gemm_program
from tests.agents.test_cli_solve import ROOT, agent
from tests.agents.workflows.conftest import (
    BASELINE,
    FAST,
    OPTIMISE,
    fenced,
    write_script,
)

COMPUTE_8 = gemm_program(compute=8)


def _answer(prompt: Path, text: str) -> None:
    reply = prompt.with_name(prompt.name.replace(".prompt.json", ".reply.md"))
    partial = reply.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(reply)


@pytest.mark.slow
def test_a_killed_run_resumes_without_reverifying(tmp_path: Path) -> None:
    queue, out, memory = tmp_path / "queue", tmp_path / "run", tmp_path / "memory.sqlite"
    args = [
        "solve",
        "step",
        "--tasks",
        "gemm",
        "--samples",
        "2",
        "--repair-rounds",
        "0",
        "--optimise-rounds",
        "1",
        "--out",
        str(out),
        "--memory",
        str(memory),
        "--jobs",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AGENT_QUEUE_TIMEOUT": "120"}
    log = (tmp_path / "first.log").open("w")
    run = subprocess.Popen(
        [sys.executable, "-m", "agents.cli", *args, "--model", f"queue:{queue}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proposals = [fenced(BASELINE), fenced(FAST)]
    answered: set[Path] = set()
    deadline = time.monotonic() + 180
    try:
        while True:
            assert run.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the run never asked for an optimisation"
            prompts = sorted(set(queue.glob("*.prompt.json")) - answered) if queue.is_dir() else []
            for prompt in prompts:
                content = json.loads(prompt.read_text())["messages"][-1]["content"]
                if OPTIMISE in content:
                    raise StopIteration  # both proposals were verified: kill now
                _answer(prompt, proposals.pop(0))
                answered.add(prompt)
            time.sleep(0.1)
    except StopIteration:
        run.kill()  # SIGKILL to the main process only: its workers must notice and exit
        run.wait(timeout=30)
        assert _group_empties(run.pid), "verifier workers outlived the killed run"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        log.close()
    store = ExperienceStore(memory)
    before = store.attempts()
    assert sorted(a.program for a in before) == sorted([BASELINE, FAST])
    partial = (
        json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    )
    assert partial is None or partial["tasks"][0]["status"] in ("not_run", "passed")

    script = write_script(
        tmp_path / "optimise.jsonl",
        [
            {"text": fenced(COMPUTE_8), "match": OPTIMISE},
            {"text": fenced(COMPUTE_8), "match": OPTIMISE},
        ],
    )
    resumed = agent(*args, "--resume", "--model", f"scripted:{script}")
    assert resumed.returncode == 0, resumed.stderr
    # Only the optimisations were checked in the second part (one check: same program).
    checked = [line for line in resumed.stdout.splitlines() if line.startswith("  step/gemm r")]
    assert [line.split()[1] for line in checked] == ["r2s0", "r2s1"], resumed.stdout
    after = store.attempts()
    # r2s1 wrote r2s0's program in the same round: the store keeps one row for the two.
    # (the same rows; the task's baseline, recorded once the run ends, is joined in since)
    same = [(a.id, a.program, a.status, a.cycles) for a in after[:2]]
    assert len(after) == 3 and same == [(a.id, a.program, a.status, a.cycles) for a in before]
    assert after[0].baseline_cycles == entry_baseline(out)
    assert {a.run_id for a in after} == {before[0].run_id}
    results = json.loads((out / "results.json").read_text())
    entry = results["tasks"][0]
    assert entry["status"] == "passed" and entry["best_attempt"] == "r2s0"
    assert entry["cycles"] == min(a.cycles for a in after)


def entry_baseline(out: Path) -> int:
    """The baseline cycles the run's results report for its one task."""
    return json.loads((out / "results.json").read_text())["tasks"][0]["baseline_cycles"]


def _group_empties(group: int, within_s: float = 15.0) -> bool:
    """True once no process is left in the process group (the run's workers were in it)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True)
        if not found.stdout.strip():
            return True
        time.sleep(0.2)
    return False
