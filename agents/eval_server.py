"""A warm evaluator for `agent eval`, so that a call after the first answers well under 1 s.

A one-off `agent eval` spends most of its ~4 s importing torch, the dialects and the verifier;
the evaluation itself takes ~0.3 s. So, as dmypy and gradle's daemon do, the first call starts
a server in the background, once it has evaluated in-process; the server imports all that
once and then listens on a Unix socket (until it does, calls keep evaluating in-process: none
waits for it). A later call hands it its argv, working folder, environment and its stdin, stdout and stderr (the file
descriptors themselves: output reaches the terminal byte for byte as from an in-process run,
and a terminal is still seen as one), and the server runs the command in a forked child (so
nothing of one evaluation survives into the next; forked ahead, with its sandboxes started,
see `_Server`) and sends back the exit code. A client that
goes away (Ctrl-C) takes its child with it. An idle server exits after
`AGENT_EVAL_SERVER_IDLE` seconds (default 900); `AGENT_EVAL_SERVER=0` or `agent eval
--no-server` evaluate in-process and start none; `agent eval --stop-server` stops it.

Never a stale verdict: a server belongs to one checkout and one interpreter (its socket is
named by a hash of both), and it refuses a request whose fingerprint differs from the one it
took when it started, before importing anything: the sizes and modification times of the
project's package files, and the environment variables Python and the numeric libraries read
once at start-up. A refusing server exits; the client evaluates in-process and starts a fresh
one. Task files are read by each request anyway.

Safety: the socket lives in a folder only this user may enter, and the server answers only
peers of its own uid (SO_PEERCRED).

The client side (`evaluate`, `start`, `stop`, `ping`) imports the standard library only: it
runs on every `agent eval` before anything else is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("agents", "benchmarks", "dsl", "interpreter", "memory", "sandbox", "tuner")
# Read once when Python or a numeric library starts, so a server started under other values
# would evaluate differently from an in-process run.
STARTUP_ENV = ("PYTHON", "LANG", "LC_", "OMP_", "MKL_", "OPENBLAS_", "KMP_", "TORCH", "CUDA")
SWITCH_ENV = "AGENT_EVAL_SERVER"  # "0": never use or start a server
IDLE_ENV = "AGENT_EVAL_SERVER_IDLE"  # seconds an idle server lives (default 900)
IDLE_S = 900.0
HELLO = b"R"  # sent by the server on accepting: it is reading the request
ACCEPT_TIMEOUT_S = 10.0  # a server this slow to accept (a stopped process) is not waited for
# What the server imports before it answers: everything `agent eval` loads, for any dialect.
# Imports only: the server must run no torch operation before it forks (an OpenMP pool
# started in the parent leaves a forked child hanging on its first parallel operation).
WARM_MODULES = (
    "torch",
    "numpy",
    "numpy.random",
    "numba",  # for a simulation large enough to compile its kernel (interpreter.core.jit)
    "rich.console",
    "typer._adapters",  # typer's parameter parsing (pydantic), loaded on a command's first run
    "agents.cli",
    "benchmarks.task",
    "benchmarks.generators",
    "interpreter.verifier",
    "interpreter.budget",
    "interpreter.targets",
    "sandbox.runner",
    "sandbox.backends",
    "dsl.step",
    "dsl.sam",
    "dsl.dae",
    "interpreter.step",
    "interpreter.sam",
    "interpreter.dae",
    "interpreter.step.sim",  # the simulators, loaded by an evaluation's timed run only
    "interpreter.step.accounting",
    "interpreter.step.critical_path",
    "interpreter.sam.simulate",
    "interpreter.dae.simulator",
    "pydantic.plugin._loader",  # typer's parsing (see warm_up) loads these on a call
    "typer._click.decorators",
)
warmed = False  # set by `warm_up`: this process (a server, or its child) has loaded all that
# glibc malloc options for a request's child (mallopt: M_MMAP_THRESHOLD, M_TRIM_THRESHOLD,
# M_TOP_PAD). By default a freshly forked process maps every large array (a numpy input, an
# interpreter's queue) anew and returns it to the kernel when freed, so the next one faults
# its pages in again: 0.3-0.4 s of system time an evaluation. With these, freed blocks up to
# 32 MiB stay in the heap for the next allocation. Where memory lives changes no result.
MALLOC_OPTIONS = ((-3, 32 << 20), (-1, 256 << 20), (-2, 64 << 20))
# How long warm-up waits for the shipped tasks' repeated inputs (~1 s of work).
DRAW_TIMEOUT_S = 120.0
LOADAVG = "/proc/loadavg"  # its 4th field: runnable tasks now / all tasks (Linux)


def core_idle() -> bool:
    """Whether a core is idle now (this process is the only one runnable), so that a
    request may time the baseline and simulate in forked children while it checks
    (agents.cli). A forked child pays in system time for the pages it writes first
    (0.2-0.45 s of a DAE request on a 2-core machine), which only a core that would
    otherwise idle repays: with one other process busy, a DAE request in three processes
    took 0.1-0.4 s longer than in one. True where the count cannot be read."""
    try:
        with open(LOADAVG) as stats:
            running = int(stats.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return True
    return running < len(os.sched_getaffinity(0))


def enabled(argv: list[str]) -> bool:
    """Whether this `agent eval` may use (and start) a server."""
    in_process = "--no-server" in argv or "--stop-server" in argv
    return os.environ.get(SWITCH_ENV, "1") != "0" and not in_process


def _folder() -> str | None:
    """The user's private folder for sockets (made if missing); None if it is not private."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        folder = os.path.join(runtime, "agent-eval")
    else:
        import tempfile

        folder = os.path.join(tempfile.gettempdir(), f"agent-eval-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    info = os.lstat(folder)
    private = info.st_uid == os.getuid() and not info.st_mode & 0o077
    return folder if stat.S_ISDIR(info.st_mode) and private else None


def address() -> str | None:
    """The path of this checkout's and interpreter's server, without suffix (.sock, .lock,
    .log); None when there is no private folder to put it in."""
    folder = _folder()
    if folder is None:
        return None
    key = hashlib.sha256(f"{ROOT}\0{sys.executable}".encode()).hexdigest()[:16]
    return os.path.join(folder, key)


def fingerprint(env: dict[str, str]) -> str:
    """A hash of the size and modification time of every file of the project's packages, and
    of the start-up variables in `env`: what a server's answers depend on besides a request."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        for folder, subfolders, files in os.walk(os.path.join(ROOT, package)):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(files):
                info = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    for name in sorted(env):
        if name.startswith(STARTUP_ENV):
            digest.update(f"{name}={env[name]}\0".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- client


def _send(sock: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode()
    socket.send_fds(sock, [struct.pack("!I", len(data)) + data], list(fds))


def _reply(sock: socket.socket) -> dict | None:
    """The server's one-line answer, or None if it closed the connection first."""
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = sock.recv(4096)
        except ConnectionError:
            return None
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def _connect(timeout: float) -> socket.socket | None:
    """A connection to a warm server (its hello received), or None if none answers."""
    where = address()
    if where is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(where + ".sock")
        if sock.recv(1) == HELLO:
            sock.settimeout(None)
            return sock
    except OSError:  # no socket, nobody listening, a timeout
        pass
    sock.close()
    return None


def evaluate(argv: list[str]) -> int | None:
    """Run the command `argv` (sys.argv of `agent eval ...`) on the warm server and return its
    exit code; None when no server took it (none running, or a stale one, which exits): the
    caller then runs it in-process, and output is the same either way."""
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)  # a closed stdin or stdout: nothing to hand over
        cwd = os.getcwd()  # a folder removed meanwhile: let the in-process run say so
    except OSError:
        return None
    umask = os.umask(0o077)  # reading it means setting it
    os.umask(umask)
    request = {"argv": argv, "cwd": cwd, "env": dict(os.environ), "umask": umask}
    request["fingerprint"] = fingerprint(os.environ)
    sock = _connect(ACCEPT_TIMEOUT_S)
    if sock is None:
        return None
    with sock:  # closing it (Ctrl-C here, say) kills the evaluation
        try:
            _send(sock, request, (0, 1, 2))
        except OSError:
            return None
        reply = _reply(sock)
    if reply is None:  # the server died while the evaluation ran: it may have printed already
        print("agent: the eval server stopped during the evaluation", file=sys.stderr)
        return 1
    code = reply.get("exit")
    return None if code is None else (code if code >= 0 else 128 - code)


def start() -> None:
    """Start this checkout's server in the background, detached from this process, its
    terminal and its output (the server's own errors go to ADDRESS.log)."""
    import subprocess

    where = address()
    if where is None:
        return
    try:
        with open(where + ".log", "ab") as log:  # a server's faults only: it stays small
            subprocess.Popen(
                [sys.executable, "-m", "agents.eval_server"],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
    except OSError:  # the next call evaluates in-process too; this one is done already
        pass


def ping(timeout: float) -> int | None:
    """The warm server's process id, waiting up to `timeout` s for one to be started and
    ready; else None."""
    import time

    deadline = time.monotonic() + timeout
    sock = _connect(timeout)
    while sock is None and time.monotonic() < deadline:
        time.sleep(0.05)
        sock = _connect(max(0.0, deadline - time.monotonic()))
    if sock is None:
        return None
    with sock:
        _send(sock, {"ping": True})
        reply = _reply(sock) or {}
    return reply.get("pid")


def stop() -> bool:
    """Stop this checkout's server (evaluations under way finish), or end one still warming
    up; whether there was one."""
    sock = _connect(ACCEPT_TIMEOUT_S)
    if sock is None:
        return _end_starting()
    with sock:
        _send(sock, {"stop": True})
        _reply(sock)
    return True


def _end_starting() -> bool:
    """End a server that holds its lock but does not listen yet (see `serve`), by the process
    id it wrote in the lock file; whether there was one."""
    import fcntl
    import signal

    where = address()
    if where is None:
        return False
    try:
        with open(where + ".lock") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return False  # nobody holds it
            except BlockingIOError:
                os.kill(int(lock.read()), signal.SIGTERM)
                return True
    except (OSError, ValueError):  # no lock file; a server gone, or its id not written yet
        return False


# ---------------------------------------------------------------- server


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request and the descriptors that came with it."""
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    try:
        while len(head) < 4:
            head += _more(conn, 4 - len(head))
        (size,) = struct.unpack("!I", head)
        data = b""
        while len(data) < size:
            data += _more(conn, size - len(data))
        return json.loads(data), fds
    except (OSError, ValueError):
        for fd in fds:
            os.close(fd)
        raise


def _more(conn: socket.socket, most: int) -> bytes:
    data = conn.recv(most)
    if not data:
        raise ConnectionError("request cut short")
    return data


def _answer(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:  # the client is gone
        pass


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _stream(fd: int, mode: str, like, *, line: bool):
    return open(
        fd,
        mode,
        buffering=1 if line else -1,
        encoding=like.encoding,
        errors=like.errors,
        closefd=False,
    )


def _set_up_child() -> None:
    """In a forked child, before its request is known: its own process group (so the
    server can kill it with its sandboxes), MALLOC_OPTIONS, the default SIGCHLD, one torch
    thread."""
    import signal

    os.setsid()
    _keep_freed_memory()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _one_torch_thread()


def _stand_by(channel: socket.socket) -> int:
    """In a standby child (see `_Server`), set up already: start the sandboxes for the next
    request's builds, then wait for the request on `channel` and evaluate it; returns the
    exit code, 0 when the server closes the channel first (it stops or died)."""
    from sandbox.spares import SPARES

    _start_spares()
    try:
        request, fds = _receive(channel)
    except (OSError, ValueError):
        SPARES.close()
        return 0
    channel.close()
    return _evaluate_in_child(request, fds)


def _start_spares() -> None:
    """Start the sandboxes (sandbox.spares) of the next request's two builds, the
    program's and its baseline's, for any dialect, with the backend this server would
    choose and the default limits: started in the request's child, the program's build
    waited 0.09-0.18 s for its sandbox (with a spare 0.01-0.03 s), and the spare it left
    for the baseline's build started while the checks ran. A build that differs (another
    backend, or a client with another temporary folder or PATH) starts its own, as it would
    have without these, which then stop unused."""
    try:
        from dsl import DIALECTS
        from sandbox.backends import select_backend
        from sandbox.limits import Limits
        from sandbox.spares import SPARES

        SPARES.start_ahead(select_backend(warn=False)[0], Limits(), DIALECTS, count=2)
    except Exception:  # none: the builds start their sandboxes as without a standby
        pass


def _evaluate_in_child(request: dict, fds: list[int]) -> int:
    """In the forked child, set up (`_set_up_child`): become the client's process
    (descriptors, folder, environment, argv) and run the command as `agents.cli` would
    in-process; returns the exit code."""
    import atexit
    import tempfile
    import traceback

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # found again from the client's TMPDIR
    sys.argv = request["argv"]
    # The client's streams, encoded as the server's own (its start-up variables are the
    # client's); buffered as Python buffers them: by line on a terminal, stderr always.
    sys.stdin = sys.__stdin__ = _stream(0, "r", sys.stdin, line=False)
    sys.stdout = sys.__stdout__ = _stream(1, "w", sys.stdout, line=os.isatty(1))
    sys.stderr = sys.__stderr__ = _stream(2, "w", sys.stderr, line=True)
    from agents import cli

    code = 0
    try:
        cli.main()
    except SystemExit as exc:  # what the interpreter would do with it
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # the sandbox's spares, as at an interpreter's exit
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code


def _one_torch_thread() -> None:
    """Run this request's torch on one thread: the other core, if idle, times the baseline
    and simulates the timed input (`core_idle`), and two OpenMP threads on a machine whose
    cores are both busy spin in each other's barriers (moe_layer_qwen's reference: 7 ms a
    call on one thread, 0.4-5 s on two at load 7). The
    shipped tasks' references are bit-identical either way (tested), so no verdict changes.
    Setting the count starts no thread pool, so children forked later are safe."""
    import torch

    torch.set_num_threads(1)


def _keep_freed_memory() -> None:
    """Apply MALLOC_OPTIONS to this process (and so to the children it forks: the baseline's
    timing, see interpreter.verifier.BackgroundBaseline); nothing where libc is not glibc."""
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"
    except (ValueError, OSError):  # a system without the name (macOS)
        return
    if not libc.startswith("glibc "):
        return
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    for option, value in MALLOC_OPTIONS:
        mallopt(option, value)


class _Server:
    """The listening socket, the running evaluations (connection -> child pid), the standby
    and the idle clock; single-threaded (children are forked), woken by SIGCHLD through a
    pipe.

    The standby: a child forked ahead of the next request, set up as a request's child
    is (`_set_up_child`) and with sandboxes started for its builds (`_start_spares`), waiting
    on a socket pair for the request, which it then evaluates as a freshly forked child
    would: it has run nothing of any request (the command, its task files, its seeds all
    come after), and it is forked from this server, whose project files the request's
    fingerprint matches. One is forked at start and after each evaluation ends, when none
    runs (never beside a running evaluation, whose cores it would take); a request that
    finds none, or a dead one, gets a child forked for it as before. Closing the pair ends
    it (its sandboxes stopped): when the server stops, and when it dies, killed or not."""

    def __init__(self, where: str, lock, listener: socket.socket, fingerprint: str) -> None:
        import signal

        self.where, self.lock = where, lock
        self.listener: socket.socket | None = listener
        self.fingerprint = fingerprint
        self.children: dict[socket.socket, int] = {}
        self.standby: int | None = None  # its pid, until reaped
        self.channel: socket.socket | None = None  # our end of its pair, while it waits
        self.want_standby = True  # at start, and after an evaluation: not after one died
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def close_listener(self) -> None:
        """Take no more requests, and let a fresh server take the socket's name at once;
        the standby leaves."""
        import fcntl

        if self.listener is not None:
            os.unlink(self.where + ".sock")
            self.listener.close()
            self.listener = None
            fcntl.flock(self.lock, fcntl.LOCK_UN)  # for the children's copies too
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def loop(self, idle_s: float) -> None:
        import select
        import time

        last = time.monotonic()
        while self.listener is not None or self.children or self.standby is not None:
            idle = not self.children and self.standby is None
            if self.listener is not None and self.want_standby and idle:
                self._fork_standby()
            waiting = [self.wake_r, *self.children]
            if self.listener is not None:
                waiting.append(self.listener)
            busy = bool(self.children) or self.listener is None  # the standby leaving, if not
            timeout = None if busy else max(0.0, last + idle_s - time.monotonic())
            ready, _, _ = select.select(waiting, [], [], timeout)
            if not ready and not busy:
                self.close_listener()  # idle for idle_s
            if self.wake_r in ready:
                os.read(self.wake_r, 512)
            self._reap()
            for conn in ready:
                if conn in self.children:  # the client went away (Ctrl-C): kill its child
                    self._kill(self.children[conn])
            if self.listener is not None and self.listener in ready:
                self._accept()
            last = time.monotonic()

    def _reap(self) -> None:
        for conn, pid in list(self.children.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                _answer(conn, {"exit": os.waitstatus_to_exitcode(status)})
                conn.close()
                del self.children[conn]
                self.want_standby = True
        if self.standby is not None and os.waitpid(self.standby, os.WNOHANG)[0]:
            self.standby = None  # it left (see close_listener), or died waiting
            if self.channel is not None:
                self.channel.close()
                self.channel = None

    @staticmethod
    def _kill(pid: int) -> None:
        import signal

        for kill in (os.killpg, os.kill):  # the group may not exist yet
            try:
                kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            if _peer_uid(conn) != os.getuid():
                conn.close()
                return
            conn.settimeout(5.0)  # a client that sends nothing must not hold the server
            conn.sendall(HELLO)
            request, fds = _receive(conn)
            conn.settimeout(None)
        except (OSError, ValueError):  # a client of another version, say: it runs in-process
            request = {}
        if request.get("ping"):
            waiting = self.standby if self.channel is not None else None
            _answer(conn, {"pid": os.getpid(), "standby": waiting})
        elif request.get("stop"):
            self.close_listener()
            _answer(conn, {"stopped": True})
        elif "argv" not in request or len(fds) != 3:
            _answer(conn, {"refused": "not a request this server understands"})
        elif request.get("fingerprint") != self.fingerprint:
            self.close_listener()  # stale: the client starts a fresh one
            _answer(conn, {"refused": "the project changed since this server started"})
        else:
            if not self._hand_over(conn, request, fds):
                self._fork(conn, request, fds)
            return
        for fd in fds:
            os.close(fd)
        conn.close()

    def _hand_over(self, conn: socket.socket, request: dict, fds: list[int]) -> bool:
        """Give the request to the standby, if one waits; whether it took it (else it is
        gone: killed and reaped)."""
        if self.channel is None:
            return False
        pid, channel = self.standby, self.channel
        self.standby = self.channel = None
        try:
            _send(channel, request, tuple(fds))
        except OSError:  # it died waiting, not reaped yet
            self._kill(pid)
            os.waitpid(pid, 0)
            return False
        finally:
            channel.close()
        for fd in fds:
            os.close(fd)
        self.children[conn] = pid
        return True

    def _fork(self, conn: socket.socket, request: dict, fds: list[int]) -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._close_in_child(conn)
                _set_up_child()
                code = _evaluate_in_child(request, fds)
            except BaseException:  # the server's fault: shown on the client's stderr, if set
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        self.children[conn] = pid

    def _fork_standby(self) -> None:
        """Fork the standby (see the class docstring)."""
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ours.close()
                self._close_in_child(None)
                _set_up_child()
                code = _stand_by(theirs)
            except BaseException:  # the server's fault: in its log, or on the client's stderr
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        theirs.close()
        self.standby, self.channel, self.want_standby = pid, ours, False

    def _close_in_child(self, conn: socket.socket | None) -> None:
        """In a forked child: close the server's descriptors (the standby's end of its pair
        above all, which must close when the server dies)."""
        for other in [self.listener, self.lock, conn, self.channel, *self.children]:
            if other is not None:
                other.close()
        os.close(self.wake_r)


def warm_up() -> None:
    """Load in the server what every request's child would load or work out again: the
    modules, the command line, the simulators' compiled kernels (numba: ~1 s once instead of
    in every large evaluation; a kernel once compiled is used for any input, by design of
    interpreter.core.jit), whether bubblewrap works, and which inputs the shipped tasks draw
    identically. No torch operation runs here (see WARM_MODULES)."""
    import importlib

    global warmed
    drawing = _draw_repeated_inputs()  # in a child, on the other core meanwhile
    # What fails here fails again in the request, which reports it as in-process.
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    for module, function in (
        ("agents.cli", "warm_eval_command"),  # typer builds it on each call (~0.1 s)
        ("interpreter.core.jit", "warm_up"),  # every compiled kernel (jit.KERNELS)
        ("sandbox.backends", "probe_ahead"),  # a probe starts a sandbox (0.1-0.2 s)
    ):
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:
            pass
    if drawing is not None:
        _record_repeated_inputs(drawing)
    _spare_children_exit_work()
    _freeze_loaded()
    warmed = True


def _spare_children_exit_work() -> None:
    """Let the finalizers of what the server has loaded not run when a child exits (each
    child runs its exit functions, see `_evaluate_in_child`): they clear in-memory state
    that dies with the process anyway (torch's operator libraries: ~0.15 s per child)."""
    import weakref

    for finalizer in list(getattr(weakref.finalize, "_registry", ())):
        finalizer.atexit = False


def _freeze_loaded() -> None:
    """Put what the server has loaded (some 225,000 objects the collector tracks: torch, the
    interpreters, numba) out of the cyclic collector's reach (gc.freeze), so that the
    requests' children, forked from it, no longer walk them all, writing to the pages they
    share with the server, in each full collection their own allocations trigger: parsing
    one 741 KB IR took 0.14-0.15 s of CPU in such a child with them in reach and 0.02 s
    without. What is loaded lives as long as the server anyway; garbage is collected
    first, so none is kept."""
    import gc

    gc.collect()
    gc.freeze()


def _draw_repeated_inputs():
    """Start a child (`interpreter.verify.forked.Forked`) that works out which inputs each
    shipped task draws identically (`agent eval` warns of them, drawing a task's inputs
    twice: up to 0.1 s a call), for `_record_repeated_inputs`; None if it cannot start. A
    child: the generators are the suites' code, and none of it may run torch in the server
    (see WARM_MODULES). The server's fingerprint covers those files; a task file from
    elsewhere is drawn by its request."""
    try:
        from benchmarks import task as tasks
        from interpreter.verify.forked import Forked

        return Forked(tasks.suites_repeated_inputs)
    except Exception:  # no process to spare: each request draws its task's inputs
        return None


def _record_repeated_inputs(drawing) -> None:
    """Wait for `_draw_repeated_inputs`' child and keep its answer in
    benchmarks.task.REPEATED, for every request's child."""
    from benchmarks import task as tasks

    try:
        found = drawing.result(timeout_s=DRAW_TIMEOUT_S)
    except Exception:  # the child failed: each request draws its task's inputs
        return
    for path, mtime, size, names in found:
        tasks.REPEATED[path, mtime, size] = tuple(names)


def serve() -> None:
    """Run a server for this checkout until idle (see the module docstring); returns at once
    if another one holds the lock."""
    import fcntl

    where = address()
    if where is None:
        return
    lock = open(where + ".lock", "a+")  # held for the server's life; the kernel drops it
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server is starting or running
    lock.truncate(0)
    lock.write(str(os.getpid()))  # for `stop` while this one warms up
    lock.flush()
    taken = fingerprint(os.environ)  # before anything of the project is imported
    idle_s = float(os.environ.get(IDLE_ENV, IDLE_S))
    warm_up()
    # Listening only now: until then a client evaluates in-process, never waiting on this.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(where + ".sock")  # left by a server that was killed
    except FileNotFoundError:
        pass
    listener.bind(where + ".sock")
    listener.listen(16)
    server = _Server(where, lock, listener, taken)
    try:
        server.loop(idle_s)
    finally:
        server.close_listener()


if __name__ == "__main__":
    # Run as `python -m agents.eval_server`, this file is `__main__`, while the requests'
    # children read `warmed` from `agents.eval_server` (agents.cli): serve as that module,
    # or every request would evaluate as a cold process does.
    from agents import eval_server

    eval_server.serve()
