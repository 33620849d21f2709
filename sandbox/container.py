"""The docker backend's sandboxes, driven through the Docker SDK for Python.

No docker client binary is run: where it lives, or whether it exists, does not matter (a host
whose client sits in /usr/local/bin while sandboxes start with PATH=/usr/bin:/bin took every
command down when this backend shelled out). The SDK talks to the daemon's socket
($DOCKER_HOST or the default one).

`ContainerProcess` makes a container look like the child process the runner expects: three
pipes (stdin, stdout, stderr), `poll`, `wait` and `kill`. A thread creates the container,
attaches to its streams, starts it, and then relays bytes between the pipes and the attach
socket (which multiplexes stdout and stderr in frames). The container's stdin closes when the
attach connection does (StdinOnce), so a sandbox whose parent died ends like any other spare.
A daemon call that fails ends the run with exit code 125 (the docker client's code for it) and
the daemon's reason in `failure`: a fault of the set-up, which the runner raises as
`SandboxConfigError` rather than charge to the program. Nothing here raises into the relay's
caller.
"""

from __future__ import annotations

import functools
import os
import selectors
import socket
import struct
import threading
from typing import Any

from sandbox.image import IMAGE
from sandbox.leftovers import RUN_PREFIX, orphaned
from sandbox.limits import MIB, Limits

API_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 10
DAEMON_FAILED = 125  # the docker client's exit code when the daemon refused a run
KILLED = 128 + 9  # what docker reports for a container killed with SIGKILL
_FRAME_HEADER = struct.Struct(">BxxxL")  # stream (1 stdout, 2 stderr), 3 zero bytes, size
_CHUNK = 64 * 1024


@functools.cache
def _client_of(pid: int, timeout: int) -> Any:
    """One SDK client per process (a forked child must not share the parent's connections)."""
    import docker

    return docker.from_env(timeout=timeout)


def client(timeout: int = API_TIMEOUT_S) -> Any:
    """The Docker SDK client of this process (the daemon is asked for its API version)."""
    return _client_of(os.getpid(), timeout)


def probe() -> str | None:
    """Why the docker backend cannot run here (no SDK, no daemon, no image), or None.
    Never raises: whatever goes wrong is the reason."""
    try:
        import docker
    except ImportError:
        return "the Docker SDK for Python (the `docker` package) is not installed"
    try:
        api = client(PROBE_TIMEOUT_S).api
        api.ping()
    except Exception as exc:
        _client_of.cache_clear()  # a daemon started later gets a fresh client
        return f"no docker daemon answers ({_reason(exc)})"
    try:
        api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        return f"the image {IMAGE} is not built (run sandbox/setup_host.sh)"
    except Exception as exc:
        return f"the docker daemon cannot inspect the image {IMAGE} ({_reason(exc)})"
    return None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:199] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def sweep() -> None:
    """Remove the containers of runs whose owner is gone (`sandbox.leftovers`). A daemon that
    cannot list them is no reason to fail a build: they wait for the next run."""
    try:
        listed = client().api.containers(all=True, filters={"name": RUN_PREFIX})
    except Exception:
        return
    for found in listed:
        names = [name.lstrip("/") for name in found.get("Names") or []]
        if any(orphaned(name) for name in names):
            try:
                client().api.remove_container(found["Id"], force=True)
            except Exception:  # removed meanwhile, or the daemon refuses: left for later
                pass


@functools.cache
def sweep_once(pid: int) -> None:
    """`sweep`, once per process (before its first container starts)."""
    sweep()


def host_config(limits: Limits, read_only_dirs: list[str], hidden_dirs: list[str]) -> dict:
    """The container's confinement: no network, read-only root, no capabilities, no new
    privileges, user nobody, memory without swap, one CPU, a pids limit, a small tmpfs /tmp,
    the host's python and the dialects bound read-only, site-packages hidden under tmpfs."""
    memory = f"{max(limits.memory_bytes // MIB, 64)}m"
    tmpfs = {"/tmp": "rw,nosuid,nodev,size=16m"}
    tmpfs.update({directory: "" for directory in hidden_dirs})
    return client().api.create_host_config(
        binds={path: {"bind": path, "mode": "ro"} for path in read_only_dirs},
        tmpfs=tmpfs,
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mem_limit=memory,
        memswap_limit=memory,
        nano_cpus=10**9,
        pids_limit=limits.processes,
        init=True,
        log_config={"type": "none", "config": {}},
    )


class ContainerProcess:
    """A sandbox container, seen as a child process: write its stdin, read its stdout and
    stderr, wait for its exit code (128 + n for a death by signal n, as docker's init
    reports it)."""

    def __init__(self, argv: list[str], name: str, config: dict) -> None:
        self.args, self.name = argv, name
        self.returncode: int | None = None
        self.failure: str | None = None  # the daemon's reason, when it failed the run
        self._config = config
        self._lock = threading.Lock()
        self._killed = False
        self._container: str | None = None
        self._attached: Any = None
        self._socket: socket.socket | None = None
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        self.stdin = os.fdopen(stdin_w, "wb", buffering=0)
        self.stdout = os.fdopen(stdout_r, "rb", buffering=0)
        self.stderr = os.fdopen(stderr_r, "rb", buffering=0)
        self._ends = (stdin_r, stdout_w, stderr_w)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"relay {name}", daemon=True)
        self._thread.start()

    # -- the Popen subset the runner uses

    def poll(self) -> int | None:
        return self.returncode

    def wait(self) -> int:
        self._done.wait()
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        """Remove the container at once (killing what runs in it) and end the relay."""
        with self._lock:
            self._killed = True
            container, sock = self._container, self._socket
        # Drop the attach stream first: the daemon does not remove a container while its
        # output waits for a reader that stopped reading.
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for pipe in (self.stdin, self.stdout, self.stderr):  # a relay blocked on a full
            pipe.close()  # pipe that nobody reads any more gets EPIPE and ends
        if container is not None:
            try:
                client().api.remove_container(container, force=True)
            except Exception:  # already gone, or the daemon died: nothing left to stop
                pass
        self._done.wait(API_TIMEOUT_S)

    # -- the relay thread

    def _run(self) -> None:
        stdin_r, stdout_w, stderr_w = self._ends
        try:
            code = self._serve(stdin_r, stdout_w, stderr_w)
        except Exception as exc:  # the daemon failed us (or we killed the run meanwhile)
            code = KILLED if self._killed else DAEMON_FAILED
            if not self._killed:
                self.failure = _reason(exc)
        # Known before the pipes close, so whoever sees them close sees a finished run.
        self.returncode = code
        for fd in self._ends:
            os.close(fd)
        if self._socket is not None:
            self._socket.close()
        self._remove()
        self._done.set()

    def _serve(self, stdin_r: int, stdout_w: int, stderr_w: int) -> int:
        api = client().api
        with self._lock:
            if self._killed:
                return KILLED
            self._container = api.create_container(
                IMAGE,
                command=self.args,
                name=self.name,
                user="65534:65534",
                working_dir="/tmp",
                stdin_open=True,
                network_disabled=True,
                host_config=self._config,
            )["Id"]
        attached = api.attach_socket(
            self._container, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        with self._lock:
            # The socket itself for select and half-close; `attached` (kept) holds the HTTP
            # response whose collection would close it.
            self._attached, self._socket = attached, getattr(attached, "_sock", attached)
            if self._killed:
                return KILLED
        api.start(self._container)
        _relay(stdin_r, self._socket, {1: stdout_w, 2: stderr_w})
        return int(api.wait(self._container, timeout=API_TIMEOUT_S)["StatusCode"])

    def _remove(self) -> None:
        if self._container is not None:
            try:
                client().api.remove_container(self._container, force=True)
            except Exception:  # removed by kill() already, or the daemon went away
                pass


def _relay(stdin_r: int, sock: socket.socket, outputs: dict[int, int]) -> None:
    """Copy the stdin pipe to the socket (half-closing it at the pipe's end, which closes the
    container's stdin) and the socket's frames to the output pipes, until the socket ends."""
    selector = selectors.DefaultSelector()
    selector.register(stdin_r, selectors.EVENT_READ)
    selector.register(sock, selectors.EVENT_READ)
    pending = b""
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is sock:
                    data = sock.recv(_CHUNK)
                    if not data:
                        return
                    pending = _deliver(pending + data, outputs)
                    continue
                data = os.read(stdin_r, _CHUNK)
                try:
                    if data:
                        sock.sendall(data)
                        continue
                    sock.shutdown(socket.SHUT_WR)
                except OSError:  # the container stopped reading; its end says why
                    pass
                selector.unregister(stdin_r)
    finally:
        selector.close()


def _deliver(pending: bytes, outputs: dict[int, int]) -> bytes:
    """Write every whole frame of `pending` to its output; return what is left of it."""
    while len(pending) >= _FRAME_HEADER.size:
        stream, size = _FRAME_HEADER.unpack_from(pending)
        end = _FRAME_HEADER.size + size
        if len(pending) < end:
            break
        if stream in outputs:
            _write_all(outputs[stream], pending[_FRAME_HEADER.size : end])
        pending = pending[end:]
    return pending


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
