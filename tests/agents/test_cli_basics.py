"""The `agent` command as a user runs it: help, bad usage, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest


def agent(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_help_lists_the_contract_commands():
    result = agent("--help")
    assert result.returncode == 0
    for command in ("tasks", "eval", "doctor"):
        assert command in result.stdout


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys, agents.cli; heavy = [m for m in ('torch', 'numpy', 'litellm', 'langgraph')"
        " if m in sys.modules]; print(heavy)"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    assert time.perf_counter() - start < 5  # generous: the point is no 4 s litellm import


@pytest.mark.parametrize(
    "args, message",
    [
        (("tasks", "no_such_suite"), "agent: no suite 'no_such_suite'"),
        (("eval", "no_such_suite/x", "prog.py"), "agent: no suite 'no_such_suite'"),
        (("eval", "just_a_name", "prog.py"), "give a .toml file or suite/name"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args, message):
    result = agent(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error():
    result = agent("frobnicate")
    assert result.returncode == 2


def test_eval_json_contract(tmp_path):
    from tests.interpreter.test_verifier import GOOD

    program = tmp_path / "gemm.py"
    program.write_text(GOOD)
    result = agent("eval", "step/gemm", str(program), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "passed" and data["correct"] is True and data["cycles"] > 0
    assert data["task"] == "step/gemm" and data["feedback"]

    program.write_text("from dsl import step\ndef kernel(a, b:\n")
    result = agent("eval", "step/gemm", str(program), "--json")
    assert result.returncode == 1  # like a test runner: anything but `passed` exits 1
    data = json.loads(result.stdout)
    assert data["status"] == "error" and "SyntaxError" in data["feedback"]
    assert data["correct"] is False and data["cycles"] is None
    # Messages name the user's file, not the sandbox's copy of it.
    assert data["feedback"].startswith("gemm.py:2: SyntaxError"), data["feedback"]


def test_eval_exit_codes_are_in_its_help():
    result = agent("eval", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "0 when the verdict is passed, 1 for any other verdict, 2 for bad usage" in text


def test_eval_wrong_kernel_exits_1_and_names_the_file_and_line(tmp_path):
    program = tmp_path / "my_kernel.py"
    program.write_text("from dsl import step\n\n\ndef kernel(a, b):\n    return 1 / 0\n")
    result = agent("eval", "step/gemm", str(program))
    assert result.returncode == 1, result.stderr
    assert "my_kernel.py:5" in result.stdout and "program.py" not in result.stdout


def test_version():
    from importlib.metadata import version

    result = agent("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"agent {version('dataflow-kernel-agents')}"


def test_a_task_file_stands_alone(tmp_path):
    """Copied out of its suite with its reference module beside it: no baseline, so no
    speedup, but a full verdict; without the reference module, one line naming it."""
    import shutil

    from benchmarks.task import SUITES_DIR
    from tests.interpreter.test_verifier import GOOD

    shutil.copy(SUITES_DIR / "step" / "gemm.toml", tmp_path / "gemm.toml")
    shutil.copy(SUITES_DIR / "step" / "references.py", tmp_path / "references.py")
    program = tmp_path / "k.py"
    program.write_text(GOOD)
    result = agent("eval", str(tmp_path / "gemm.toml"), str(program), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "passed" and data["baseline_cycles"] is None
    assert data["speedup"] is None

    (tmp_path / "references.py").unlink()
    result = agent("eval", str(tmp_path / "gemm.toml"), str(program))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"agent: {tmp_path / 'gemm.toml'}: reference module references.py must lie beside"
        " the task file"
    )


def test_a_suite_task_still_needs_its_baseline(tmp_path, monkeypatch):
    """Inside a suite a missing baseline is a broken suite, not an optional extra."""
    import benchmarks.task as task_module
    from benchmarks.task import TaskError, parse_task

    text = (task_module.SUITES_DIR / "step" / "gemm.toml").read_text()
    text = text.replace("baselines/gemm.py", "baselines/nope.py")
    for folder in (tmp_path / "suites" / "step", tmp_path / "elsewhere"):
        folder.mkdir(parents=True)
        (folder / "references.py").write_text("")
        (folder / "gemm.toml").write_text(text)
    monkeypatch.setattr(task_module, "SUITES_DIR", tmp_path / "suites")
    with pytest.raises(TaskError, match="baseline program 'baselines/nope.py' does not exist"):
        parse_task(tmp_path / "suites" / "step" / "gemm.toml")
    assert parse_task(tmp_path / "elsewhere" / "gemm.toml").baseline is None


@pytest.mark.parametrize(
    "args, cause",
    [
        (("solve", "step", "--tasks", "gemm", "--out", "{file}/run"), "Not a directory"),
        (("report", "{run}", "-o", "{missing}/r.html"), "No such file or directory"),
    ],
)
def test_unwritable_paths_are_one_line_naming_path_and_cause(tmp_path, args, cause):
    from agents.workflows import results as rs

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    run = tmp_path / "run"
    run.mkdir()
    rs.write_results(run / "results.json", {}, [], rs.summary([], tokens=0, cost_usd=0.0))
    names = {"file": blocker, "run": run, "missing": tmp_path / "missing"}
    argv = [a.format(**names) for a in args]
    result = (
        agent(*argv, "--memory", str(tmp_path / "m.sqlite")) if args[0] == "solve" else agent(*argv)
    )
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "internal error" not in line
    bad = next(a for a in argv if a.startswith(str(blocker)) or a.startswith(str(names["missing"])))
    assert line == f"agent: cannot use {bad}: {cause}"


def test_eval_bad_program_path_and_backend(tmp_path):
    result = agent("eval", "step/gemm", str(tmp_path / "missing.py"))
    assert result.returncode == 2 and "no program file" in result.stderr
    program = tmp_path / "p.py"
    program.write_text("x = 1\n")
    result = agent("eval", "step/gemm", str(program), "--sandbox", "vmware")
    assert result.returncode == 2 and "vmware" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tasks_and_doctor():
    result = agent("tasks", "benchmarks/step", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) >= 30 and all(r["task"].startswith("step/") for r in rows)
    result = agent("doctor")
    assert result.returncode == 0 and "sandbox:" in result.stdout


def test_tasks_json_keeps_whole_descriptions():
    from benchmarks.task import load_suite

    rows = json.loads(agent("tasks", "step", "--json").stdout)
    full = {t.key: t.description.strip() for t in load_suite("step")}
    assert {r["task"]: r["description"] for r in rows} == full
    assert any("\n" in d for d in full.values())  # multi-line ones included, uncut


@pytest.mark.parametrize("width", [60, 80, 200])
def test_tasks_table_never_shortens_a_name(width):
    from benchmarks.task import load_suite

    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "tasks", "step"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": str(width)},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= max(width, 36)  # a name wider than that wins
    first_cells = {line.split()[0] for line in lines if line.startswith("  step/")}
    assert first_cells == {t.key for t in load_suite("step")}
    assert "…" not in "".join(first_cells)


def test_doctor_shows_model_memory_and_key_names(tmp_path):
    secret = "sk-test-THIS-MUST-NOT-BE-PRINTED"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AGENT_MODEL"}
    env |= {"OPENAI_API_KEY": secret, "AGENT_MEMORY": str(tmp_path / "mem.sqlite")}
    env |= {"AGENT_MODEL": "openai/gpt-4o"}
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "model: openai/gpt-4o (from $AGENT_MODEL)" in out
    assert f"memory: {tmp_path / 'mem.sqlite'} (not created yet" in out
    assert "provider keys set: OPENAI_API_KEY" in out
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("models", [("m",), ("openai/gpt-4o", "builtin")])
def test_memory_show_feedback_is_readable_at_80_columns(tmp_path, models):
    """Feedback gets the width (wrapped, whole words); model and run move to the title
    when every row shares them, else into a narrow column of their own."""
    from benchmarks.task import load_task
    from memory.store import ExperienceStore

    feedback = "output 'c' differs from the reference at row 3 (max error 0.5); " * 3
    store = ExperienceStore(tmp_path / "m.sqlite")
    for i, model in enumerate(models * 2):
        store.record_attempt(
            task=load_task("step/gemm"),
            program=f"# program {i}\n",
            model=model,
            prompt_hash="h",
            verdict={"status": "incorrect", "cycles": None, "feedback": feedback},
            run_id="run-1",
        )
    store.close()
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "memory", "show", "step/gemm"]
        + ["--memory", str(tmp_path / "m.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = [line.split("│")[-2].strip() for line in lines if line.count("│") >= 5]
    words = " ".join(" ".join(cells).split())
    assert words.count("max error 0.5); output 'c' differs") >= 2 * len(models)  # never cut
    assert max(len(c) for c in cells) >= 20  # no six-character column
    assert ("(model m, run run-1)" in result.stdout) == (len(models) == 1)
