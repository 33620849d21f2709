"""The three ways of isolating the harness process, and the choice among them.

A backend says how to start the harness (`sandbox.harness`) isolated and how to kill a run
with everything it started; `sandbox.spares` starts it and `sandbox.runner` does the rest, the
same way for all three. Inside, the harness confines itself further (`sandbox.confine`).

Probing a backend never raises: whatever goes wrong (a missing binary, a timeout, a dead
daemon, a library's surprise) is the reason it is unavailable, and the automatic choice moves
on to the next one.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import site
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

from sandbox import container
from sandbox.image import IMAGE, host_root_links
from sandbox.leftovers import RUN_PREFIX, owner_tag
from sandbox.limits import Limits

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Only what the harness imports is visible inside: the dialects and the sandbox itself, not
# tests (expert solutions), benchmarks, memory or anything else of the project.
PROJECT_DIRS = (PROJECT_ROOT / "dsl", PROJECT_ROOT / "sandbox")
BOOT = (
    f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
    "from sandbox.harness import main; main()"
)
CONFIG_FILE = ".agent.toml"
PLAIN_WARNING = (
    "WARNING: the plain process isolates little (no namespaces; only rlimits, Landlock and seccomp)"
)
ENV_VAR = "AGENT_SANDBOX"


class SandboxConfigError(Exception):
    """The requested backend is unknown or cannot run on this machine (one-line message)."""


def python_argv(run_id: str, dialect: str) -> list[str]:
    """This interpreter, isolated (-I: no environment, no user site), without site-packages
    (-S: numpy, torch and the rest are not importable) and without writing bytecode (-B).
    The run id rides along so that any process of a run can be found on the host; the
    dialect (or several, comma-separated) lets a spare (`sandbox.spares`) load it before
    its request arrives. The real
    interpreter is started, not a virtual environment's link to it: the venv may live where
    the sandbox mounts a private /tmp, and -S means nothing of it is needed anyway."""
    return [os.path.realpath(sys.executable), "-I", "-S", "-B", "-c", BOOT, run_id, dialect]


def _python_dirs() -> tuple[list[str], list[str]]:
    """(prefixes to expose read-only, site-packages directories to hide under them)."""
    prefixes = sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)})
    hidden = sorted(
        {
            os.path.realpath(p)
            for p in site.getsitepackages()
            if os.path.isdir(p)
            and any(os.path.realpath(p).startswith(pre + "/") for pre in prefixes)
        }
    )
    return prefixes, hidden


def _minimal_env(**extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **extra}


class Backend:
    """How to start the harness isolated and how to kill a run. Subclasses give `probe` and
    `command`, or `start` and `kill` when the harness is not a child process of ours."""

    name = ""
    description = ""

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None when it can; never raises."""
        try:
            return self.probe()
        except Exception as exc:  # a probe must never take a command down
            return f"the probe failed ({type(exc).__name__}: {' '.join(str(exc).split())})"

    def probe(self) -> str | None:
        raise NotImplementedError

    def command(self, limits: Limits, run_id: str, dialect: str) -> list[str]:
        raise NotImplementedError

    def environment(self, run_dir: str) -> dict[str, str]:
        """The environment of the process we start (never the caller's: no API keys)."""
        return _minimal_env(HOME=run_dir)

    def start(self, limits: Limits, run_id: str, dialect: str, run_dir: str) -> Any:
        """The started harness: a `subprocess.Popen`, or an object with the same `stdin`,
        `stdout`, `stderr`, `poll` and `wait` (and `kill` and `fault_of` to suit)."""
        return subprocess.Popen(
            self.command(limits, run_id, dialect),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=run_dir,
            env=self.environment(run_dir),
            start_new_session=True,
        )

    def kill(self, process: Any) -> None:
        """Kill a run's whole process tree and wait until none of it runs."""
        _kill_tree(process.pid)

    def fault_of(self, process: Any) -> str | None:
        """What went wrong on the set-up's side of a finished run (not the program's), if
        anything did."""
        return None

    def signal_of(self, returncode: int) -> int | None:
        """The signal that ended the harness, if one did."""
        if returncode < 0:
            return -returncode
        return returncode - 128 if 128 < returncode < 160 else None


class Plain(Backend):
    name = "plain"
    description = (
        "a child process in its own session with rlimits, Landlock and seccomp; "
        "no namespaces, so it isolates little"
    )

    def probe(self) -> str | None:
        return None

    def command(self, limits: Limits, run_id: str, dialect: str) -> list[str]:
        return python_argv(run_id, dialect)

    def signal_of(self, returncode: int) -> int | None:
        return -returncode if returncode < 0 else None


class Bubblewrap(Backend):
    name = "bubblewrap"
    description = (
        "bwrap: every namespace unshared (no network, own PID namespace), a "
        "read-only view of python and the dialects, private /tmp, empty environment"
    )

    def probe(self) -> str | None:
        return _probe_bubblewrap()

    def command(self, limits: Limits, run_id: str, dialect: str) -> list[str]:
        # The full path, found on the caller's PATH: the sandbox's own PATH (/usr/bin:/bin),
        # which subprocess would search, need not hold it.
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxConfigError("sandbox backend 'bubblewrap': bwrap is not installed")
        argv = [
            bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for link, target in host_root_links().items():
            argv += ["--symlink", target, link] if target else ["--ro-bind", link, link]
        # The private /tmp comes first: a project or venv that lives under /tmp is then
        # bound on top of it instead of being hidden by it.
        argv += ["--dev", "/dev", "--tmpfs", "/tmp"]
        prefixes, hidden = _python_dirs()
        for prefix in prefixes:
            argv += ["--ro-bind", prefix, prefix]
        for directory in hidden:
            argv += ["--tmpfs", directory]
        for directory in PROJECT_DIRS:
            argv += ["--ro-bind", str(directory), str(directory)]
        argv += ["--chdir", "/tmp", "--"]
        return argv + python_argv(run_id, dialect)


class Docker(Backend):
    name = "docker"
    description = (
        f"docker (through the Docker SDK for Python): a fresh container per build from the "
        f"local image {IMAGE} (no network, read-only root, memory/cpu/pids limits, tmpfs "
        "/tmp, user nobody, no capabilities, no new privileges)"
    )

    def probe(self) -> str | None:
        return _probe_docker()

    def start(
        self, limits: Limits, run_id: str, dialect: str, run_dir: str
    ) -> container.ContainerProcess:
        prefixes, hidden = _python_dirs()
        read_only = ["/usr"] + [link for link, target in host_root_links().items() if not target]
        read_only += prefixes + [str(directory) for directory in PROJECT_DIRS]
        try:  # the daemon answered the probe; if it is gone now, that is the set-up's fault
            config = container.host_config(limits, read_only, hidden)
        except Exception as exc:
            raise SandboxConfigError(
                f"sandbox backend 'docker' failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
            ) from None
        container.sweep_once(os.getpid())
        return container.ContainerProcess(python_argv(run_id, dialect), run_id, config)

    def kill(self, process: Any) -> None:
        process.kill()

    def fault_of(self, process: Any) -> str | None:
        return process.failure


BACKENDS: dict[str, Backend] = {b.name: b for b in (Bubblewrap(), Docker(), Plain())}
ALIASES = {"bwrap": "bubblewrap"}


def _probe_bubblewrap() -> str | None:
    bwrap = shutil.which("bwrap")  # on this caller's PATH
    if bwrap is None:
        return "bwrap is not installed"
    return _bwrap_starts(bwrap)


@functools.cache
def _bwrap_starts(bwrap: str) -> str | None:
    """Why `bwrap` cannot start a sandbox, or None when it can (once per process and
    binary: it starts a sandboxed python, 0.1-0.2 s)."""
    argv = Bubblewrap().command(Limits(), "probe", "none")
    argv[argv.index("-c") + 1] = "pass"
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=20, env=_minimal_env(), check=False
        )
    except subprocess.TimeoutExpired:
        return "bwrap did not start python within 20 s"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return f"bwrap cannot start a sandbox here ({reason})"
    return None


def probe_ahead() -> None:
    """Probe bubblewrap now, for the processes this one forks later (a warm eval server's
    evaluations, agents.eval_server). Only a success is kept: a failure, perhaps passing,
    is probed again when a backend is chosen, as in a fresh process."""
    if BACKENDS["bubblewrap"].unavailable() is not None:
        _bwrap_starts.cache_clear()


@functools.cache
def _probe_docker() -> str | None:
    return container.probe()


def _kill_tree(root: int) -> None:
    """Kill `root`'s process group and every descendant (bwrap puts the program in a session
    of its own, so the group alone would leave it to die a moment later), then wait until
    none of them runs."""
    tree = _process_tree(root)
    try:
        os.killpg(root, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        stat_field(pid, 0) not in (None, "Z", "X") for pid in tree
    ):
        time.sleep(0.005)


def kill_stragglers(run_id: str) -> None:
    """Kill every process still carrying `run_id` on its command line and wait until none
    runs. A run killed from outside can end its outer process first: bwrap's monitor exits
    once it reads the program's status, and its namespace's init follows a moment later, no
    longer our child, so waiting for our child alone does not see it."""
    marker = run_id.encode()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    if marker not in file.read():
                        continue
            except OSError:
                continue
            if stat_field(int(entry), 0) not in (None, "Z", "X"):
                alive.append(int(entry))
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)


def _process_tree(root: int) -> list[int]:
    """`root`'s descendants, found through /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = stat_field(int(entry), 1)
            if parent is not None:
                children.setdefault(int(parent), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stat_field(pid: int, index: int) -> str | None:
    """A field of /proc/<pid>/stat after the command name (0: state, 1: parent, 19: start
    time), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[index]
    except (OSError, IndexError):
        return None


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _configured() -> tuple[str, str] | None:
    """(name, where it came from) from the environment or ./.agent.toml, if either says."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR], f"${ENV_VAR}"
    path = Path.cwd() / CONFIG_FILE
    if path.is_file():
        try:
            config = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            raise SandboxConfigError(f"{path}: cannot read it: {exc}") from exc
        name = config.get("sandbox", {}).get("backend")
        if name is not None:
            return str(name), f"{path} [sandbox] backend"
    return None


def select_backend(name: str | None = None, *, warn: bool = True) -> tuple[Backend, str]:
    """The backend to use and why: an explicit name, else $AGENT_SANDBOX, else the
    `[sandbox] backend` of ./.agent.toml, else the strongest one that works here. `warn`:
    log the plain process's warning (once per process); False for a choice made ahead of
    the build it serves, which warns then (agents.eval_server's standby)."""
    origin = "requested"
    if name is None:
        configured = _configured()
        if configured is not None:
            name, origin = configured[0], f"set by {configured[1]}"
    if name is not None and name != "auto":
        key = ALIASES.get(name, name)
        if key not in BACKENDS:
            raise SandboxConfigError(
                f"unknown sandbox backend {name!r} ({origin}); choose "
                f"one of {', '.join(BACKENDS)} or auto"
            )
        reason = BACKENDS[key].unavailable()
        if reason:
            raise SandboxConfigError(f"sandbox backend {key!r} ({origin}) cannot run: {reason}")
        why = f"{key}: {origin}" + (f". {PLAIN_WARNING}" if key == "plain" else "")
        if key == "plain" and warn:
            _warn_once(why)
        return BACKENDS[key], why
    skipped = []
    for key in ("bubblewrap", "docker"):
        reason = BACKENDS[key].unavailable()
        if reason is None:
            return BACKENDS[key], f"{key}: chosen automatically" + (
                f" ({'; '.join(skipped)})" if skipped else ""
            )
        skipped.append(f"{key}: {reason}")
    why = f"plain: chosen automatically because {'; '.join(skipped)}. {PLAIN_WARNING}"
    if warn:
        _warn_once(why)
    return BACKENDS["plain"], why


def new_run_id() -> str:
    """`agent-sandbox-<owner>-<random>`: the owner tag (`sandbox.leftovers`) lets a later run
    tell this run's folder and container from a live one's once this process is gone."""
    return f"{RUN_PREFIX}{owner_tag()}-{uuid.uuid4().hex[:12]}"
