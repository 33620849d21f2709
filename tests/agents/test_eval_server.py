"""The warm eval server (agents.eval_server): what `agent eval` prints and exits with through it
is what an in-process run prints; a changed project is refused; a client that goes away takes
its evaluation with it; the client imports the standard library only.

Every server here lives in a private folder of the test's (XDG_RUNTIME_DIR) and is stopped,
or killed, when its test ends; none waits on the default idle timeout. Each serves a copy of the
project's packages (`project`), so that an edit in the checkout meanwhile is no refusal."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agents import eval_server, launch
from benchmarks import task as tasks
from sandbox.backends import _process_tree, stat_field
from sandbox.leftovers import RUN_PREFIX, owner_tag
from tests.benchmarks.test_task import FIXED, write_suite
from tests.benchmarks.test_task import GOOD as GOOD_TASK
from tests.interpreter.test_verifier import GOOD

REFERENCE = 'reference = "references:scale"'
FIXED_GENERATOR = '\ngenerator = "fixed:fixed"'


@pytest.fixture(scope="module")
def project():
    """A copy of the project's packages, taken as the module starts, which the servers here
    serve and the in-process runs they are compared with run (eval_server.ROOT points there
    meanwhile): a server refuses every request once a file of its checkout has changed (see
    `fingerprint`), and work in a shared checkout goes on while these tests run (each file
    saved by another edit mid-module failed the server's tests from then on). Times and
    sizes are kept, so Python's and numba's caches beside the sources stay valid."""
    folder = Path(tempfile.mkdtemp(prefix="evproject"))
    try:
        for package in eval_server.PACKAGES:
            source = Path(eval_server.ROOT) / package
            shutil.copytree(source, folder / package, symlinks=True, copy_function=_copy_present)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(eval_server, "ROOT", str(folder))
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_present(source: str, target: str) -> None:
    """shutil.copy2, skipping a file removed since its folder was listed (an editor's
    temporary file)."""
    try:
        shutil.copy2(source, target)
    except FileNotFoundError:
        pass


@pytest.fixture
def cli(project, monkeypatch) -> str:
    """argv[0] of `python -m agents.cli` run in the project's copy, which becomes the test's
    working folder: an in-process run (`_in_process`) and a served one start alike."""
    monkeypatch.chdir(project)
    return str(project / "agents" / "cli.py")


def _in_process(args: list[str]) -> subprocess.CompletedProcess:
    """`agent ARGS` run in a process of its own, from the working folder (see `cli`)."""
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args], capture_output=True, timeout=300
    )


@pytest.fixture(scope="module")
def runtime():
    """A private runtime folder short enough for a socket's path; removed afterwards."""
    folder = tempfile.mkdtemp(prefix="ev")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", folder)
        yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server(runtime, project):
    """A real server, warmed up as `agent eval` starts it: its pid. Stopping it at the end
    must work."""
    running = subprocess.Popen(
        [sys.executable, "-m", "agents.eval_server"],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        assert eval_server.ping(180) == running.pid
        yield running.pid
        assert eval_server.stop()
        running.wait(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()


@pytest.fixture
def light_server(project, monkeypatch):
    """Start a server that loads nothing (forked from this process, so fast), in a runtime
    folder of its own, with the environment of the moment: `start(idle=None)` returns its
    pid; all are gone at the end."""
    folder = tempfile.mkdtemp(prefix="ev")
    monkeypatch.setenv("XDG_RUNTIME_DIR", folder)
    started = []

    def start(idle: str | None = None, warming_s: float = 0.0) -> int:
        if idle is not None:
            monkeypatch.setenv(eval_server.IDLE_ENV, idle)
        pid = os.fork()
        if pid == 0:
            eval_server.warm_up = lambda: time.sleep(warming_s)
            code = 1
            try:
                eval_server.serve()
                code = 0
            finally:
                os._exit(code)
        started.append(pid)
        if not warming_s:
            assert eval_server.ping(30) == pid
        return pid

    yield start
    for pid in started:
        try:
            if _wait(pid, 0) is None:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        except ChildProcessError:  # the test waited for it
            pass
    shutil.rmtree(folder, ignore_errors=True)


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit status once it ends within `timeout` s, else None."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _standby() -> int | None:
    """The pid of the server's standby child (see eval_server._Server), None if none waits."""
    sock = eval_server._connect(10)
    assert sock is not None
    with sock:
        eval_server._send(sock, {"ping": True})
        return eval_server._reply(sock)["standby"]


def _evaluating(server: int) -> list[int]:
    """The server's children that evaluate a request (its standby aside)."""
    children = _children(server)  # before asking: a standby forked meanwhile is not listed
    return [pid for pid in children if pid != _standby()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _gone(pid: int) -> bool:
    return stat_field(pid, 0) in (None, "Z", "X")


def _until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def programs(tmp_path) -> dict[str, Path]:
    good, invalid = tmp_path / "good.py", tmp_path / "invalid.py"
    good.write_text(GOOD)
    invalid.write_text(GOOD.replace("(128, 64)", "(64, 128)"))
    return {"good": good, "invalid": invalid, "missing": tmp_path / "missing.py"}


@pytest.mark.parametrize(
    "case, extra, code",
    [("good", [], 0), ("invalid", ["--seed", "7"], 1), ("missing", [], 2)],
)
def test_output_and_exit_code_are_those_of_an_in_process_run(
    server, cli, programs, capfd, case, extra, code
) -> None:
    args = ["eval", "step/gemm", str(programs[case]), *extra]
    in_process = _in_process(args)
    assert in_process.returncode == code, in_process.stderr
    capfd.readouterr()
    served_code = eval_server.evaluate([cli, *args])
    assert served_code is not None, "refused: did a file of the project change meanwhile?"
    assert served_code == code
    served = capfd.readouterr()
    assert in_process.stdout or in_process.stderr
    assert served.out.encode() == in_process.stdout
    assert served.err.encode() == in_process.stderr


def test_a_task_drawing_an_input_identically_is_warned_about_as_in_process(
    server, cli, tmp_path, capfd
) -> None:
    """A task outside the shipped suites, which the server has not drawn (see
    `_draw_repeated_inputs`): the child draws it, and says so as an in-process run does."""
    task = write_suite(tmp_path, GOOD_TASK.replace(REFERENCE, REFERENCE + FIXED_GENERATOR))
    (task.parent / "fixed.py").write_text(FIXED)
    args = ["eval", str(task), str(tmp_path / "missing.py")]
    in_process = _in_process(args)
    assert b"inputs x are identical in every check" in in_process.stderr
    capfd.readouterr()
    assert eval_server.evaluate([cli, *args]) == in_process.returncode == 2
    assert capfd.readouterr().err.encode() == in_process.stderr


def test_the_shipped_tasks_repeated_inputs_are_learnt_before_forking(monkeypatch) -> None:
    monkeypatch.setattr(tasks, "REPEATED", {})
    eval_server._record_repeated_inputs(eval_server._draw_repeated_inputs())
    learnt = {path: names for (path, _, _), names in tasks.REPEATED.items()}
    shipped = sorted(tasks.SUITES_DIR.glob("*/*.toml"))
    assert sorted(learnt) == [str(path) for path in shipped]
    sample = [tasks.load_task(key) for key in ("dae/eb_multi_table", "sam/spmv", "step/gemm")]
    for task in sample:
        assert learnt[str(task.path)] == tuple(task.repeated_inputs()), task.key

    def drawn(task) -> None:
        raise AssertionError(f"{task.key} drawn again")

    monkeypatch.setattr(tasks.Task, "repeated_inputs", drawn)
    for task in sample:
        tasks.warn_repeated_inputs(task)


def test_a_child_runs_its_exit_work_not_the_servers(tmp_path) -> None:
    """A child runs the exit functions of its request (a sandbox's folder), not the
    finalizers of what the server loaded (`_spare_children_exit_work`)."""
    code = (
        "import weakref; from agents import eval_server\n"
        "class Thing: pass\n"
        "loaded, request = Thing(), Thing()\n"
        f"weakref.finalize(loaded, open, {str(tmp_path / 'loaded')!r}, 'w')\n"
        "eval_server._spare_children_exit_work()\n"
        f"weakref.finalize(request, open, {str(tmp_path / 'request')!r}, 'w')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=eval_server.ROOT, check=True, timeout=60)
    assert (tmp_path / "request").exists() and not (tmp_path / "loaded").exists()


def test_run_as_a_module_it_serves_as_the_module_its_children_read(tmp_path) -> None:
    """`python -m agents.eval_server` runs the file as `__main__`, while agents.cli, in each
    request's child, reads `warmed` from `agents.eval_server`: the server must run as that
    module, or `warmed` stays False there and every request evaluates as a cold process does
    (the baseline timed after the program, no simulation aside). Outside a private runtime
    folder a server returns at once, so a `__main__` serving itself prints nothing."""
    (tmp_path / "agent-eval").mkdir(mode=0o755)
    (tmp_path / "agent-eval").chmod(0o755)
    code = (
        "import runpy; from agents import eval_server\n"
        "eval_server.serve = lambda: print('served by', eval_server.__name__)\n"
        "runpy.run_module('agents.eval_server', run_name='__main__')\n"
    )
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=eval_server.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "served by agents.eval_server", done.stdout + done.stderr


def test_what_the_server_loaded_is_out_of_the_collectors_reach() -> None:
    """`_freeze_loaded` puts every object loaded so far in the permanent generation, which
    no collection walks (`gc.get_objects` lists what collections walk): a request's child,
    forked afterwards, walks only its own objects. A garbage cycle is collected first, not
    kept for the server's life."""
    code = (
        "import gc, weakref; from agents import eval_server\n"
        "class Node: pass\n"
        "loaded = [[i] for i in range(100_000)]\n"
        "cycle = Node(); cycle.me = cycle; gone = weakref.ref(cycle); del cycle\n"
        "eval_server._freeze_loaded()\n"
        "print(gone() is None, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=eval_server.ROOT, capture_output=True, timeout=60
    )
    collected, frozen, walked = done.stdout.split()
    assert collected == b"True" and int(frozen) > 100_000, done.stdout + done.stderr
    assert int(walked) < 1_000, done.stdout


def test_a_child_keeps_freed_arrays_in_its_heap() -> None:
    """With MALLOC_OPTIONS, arrays allocated again after they were freed fault no page in
    (by default, growing arrays are each mapped afresh, then the heap grows to hold them:
    ~2000 faults for these; a fresh child spent 0.3-0.4 s of system time so)."""
    if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
        pytest.skip("not glibc")
    code = (
        "import resource, numpy as np; from agents import eval_server\n"
        "eval_server._keep_freed_memory()\n"
        "def arrays():\n"
        "    for mib in (1, 2, 4, 8, 16): np.ones(mib << 18, dtype=np.float32)\n"
        "arrays()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "arrays()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=eval_server.ROOT, capture_output=True, timeout=60
    )
    assert int(done.stdout) < 500, done.stdout + done.stderr


def test_a_changed_start_up_environment_is_refused(light_server, cli, monkeypatch) -> None:
    pid = light_server()
    monkeypatch.setenv("PYTHONFAULTHANDLER", "1")  # read once at start-up: another server
    assert eval_server.evaluate([cli, "eval", "--help"]) is None
    assert _wait(pid, 10) == 0  # the stale server left, and took its socket along
    assert not Path(eval_server.address() + ".sock").exists()


def test_a_changed_project_is_refused(light_server, cli, monkeypatch) -> None:
    pid = light_server()
    monkeypatch.setattr(eval_server, "fingerprint", lambda env: "edited since")
    assert eval_server.evaluate([cli, "eval", "--help"]) is None
    assert _wait(pid, 10) == 0


def test_a_client_that_goes_away_takes_its_evaluation_along(server, cli, tmp_path) -> None:
    program = tmp_path / "slow.py"
    program.write_text("while True:\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != eval_server.SWITCH_ENV}
    client = subprocess.Popen(
        [sys.executable, "-m", "agents.launch", "eval", "step/gemm", str(program)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert _until(lambda: _evaluating(server), 60), "the server never started the evaluation"
    client.send_signal(signal.SIGINT)
    client.wait(timeout=30)
    # well before the sandbox's own time limit
    assert _until(lambda: not _evaluating(server), 5)
    assert eval_server.ping(5) == server  # and the server goes on serving


def test_the_standby_evaluates_the_next_request_and_another_follows(
    server, cli, programs, capfd
) -> None:
    """The standby waits with its sandbox started (a bwrap or python process of its own);
    the next request is evaluated by it, as a freshly forked child would (the outputs:
    test_output_and_exit_code_are_those_of_an_in_process_run), and the next standby is
    forked once that evaluation ended."""
    assert _until(lambda: _standby() is not None)
    standby = _standby()
    assert _until(lambda: _process_tree(standby)), "no sandbox started ahead"
    assert eval_server.evaluate([cli, "eval", "step/gemm", str(programs["good"])]) == 0
    assert "passed" in capfd.readouterr().out
    assert _gone(standby) and standby not in _children(server)
    assert _until(lambda: _standby() not in (None, standby))


def test_a_standby_that_died_leaves_the_request_to_a_child_forked_for_it(light_server, cli) -> None:
    """A standby that dies waiting (killed from outside) is not replaced until an
    evaluation ends (a standby failing at once would be forked again and again); the
    request meanwhile gets a child of its own."""
    server = light_server()
    assert _until(lambda: _standby() is not None)
    os.kill(_standby(), signal.SIGKILL)
    assert _until(lambda: _standby() is None)
    time.sleep(0.2)
    assert _standby() is None
    assert eval_server.evaluate([cli, "eval", "--help"]) == 0
    assert _until(lambda: _standby() is not None)
    assert eval_server.ping(5) == server


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_the_standby_and_its_sandbox_end_with_the_server(light_server, how) -> None:
    """Stopped, the server waits for its standby to stop its sandbox and leave; killed, the
    standby sees its end of the pair close and leaves all the same."""
    server = light_server()
    assert _until(lambda: _standby() is not None)
    standby = _standby()
    folders = f"{RUN_PREFIX}{owner_tag(standby)}-*"  # its sandbox's (sandbox.leftovers)

    def folder() -> list[Path]:
        return list(Path(tempfile.gettempdir()).glob(folders))

    def harness() -> bool:  # the sandbox's python has started, inside whatever isolates it
        return any(b"sandbox.harness" in _cmdline(pid) for pid in _process_tree(standby))

    assert _until(lambda: folder() and harness()), "no sandbox started ahead"
    tree = [standby, *_process_tree(standby)]
    if how == "stop":
        assert eval_server.stop()
        assert _wait(server, 30) == 0
    else:
        os.kill(server, signal.SIGKILL)
        assert os.WTERMSIG(_wait(server, 30)) == signal.SIGKILL
    assert _until(lambda: all(_gone(pid) for pid in tree), 30), [
        pid for pid in tree if not _gone(pid)
    ]
    assert not folder()


def test_stop_and_idle_exit(light_server) -> None:
    pid = light_server()
    assert eval_server.stop() is True
    assert _wait(pid, 10) == 0
    assert eval_server.stop() is False
    pid = light_server(idle="0.3")
    assert _wait(pid, 10) == 0  # left by itself after 0.3 s idle
    pid = light_server(warming_s=60)
    deadline = time.monotonic() + 10
    lock = Path(eval_server.address() + ".lock")
    while lock.read_text() != str(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert eval_server.stop() is True  # still warming up, not listening: ended all the same
    assert os.WTERMSIG(_wait(pid, 10)) == signal.SIGTERM


def test_a_folder_others_may_enter_is_not_used(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "agent-eval").mkdir(mode=0o755)
    (tmp_path / "agent-eval").chmod(0o755)
    assert eval_server.address() is None
    assert eval_server.evaluate([cli, "eval", "--help"]) is None


@pytest.mark.parametrize(
    "stats, idle",
    [
        ("0.42 0.30 0.21 1/312 4242\n", True),  # this process alone runs
        ("1.10 0.90 0.61 2/312 4242\n", False),  # another one too: both cores taken
        ("7.9 7.5 6.8 9/400 4242\n", False),
        ("garbled\n", True),  # unreadable: as where there is no such file
        (None, True),
    ],
)
def test_a_core_is_idle_when_this_process_alone_runs(tmp_path, monkeypatch, stats, idle):
    loadavg = tmp_path / "loadavg"
    if stats is not None:
        loadavg.write_text(stats)
    monkeypatch.setattr(eval_server, "LOADAVG", str(loadavg))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert eval_server.core_idle() is idle


def test_the_peer_uid_is_read_from_the_socket() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        assert eval_server._peer_uid(ours) == os.getuid()


def test_switches_and_the_eval_command_are_recognised(monkeypatch) -> None:
    monkeypatch.delenv(eval_server.SWITCH_ENV, raising=False)  # tests/conftest.py sets it
    assert launch._is_eval(["agent", "--debug", "eval", "t", "p"])
    assert not launch._is_eval(["agent", "tasks", "eval"])
    assert eval_server.enabled(["agent", "eval", "t", "p"])
    assert not eval_server.enabled(["agent", "eval", "t", "p", "--no-server"])
    assert not eval_server.enabled(["agent", "eval", "--stop-server"])
    monkeypatch.setenv(eval_server.SWITCH_ENV, "0")
    assert not eval_server.enabled(["agent", "eval", "t", "p"])


def test_the_fingerprint_follows_files_and_start_up_variables(monkeypatch, tmp_path) -> None:
    env = {"HOME": "/x", "LANG": "C.UTF-8"}
    assert eval_server.fingerprint(env) == eval_server.fingerprint(env | {"HOME": "/y"})
    assert eval_server.fingerprint(env) != eval_server.fingerprint(env | {"LANG": "C"})
    monkeypatch.setattr(eval_server, "ROOT", str(tmp_path))
    monkeypatch.setattr(eval_server, "PACKAGES", ("pkg",))
    module = tmp_path / "pkg" / "sub" / "module.py"
    module.parent.mkdir(parents=True)
    module.write_text("x = 1\n")
    seen = {eval_server.fingerprint(env)}
    module.write_text("x = 22\n")  # another size
    seen.add(eval_server.fingerprint(env))
    os.utime(module, ns=(0, 12345))  # same size, another time
    seen.add(eval_server.fingerprint(env))
    assert len(seen) == 3


def test_the_client_imports_the_standard_library_only(tmp_path) -> None:
    code = (
        "import sys; before = set(sys.modules); from agents import launch, eval_server;"
        " eval_server.fingerprint({}); eval_server.evaluate(['agent', 'eval']);"
        " print(sorted({m.split('.')[0] for m in set(sys.modules) - before}"
        " - set(sys.stdlib_module_names)))"
    )
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))  # no server there
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.stdout.strip() == "['agents']", done.stdout + done.stderr
