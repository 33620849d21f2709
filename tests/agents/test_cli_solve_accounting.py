"""What `agent solve` tells a user about where its figures come from: a model that cannot
be used is refused before any task, recalled solutions are counted apart from new ones,
`--memory none` measures the model alone, and `--resume` goes on with the run's own
settings and says so."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.agents.models.test_litellm_backend import ProviderStandIn, _recorded
from tests.agents.test_cli_solve import agent, run_main

KEY_VARIABLES = ("OPENAI_API_KEY", "AGENT_MODEL")


def _no_key_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}


def test_a_missing_key_fails_in_one_line_before_any_task(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["solve", "step", "--tasks", "gemm", "--model", "openai/gpt-4o", "--out", out]
    env = {**_no_key_env(), "OPENAI_API_KEY": ""}  # set but empty counts as missing
    start = time.monotonic()
    done = agent(*args, "--memory", tmp_path / "m.sqlite", env=env, timeout=60)
    seconds = time.monotonic() - start
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "agent: openai/gpt-4o: set OPENAI_API_KEY (the openai credentials) in the"
        " environment; no request was made"
    )
    assert not out.exists() and not (tmp_path / "m.sqlite").exists()
    # About 1.1 s on a loaded 2-core machine (no litellm import, no task loaded); the bound
    # leaves room for a slower machine, and a retrying run would take a minute and more.
    assert seconds < 6, f"took {seconds:.1f} s"


@pytest.mark.slow  # imports litellm (its model map lacks the name: litellm has the last word)
def test_an_unknown_model_name_fails_before_any_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main("solve", "step", "--model", "gpt-nonsense-9", "--out", "/no/such/run") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("agent: unknown model 'gpt-nonsense-9'") and "\n" not in err


@pytest.mark.slow  # a run in a subprocess that imports litellm (seconds)
def test_a_refused_key_stops_the_run_at_its_first_call(tmp_path: Path) -> None:
    provider = ProviderStandIn()
    provider.responses = [_recorded("openai_auth_error")["response"]]
    try:
        env = {
            **_no_key_env(),
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": f"{provider.base}/v1",
            "OPENAI_API_BASE": f"{provider.base}/v1",
        }
        done = agent(
            "solve",
            "step",
            "--tasks",
            "gemm*",
            "--model",
            "openai/gpt-4o",
            "--samples",
            "1",
            "--out",
            tmp_path / "run",
            "--memory",
            "none",
            "--jobs",
            "1",
            env=env,
        )
    finally:
        provider.close()
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "AuthenticationError" in line and line.endswith("(check OPENAI_API_KEY)")
    assert len(provider.requests) == 1  # no retry, and no second task asked
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["summary"]["stopped"].startswith("set-up fault: ")


@pytest.mark.slow  # three runs (the default set checks the recall count in test_cli_solve)
def test_recalled_solutions_are_counted_apart_and_memory_none_keeps_nothing(
    tmp_path: Path,
) -> None:
    memory = tmp_path / "memory.sqlite"
    common = ["solve", "step", "--tasks", "gemm_bias", "--optimise-rounds", "0"]
    first = agent(*common, "--out", tmp_path / "run1", "--memory", memory)
    assert first.returncode == 0, first.stderr
    assert f"memory: {memory}" in first.stdout
    summary = json.loads((tmp_path / "run1" / "results.json").read_text())["summary"]
    assert (summary["solved_new"], summary["solved_from_memory"]) == (1, 0)

    second = agent(*common, "--out", tmp_path / "run2", "--memory", memory)
    assert second.returncode == 0, second.stderr
    results = json.loads((tmp_path / "run2" / "results.json").read_text())
    assert results["tasks"][0]["source"] == "memory"
    assert (results["summary"]["solved_new"], results["summary"]["solved_from_memory"]) == (0, 1)
    assert "solved 1/1 (0 new, 1 recalled from memory)" in second.stdout
    assert "passed (memory)" in second.stdout and "--memory none" in second.stdout
    assert results["run"]["memory"] == str(memory)

    home = tmp_path / "home"  # where the default store would go
    env = {"HOME": str(home), "AGENT_MEMORY": ""}
    clean = agent(*common, "--out", tmp_path / "run3", "--memory", "none", env=env)
    assert clean.returncode == 0, clean.stderr
    results = json.loads((tmp_path / "run3" / "results.json").read_text())
    assert results["tasks"][0]["source"] == "new"
    assert (results["summary"]["solved_new"], results["summary"]["solved_from_memory"]) == (1, 0)
    assert "memory: none (none: nothing recalled or recorded)" in clean.stdout
    assert not home.exists()  # no store was created anywhere


def test_resume_goes_on_with_the_runs_own_settings_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, memory = tmp_path / "run", tmp_path / "memory.sqlite"
    first = ["solve", "step", "--tasks", "gemm_bias", "--out", out, "--memory", memory]
    options = ["--optimise-rounds", "0", "--repair-rounds", "1", "--max-cost", "5"]
    assert run_main(*first, "--model", "builtin", *options, "--guardian") == 0
    capsys.readouterr()
    # The environment now names another model and store: a resume must not follow them.
    monkeypatch.setenv("AGENT_MODEL", "scripted:/no/such.jsonl")
    monkeypatch.setenv("AGENT_MEMORY", str(tmp_path / "other.sqlite"))
    assert run_main("solve", "step", "--tasks", "gemm_bias", "--out", out, "--resume") == 0
    printed = capsys.readouterr().out
    assert f"model: builtin (the run's own, {out / 'run.json'})" in printed
    assert (
        f"resuming with model builtin, memory {memory}, samples 1, repair rounds 1,"
        " optimise rounds 0, guardian on, max cost $5 (the run's own settings)"
    ) in printed
    assert not (tmp_path / "other.sqlite").exists()

    # An option given now overrides the run's own, is named, and is kept for the next.
    again = ["solve", "step", "--tasks", "gemm_bias", "--out", out, "--resume"]
    assert run_main(*again, "--no-guardian", "--optimise-rounds", "1") == 0
    printed = capsys.readouterr().out
    assert "optimise rounds 1, guardian off" in printed
    assert "given now: --optimise-rounds, --guardian/--no-guardian)" in printed
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["optimise_rounds"] == 1 and not run["settings"]["guardian"]
    assert run["model"] == "builtin" and run["memory"] == str(memory) and run["max_cost"] == 5


def test_help_states_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main("solve", "--help") == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "--guardian --no-guardian" in text and "default off, for speed" in text
    assert "~/.agent/memory.sqlite" in text and "'none' for no store at all" in text


@pytest.mark.slow  # a run in-process; tests/agents/workflows covers this in the default set
def test_with_the_guardian_on_a_valid_proposal_costs_one_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.agents.workflows.conftest import BASELINE, PROPOSE, fenced, write_script

    # One reply, for the proposal: a guardian call would find no reply and fail.
    script = write_script(tmp_path / "r.jsonl", [{"text": fenced(BASELINE), "match": PROPOSE}])
    out = tmp_path / "run"
    args = ["solve", "step", "--tasks", "gemm", "--model", f"scripted:{script}", "--guardian"]
    options = ["--samples", "1", "--optimise-rounds", "0", "--memory", "none", "--out", out]
    assert run_main(*args, *options) == 0
    detail = json.loads((out / "tasks" / "step" / "gemm.json").read_text())
    (attempt,) = detail["attempts"]
    assert attempt["guardian"] == "skipped: proposal validates"
    assert attempt["verdict"]["status"] == "passed"
    assert json.loads((out / "run.json").read_text())["settings"]["guardian"] is True
