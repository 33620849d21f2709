from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agents.models import ModelError, get_model
from agents.models.scripted import ScriptedModel
from tests.memory.task_factory import make_task


def _script(tmp_path: Path, *entries: dict, raw: str = "") -> Path:
    path = tmp_path / "replies.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in entries) + raw)
    return path


def _ask(model, text: str = "write it"):
    return model.complete([{"role": "user", "content": text}], task=make_task())


def test_replays_in_order_with_accounting(tmp_path):
    path = _script(
        tmp_path,
        {"text": "first", "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.25},
        {"text": "second"},
    )
    model = get_model(f"scripted:{path}")
    first, second = _ask(model), _ask(model)
    assert (first.text, first.prompt_tokens, first.completion_tokens, first.cost_usd) == (
        "first",
        100,
        20,
        0.25,
    )
    assert second.text == "second" and second.tokens == 0
    assert first.model == f"scripted:{path}"
    assert model.prompts[0] == [{"role": "user", "content": "write it"}]


def test_match_picks_the_reply_for_the_prompt(tmp_path):
    path = _script(
        tmp_path,
        {"text": "repaired", "match": "What the verifier found"},
        {"text": "proposed"},
    )
    model = ScriptedModel(path)
    assert _ask(model, "write a kernel").text == "proposed"
    assert _ask(model, "## What the verifier found\nwrong").text == "repaired"
    assert model.remaining == 0


def test_error_entry_is_a_provider_failure(tmp_path):
    model = ScriptedModel(_script(tmp_path, {"error": "503 overloaded"}, {"text": "ok"}))
    with pytest.raises(ModelError, match=r"provider error \(scripted, line 1\): 503 overloaded"):
        _ask(model)
    assert _ask(model).text == "ok"


def test_exhausted_script_fails_loudly(tmp_path):
    model = ScriptedModel(_script(tmp_path, {"text": "only"}))
    _ask(model)
    with pytest.raises(ModelError, match="no reply left for call 2"):
        _ask(model)


def test_match_that_never_occurs_is_not_used(tmp_path):
    model = ScriptedModel(_script(tmp_path, {"text": "x", "match": "never said"}))
    with pytest.raises(ModelError, match="no reply left"):
        _ask(model, "something else")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", r"replies.jsonl:3: not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"text": "a", "error": "b"}', "exactly one of 'text' or 'error'"),
        ('{"reply": "a"}', "unknown keys \\['reply'\\]"),
        ('{"text": 3}', "'text' must be a string"),
        ('{"text": "a", "cost_usd": "lots"}', "must be numbers"),
    ],
)
def test_bad_script_lines_are_named(tmp_path, raw, reason):
    path = tmp_path / "replies.jsonl"
    path.write_text('{"text": "fine"}\n\n' + raw + "\n")
    with pytest.raises(ModelError, match=reason) as info:
        ScriptedModel(path)
    assert "\n" not in str(info.value)
    if "JSON object" not in reason:
        assert ":3" in str(info.value)  # the blank line counts


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        get_model(f"scripted:{tmp_path / 'nope.jsonl'}")


def test_parallel_callers_each_get_their_own_entry(tmp_path):
    path = _script(tmp_path, *({"text": f"r{i}"} for i in range(40)))
    model = ScriptedModel(path)
    got: list[str] = []
    lock = threading.Lock()

    def worker():
        for _ in range(5):
            text = _ask(model).text
            with lock:
                got.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"r{i}" for i in range(40))


def test_match_ignores_the_system_message(tmp_path):
    model = ScriptedModel(
        _script(tmp_path, {"text": "wrong", "match": "stream"}, {"text": "right"})
    )
    messages = [
        {"role": "system", "content": "reference: every stream is consumed once"},
        {"role": "user", "content": "write a kernel"},
    ]
    assert model.complete(messages).text == "right"
