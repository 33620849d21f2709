"""The README teaches only what works: its example kernels pass `agent eval`, every `agent`
command it shows parses (and, in the slow test, runs), its `.agent.toml` selects the model,
and the two set-up commands at its top use the project's virtual environment."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLES = re.findall(r"<!-- example: (\S+) -->\n```python\n(.*?)```", README, re.S)
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def readme_commands(*, keyed: bool) -> list[list[str]]:
    """`agent ...` lines of the README's bash blocks, comments stripped; `keyed` picks the
    blocks that say they need an API key (those only parse, they never run)."""
    commands = []
    for block in BASH_BLOCKS:
        if ("needs a key" in block) != keyed:
            continue
        for line in block.splitlines():
            if line.startswith("agent "):
                commands.append(shlex.split(line.split("  #")[0])[1:])
    return commands


def test_the_readme_opens_with_exactly_the_two_setup_commands() -> None:
    first = BASH_BLOCKS[0]
    commands = [line.split("#")[0].strip() for line in first.strip().splitlines()]
    assert commands == ["./scripts/solve_offline.sh", "./scripts/test.sh"]
    for script in ("scripts/solve_offline.sh", "scripts/test.sh", "scripts/setup.sh"):
        assert (ROOT / script).stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_example_kernel_has_a_task_and_all_three_languages_appear() -> None:
    assert sorted(task.split("/")[0] for task, _ in EXAMPLES) == ["dae", "sam", "step"]


@pytest.mark.parametrize("task, source", EXAMPLES, ids=[t for t, _ in EXAMPLES])
def test_readme_example_kernel_passes(task: str, source: str) -> None:
    from benchmarks.task import load_task
    from interpreter.verifier import verify

    verdict = verify(load_task(task), source, seed=0, filename="example.py")
    assert verdict.status == "passed", verdict.feedback


def test_every_readme_command_parses() -> None:
    """Each command with `--help` appended: click rejects an unknown command or option
    before it prints help, so this catches a README that drifted from the CLI."""
    commands = readme_commands(keyed=False) + readme_commands(keyed=True)
    assert len(commands) >= 8
    runner = CliRunner()
    for args in commands:
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"agent {shlex.join(args)}: {result.output}"


def test_readme_agent_toml_selects_the_model(tmp_path: Path) -> None:
    from agents.models import resolve_model_spec

    config = re.search(r"```toml\n(.*?)```", README, re.S).group(1)
    (tmp_path / ".agent.toml").write_text(config)
    name = re.search(r'name = "(.*)"', config).group(1)
    os.environ.pop("AGENT_MODEL", None)
    assert resolve_model_spec(None, cwd=tmp_path) == (name, str(tmp_path / ".agent.toml"))


@pytest.mark.slow
def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """Every keyless command of the README, in order, in a fresh folder holding the files
    the walkthrough tells the reader to write."""
    gemm = dict(EXAMPLES)["step/gemm"]
    (tmp_path / "my_gemm.py").write_text(gemm)
    fast = gemm.replace('"matmul")', '"matmul", compute=16)')
    assert fast != gemm
    (tmp_path / "my_gemm_fast.py").write_text(fast)
    env = {**os.environ, "AGENT_MEMORY": str(tmp_path / "memory.sqlite"), "COLUMNS": "100"}
    agent = shutil.which("agent", path=str(Path(sys.executable).parent)) or "agent"
    shown = re.search(r"```\n(passed step/gemm .*?)\n", README).group(1)
    for args in readme_commands(keyed=False):
        done = subprocess.run(
            [agent, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"agent {shlex.join(args)}: {done.stderr}"
        if args[:2] == ["eval", "step/gemm"] and args[2] == "my_gemm.py":
            assert done.stdout.splitlines()[0].split() == shown.split()
    assert (tmp_path / "runs" / "first" / "report.html").is_file()


# ---------------------------------------------------------------- scripts/setup.sh


def _fake_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A checkout with the real setup.sh, a fake interpreter that logs what it is asked to
    do (creating a venv whose python logs too), and a fake host-tools script."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "sandbox").mkdir()
    log = tmp_path / "calls.log"
    host = tmp_path / "sandbox" / "setup_host.sh"
    host.write_text(f'#!/bin/sh\necho "host tools with $PYTHON" >> {log}\n')
    python = tmp_path / "python3.11"
    venv_python = (
        f"#!/bin/sh\n"
        f'if [ "$1" = -c ]; then exec {sys.executable} "$@"; fi\n'
        f'echo "venv python $*" >> {log}\n'
    )
    python.write_text(
        "#!/bin/sh\n"
        f'case "$1" in -c|-V) exec {sys.executable} "$@";; esac\n'
        f'echo "system python $*" >> {log}\n'
        "mkdir -p .venv/bin\n"
        f"cat > .venv/bin/python <<'EOF'\n{venv_python}EOF\n"
        "chmod +x .venv/bin/python\n"
    )
    for path in (host, python, tmp_path / "scripts" / "setup.sh"):
        path.chmod(0o755)
    return python, log


def _setup(checkout: Path, python: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["scripts/setup.sh"],
        cwd=checkout,
        env={**os.environ, "PYTHON": str(python), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_setup_installs_into_the_project_venv_once_and_says_so(tmp_path: Path) -> None:
    python, log = _fake_checkout(tmp_path)
    first = _setup(tmp_path, python, AGENT_SKIP_HOST_TOOLS="0")
    assert first.returncode == 0, first.stderr
    calls = log.read_text().splitlines()
    # The system interpreter only makes the venv; pip runs from the venv's python.
    assert calls[0] == "system python -m venv .venv"
    assert calls[1].startswith("venv python -m pip install") and "-e .[dev,ray]" in calls[1]
    # Every run refreshes the bytecode the sandbox imports (cheap when nothing changed).
    compile_call = "venv python -m compileall -q dsl sandbox"
    assert calls[2:] == [compile_call, "host tools with .venv/bin/python"]
    assert all(line.startswith("setup: ") for line in first.stdout.splitlines())
    assert "creating the project virtual environment .venv/" in first.stdout
    assert "torch" in first.stdout and "bubblewrap and docker.io" in first.stdout

    again = _setup(tmp_path, python, AGENT_SKIP_HOST_TOOLS="1")
    assert again.returncode == 0, again.stderr
    # Nothing installed, no host tools: only the bytecode refreshed.
    assert log.read_text().splitlines() == [*calls, compile_call]
    assert "already installed" in again.stdout and "AGENT_SKIP_HOST_TOOLS=1" in again.stdout

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '2'\n")
    third = _setup(tmp_path, python, AGENT_SKIP_HOST_TOOLS="1")
    assert third.returncode == 0
    assert log.read_text().splitlines()[-2].startswith("venv python -m pip install")


def test_setup_refuses_an_old_python_in_one_line(tmp_path: Path) -> None:
    _, log = _fake_checkout(tmp_path)
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\nexit 1\n")  # `sys.version_info < (3, 11)` says so
    old.chmod(0o755)
    done = _setup(tmp_path, old)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"setup: needs Python >= 3.11 (found: {old}); set PYTHON=/path/to/python3.11"
    ]
    assert not log.exists()
