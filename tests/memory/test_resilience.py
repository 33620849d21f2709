"""The store under faults: a lock held by another process, a file cut short or overwritten,
a replayed run, a store from before the uniqueness rule, a full disk."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memory import ExperienceStore, StoreDamaged, StoreError, StoreFull, StoreLocked
from memory.schema import MIGRATIONS, SCHEMA, program_hash
from memory.transfer import export_store, import_records
from tests.memory.task_factory import make_task

# Holds the store's write lock for argv[2] seconds, as a long write of another run would.
HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def record(store: ExperienceStore, i: int, **extra) -> int:
    body = f"return x  # attempt {i}" + " " * 200
    return store.record_attempt(
        task=make_task(f"task_{i % 5}"),
        program=f"from dsl import step\n\n\ndef kernel(x):\n    {body}\n",
        model="m",
        prompt_hash="h",
        verdict={"status": "passed", "correct": True, "cycles": 100 + i},
        **{"run_id": "run", "round": i, **extra},
    )


def filled_store(path: Path, attempts: int = 200) -> Path:
    store = ExperienceStore(path)
    for i in range(attempts):
        record(store, i)
    store.close()  # the last connection checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE
    )
    assert holder.stdout.readline().strip() == b"locked"
    return holder


def test_a_lock_held_longer_than_the_busy_timeout_delays_a_write(tmp_path) -> None:
    store = ExperienceStore(tmp_path / "m.sqlite", busy_timeout=0.1, patience=60)
    holder = hold_lock(store.path, 1.5)  # 15 busy timeouts
    started = time.monotonic()
    attempt_id = record(store, 1)
    assert time.monotonic() - started > 1.0  # it waited for the lock instead of failing
    assert holder.wait() == 0
    assert store.get(attempt_id).cycles == 101


def test_a_lock_held_past_patience_is_one_line(tmp_path) -> None:
    store = ExperienceStore(tmp_path / "m.sqlite", busy_timeout=0.1, patience=0.5)
    holder = hold_lock(store.path, 5)
    try:
        with pytest.raises(StoreLocked) as caught:
            record(store, 1)
    finally:
        holder.kill()
        holder.wait()
    message = str(caught.value)
    assert "\n" not in message and str(store.path) in message and "another process" in message
    assert record(store, 2) > 0  # the store is fine once the holder is gone


def _assert_damage_message(error: StoreError, path: Path) -> None:
    message = str(error)
    assert "\n" not in message and f"{path} is damaged" in message
    assert f"agent memory export rescued.jsonl --memory {path}" in message
    assert "agent memory import" in message


def test_a_store_cut_short_by_100_bytes_is_reported(tmp_path) -> None:
    path = filled_store(tmp_path / "m.sqlite")
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - 100)
    with pytest.raises(StoreDamaged) as caught:
        ExperienceStore(path)
    _assert_damage_message(caught.value, path)
    assert "cut short: 100 bytes missing" in str(caught.value)


def _garble_pages(path: Path, pages: list[int]) -> None:
    noise = random.Random(7)
    with open(path, "r+b") as file:
        for page in pages:
            file.seek(page * 4096)
            file.write(noise.randbytes(4096))


def test_garbage_pages_are_reported_and_the_rest_recovered(tmp_path) -> None:
    path = filled_store(tmp_path / "m.sqlite")
    pages = path.stat().st_size // 4096
    _garble_pages(path, [pages // 3, pages // 2, pages - 1])
    with pytest.raises(StoreDamaged) as caught:
        ExperienceStore(path)
    _assert_damage_message(caught.value, path)

    exported = export_store(path, tmp_path / "rescued.jsonl")
    assert exported.damaged_stretches > 0
    assert 150 < exported.attempts < 200  # three pages hold a few attempts each
    fresh = ExperienceStore(tmp_path / "fresh.sqlite")
    imported = import_records(tmp_path / "rescued.jsonl", fresh)
    assert imported.attempts + imported.unusable == exported.attempts
    rows = fresh.attempts()
    assert len(rows) == imported.attempts and all(a.cycles == 100 + a.round for a in rows)
    again = import_records(tmp_path / "rescued.jsonl", fresh)  # importing twice adds nothing
    assert (again.attempts, again.duplicates) == (0, imported.attempts)
    assert fresh.best("step/task_0").cycles == 100


def test_export_reads_around_any_damage(tmp_path) -> None:
    """Garbage on random pages (the header page aside), a few at a time: export never fails,
    never invents a row, and what it brings out imports as valid attempts."""
    pristine = filled_store(tmp_path / "pristine.sqlite")
    pages = pristine.stat().st_size // 4096
    for seed in range(12):
        path = tmp_path / f"damaged{seed}.sqlite"
        path.write_bytes(pristine.read_bytes())
        choice = random.Random(seed)
        _garble_pages(path, choice.sample(range(1, pages), choice.randint(1, 4)))
        exported = export_store(path, tmp_path / f"rescued{seed}.jsonl")
        assert exported.attempts <= 200
        fresh = ExperienceStore(tmp_path / f"fresh{seed}.sqlite")
        import_records(tmp_path / f"rescued{seed}.jsonl", fresh)
        assert all(a.cycles == 100 + a.round and a.verified for a in fresh.attempts())


def test_export_and_import_keep_lineage_and_best(tmp_path) -> None:
    store = ExperienceStore(tmp_path / "m.sqlite")
    first = record(store, 7)
    child = record(store, 3, parent_id=first)
    export_store(store.path, tmp_path / "out.jsonl")
    fresh = ExperienceStore(tmp_path / "fresh.sqlite")
    fresh_first = record(fresh, 1)  # the new store has its own numbering already
    assert import_records(tmp_path / "out.jsonl", fresh).attempts == 2
    copied = {a.round: a for a in fresh.attempts() if a.id != fresh_first}
    assert copied[3].parent_id == copied[7].id and copied[3].id != child
    assert [a.round for a in fresh.lineage(copied[3].id)] == [7, 3]
    assert fresh.best("step/task_3").cycles == 103


def test_a_replayed_attempt_is_stored_once(tmp_path) -> None:
    store = ExperienceStore(tmp_path / "m.sqlite")
    first = record(store, 1)
    assert record(store, 1) == first  # same run, task, program and round: the same row
    assert record(store, 1, round=2) != first  # the same program in a later round is new
    assert record(store, 1, run_id="another") != first
    outside = [record(store, 1, run_id="") for _ in range(2)]  # outside any run: all kept
    assert outside[0] != outside[1]
    failed_calls = [  # no program (the model call failed): each one is kept, with its cost
        store.record_attempt(
            task=make_task("task_1"),
            program="",
            model="m",
            prompt_hash="h",
            verdict={"status": "error", "correct": False, "feedback": "no program: 503"},
            run_id="run",
            round=1,
            cost_usd=0.5,
        )
        for _ in range(2)
    ]
    assert failed_calls[0] != failed_calls[1]
    assert len(store.attempts()) == 7 and store.stats()["cost_usd"] == 1.0


def test_a_store_from_before_the_rule_is_migrated(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # version 0: no program_hash, no round
        conn.executescript(SCHEMA)
        conn.execute(
            "INSERT INTO tasks VALUES ('step/old', 'step', 'old', 'an old task', 'exp', 1.0)"
        )
        for _ in range(2):  # a duplicate from before the rule: both rows stay
            conn.execute(
                "INSERT INTO attempts (task_key, program, program_ops, model, prompt_hash,"
                " status, correct, cycles, metrics, feedback, bottleneck, tokens, cost_usd,"
                " seconds, parent_id, run_id, created) VALUES ('step/old', 'program text', '',"
                " 'm', 'h', 'passed', 1, 9, '{}', '', '', 0, 0, 0, NULL, 'r', 2.0)"
            )
    store = ExperienceStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        hashes = conn.execute("SELECT program_hash, round FROM attempts").fetchall()
    assert hashes == [(program_hash("program text"), None)] * 2
    assert [a.cycles for a in store.attempts()] == [9, 9]
    assert record(store, 1) == record(store, 1)  # the rule holds for new attempts


def test_reopening_a_migrated_store_changes_nothing(tmp_path) -> None:
    path = filled_store(tmp_path / "m.sqlite", attempts=3)
    ExperienceStore(path)
    assert len(ExperienceStore(path).attempts()) == 3


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs (needs root and mount; skipped with the reason otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def test_a_full_disk_is_one_line_naming_the_file(small_disk: Path) -> None:
    store = ExperienceStore(small_disk / "m.sqlite")
    with pytest.raises(StoreFull) as caught:
        for i in range(10_000):
            record(store, i)
    message = str(caught.value)
    assert "\n" not in message and str(store.path) in message and "disk is full" in message
    store.close()


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError) as caught:
        ExperienceStore(tmp_path / "file" / "m.sqlite")
    assert "\n" not in str(caught.value) and "file" in str(caught.value)


@pytest.mark.slow
def test_the_command_line_exports_and_imports(tmp_path) -> None:
    path = filled_store(tmp_path / "m.sqlite", attempts=20)
    _garble_pages(path, [path.stat().st_size // 4096 - 1])
    agent = [os.path.join(os.path.dirname(sys.executable), "agent"), "memory"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*agent, *args], capture_output=True, text=True, check=False)

    stats = run("stats", "--memory", str(path))
    assert stats.returncode == 1 and "is damaged" in stats.stderr  # a set-up fault, not usage
    assert len(stats.stderr.strip().splitlines()) == 1
    exported = run("export", str(tmp_path / "r.jsonl"), "--memory", str(path))
    assert exported.returncode == 0 and "attempts of" in exported.stdout, exported.stderr
    fresh = tmp_path / "fresh.sqlite"
    imported = run("import", str(tmp_path / "r.jsonl"), "--memory", str(fresh))
    assert imported.returncode == 0 and imported.stdout.startswith("imported "), imported.stderr
    assert 0 < len(ExperienceStore(fresh).attempts()) <= 20


def test_a_file_in_the_way_of_the_store_folder_is_named(tmp_path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(StoreError, match=r"cannot make its folder, .*afile is a file$"):
        ExperienceStore(tmp_path / "afile" / "deeper" / "m.sqlite")
