"""The three ways of isolating the harness process, and the choice among them.

A backend only says how to start the harness (`sandbox.harness`) isolated, as an argv and an
environment, and how to clean up after a killed run; `sandbox.spares` starts it and
`sandbox.runner` does the rest, the same way for all three. Inside, the harness confines
itself further (`sandbox.confine`).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import site
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

from sandbox.image import IMAGE, host_root_links
from sandbox.limits import MIB, Limits

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
    dialect lets a spare (`sandbox.spares`) load it before its request arrives. The real
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
    """How to start the harness isolated. Subclasses fill in the three methods."""

    name = ""
    description = ""

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None when it can."""
        raise NotImplementedError

    def command(self, limits: Limits, run_id: str, dialect: str) -> list[str]:
        raise NotImplementedError

    def environment(self, run_dir: str) -> dict[str, str]:
        """The environment of the process we start (never the caller's: no API keys)."""
        return _minimal_env(HOME=run_dir)

    def after_kill(self, run_id: str) -> None:
        """Called when a run was killed; the backend removes anything still running."""

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

    def unavailable(self) -> str | None:
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

    def unavailable(self) -> str | None:
        return _probe_bubblewrap()

    def command(self, limits: Limits, run_id: str, dialect: str) -> list[str]:
        argv = [
            "bwrap",
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
        f"docker: a fresh container per build from the local image {IMAGE} "
        "(--network none, read-only root, memory/cpu/pids limits, tmpfs /tmp, "
        "user nobody, no capabilities)"
    )

    def unavailable(self) -> str | None:
        return _probe_docker()

    def environment(self, run_dir: str) -> dict[str, str]:
        passed = {k: v for k, v in os.environ.items() if k.startswith("DOCKER_")}
        return _minimal_env(HOME=os.environ.get("HOME", run_dir), **passed)

    def command(self, limits: Limits, run_id: str, dialect: str) -> list[str]:
        memory = f"{max(limits.memory_bytes // MIB, 64)}m"
        argv = [
            "docker",
            "run",
            "-i",
            "--rm",
            "--init",
            "--name",
            run_id,
            "--network",
            "none",
            "--read-only",
            "--user",
            "65534:65534",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--memory",
            memory,
            "--memory-swap",
            memory,
            "--cpus",
            "1",
            "--pids-limit",
            str(limits.processes),
            "--tmpfs",
            "/tmp:rw,nosuid,nodev,size=16m",
            "--workdir",
            "/tmp",
            "--log-driver",
            "none",
            "-v",
            "/usr:/usr:ro",
        ]
        for link, target in host_root_links().items():
            if not target:
                argv += ["-v", f"{link}:{link}:ro"]
        prefixes, hidden = _python_dirs()
        for prefix in prefixes:
            argv += ["-v", f"{prefix}:{prefix}:ro"]
        for directory in hidden:
            argv += ["--mount", f"type=tmpfs,destination={directory}"]
        for directory in PROJECT_DIRS:
            argv += ["-v", f"{directory}:{directory}:ro"]
        return argv + [IMAGE] + python_argv(run_id, dialect)

    def after_kill(self, run_id: str) -> None:
        subprocess.run(
            ["docker", "rm", "--force", run_id],
            capture_output=True,
            env=self.environment("/tmp"),
            timeout=30,
            check=False,
        )


BACKENDS: dict[str, Backend] = {b.name: b for b in (Bubblewrap(), Docker(), Plain())}
ALIASES = {"bwrap": "bubblewrap"}


@functools.cache
def _probe_bubblewrap() -> str | None:
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
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


@functools.cache
def _probe_docker() -> str | None:
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    try:
        done = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env=Docker().environment("/tmp"),
        )
    except subprocess.TimeoutExpired:
        return "the docker daemon did not answer within 20 s"
    if done.returncode == 0:
        return None
    if "Cannot connect" in done.stderr or "daemon" in done.stderr.lower():
        return "no docker daemon answers"
    return f"the image {IMAGE} is not built (run sandbox/setup_host.sh)"


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
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise SandboxConfigError(f"{path}: cannot read it: {exc}") from exc
        name = config.get("sandbox", {}).get("backend")
        if name is not None:
            return str(name), f"{path} [sandbox] backend"
    return None


def select_backend(name: str | None = None) -> tuple[Backend, str]:
    """The backend to use and why: an explicit name, else $AGENT_SANDBOX, else the
    `[sandbox] backend` of ./.agent.toml, else the strongest one that works here."""
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
        if key == "plain":
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
    _warn_once(why)
    return BACKENDS["plain"], why


def new_run_id() -> str:
    return f"agent-sandbox-{uuid.uuid4().hex[:12]}"
