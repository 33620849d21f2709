from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agents.models import ModelError, get_model
from agents.models.file_queue import QueueModel
from agents.prompts import extract_program
from tests.memory.task_factory import make_task

ROOT = Path(__file__).resolve().parents[3]


def _answerer(folder: Path, count: int, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.agents.models.queue_answerer",
            str(folder),
            str(count),
            *flags,
        ],
        cwd=ROOT,
    )


def test_another_process_answers_the_prompts(tmp_path):
    folder = tmp_path / "queue"
    model = get_model(f"queue:{folder}")
    assert isinstance(model, QueueModel)
    model.poll_s, model.settle_s = 0.05, 0.1
    answerer = _answerer(folder, 3)
    try:
        replies: dict[int, str] = {}

        def ask(i: int) -> None:
            task = make_task(f"task_{i}")
            messages = [
                {"role": "system", "content": "rules"},
                {"role": "user", "content": f"q{i}"},
            ]
            replies[i] = model.complete(messages, temperature=0.4, max_tokens=99, task=task).text

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        answerer.wait(timeout=30)
    for i in range(3):  # each caller got the answer to its own prompt
        assert f"Answer for step/task_{i}:" in replies[i]
        assert f"# q{i}\n" in extract_program(replies[i], "step")
    prompts = sorted(folder.glob("*.prompt.json"))
    assert len(prompts) == 3
    payload = json.loads(prompts[0].read_text())
    assert payload["messages"][0] == {"role": "system", "content": "rules"}
    assert (payload["temperature"], payload["max_tokens"], payload["dialect"]) == (0.4, 99, "step")
    assert not list(folder.glob("*.partial"))
    readable = prompts[0].with_name(prompts[0].name.replace(".json", ".md")).read_text()
    assert readable.startswith(f"# Prompt {payload['id']} (task {payload['task']})")
    assert "## system\n\nrules\n" in readable and payload["reply_to"][0] in readable


def test_reply_written_in_pieces_is_read_whole(tmp_path):
    folder = tmp_path / "queue"
    model = QueueModel(folder, timeout_s=30, poll_s=0.1, settle_s=1.5)
    answerer = _answerer(folder, 1, "--slow-writer")
    try:
        text = model.complete([{"role": "user", "content": "q"}], task=make_task()).text
    finally:
        answerer.wait(timeout=30)
    assert text.endswith("return x\n```\n")


def test_no_reply_times_out_and_expires_the_prompt(tmp_path):
    model = QueueModel(tmp_path, timeout_s=0.3, poll_s=0.05)
    with pytest.raises(ModelError, match=r"no reply to .*\.prompt\.json within 0\.3 s"):
        model.complete([{"role": "user", "content": "q"}], task=make_task())
    assert not list(tmp_path.glob("*.prompt.*"))
    assert len(list(tmp_path.glob("*.expired.json"))) == 1


def test_bad_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_QUEUE_TIMEOUT", "soon")
    with pytest.raises(ModelError, match="AGENT_QUEUE_TIMEOUT must be seconds"):
        QueueModel(tmp_path)
    with pytest.raises(ModelError, match="needs a folder"):
        get_model("queue:")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ModelError, match="cannot create"):
        QueueModel(blocker / "sub", timeout_s=1)


def test_tokens_are_estimated_from_the_text_and_said_to_be(tmp_path):
    folder = tmp_path / "queue"
    model = QueueModel(folder, timeout_s=30, poll_s=0.02, settle_s=0.05)
    reply_text = "x" * 9  # 9 characters: 3 tokens at 4 characters a token, rounded up

    def answer() -> None:
        while not (prompts := list(folder.glob("*.prompt.json"))):
            threading.Event().wait(0.02)
        (prompt,) = prompts
        reply = prompt.with_name(prompt.name.replace(".prompt.json", ".reply.md"))
        reply.write_text(reply_text)

    answerer = threading.Thread(target=answer)
    answerer.start()
    messages = [{"role": "system", "content": "a" * 40}, {"role": "user", "content": "b" * 5}]
    reply = model.complete(messages)
    answerer.join()
    assert reply.text == reply_text
    assert (reply.prompt_tokens, reply.completion_tokens) == (10 + 2, 3)
    assert reply.tokens_estimated
