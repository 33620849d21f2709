"""`agent mcp`: the SDK's own client starts the server over stdio and drives every tool;
the tools' guards (task names, program size, recall's arguments) are checked directly."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from agents.mcp_server import MAX_PROGRAM_CHARS, Toolbox, ToolError, reference_entries
from benchmarks.task import load_task
from memory.store import ExperienceStore
from tests.agents.gemm_programs import gemm_program

TOOLS = {
    "list_tasks",
    "show_task",
    "show_reference",
    "eval_program",
    "simulate",
    "tune",
    "recall",
}

# gemm with the matmul on 4 compute units: faster than the baseline's single unit.
FAST_GEMM = gemm_program(compute=4)
# The same, but every output doubled: well-formed, so only the reference comparison fails.
DOUBLED_GEMM = gemm_program(compute=4, scale=2.0)
# Floods its own stdout while building: the sandbox must keep it off the protocol's wire.
CHATTY_GEMM = "print('{not json' * 5000)\n" + FAST_GEMM


@pytest.fixture
def store(tmp_path) -> Path:
    """A store with one verified gemm program (1234 cycles) and one failed attempt."""
    path = tmp_path / "memory.sqlite"
    gemm = load_task("step/gemm")
    with_store = ExperienceStore(path)
    passed = {"status": "passed", "correct": True, "cycles": 1234, "feedback": "ok"}
    with_store.record_attempt(
        task=gemm, program=FAST_GEMM, model="scripted", prompt_hash="p", verdict=passed
    )
    failed = {"status": "incorrect", "correct": False, "cycles": None, "feedback": "wrong"}
    with_store.record_attempt(
        task=gemm, program=DOUBLED_GEMM, model="scripted", prompt_hash="q", verdict=failed
    )
    with_store.close()
    return path


def session(memory: Path, work) -> None:
    """Start `agent mcp` as a subprocess and run `work(client)` in one initialized session."""

    async def main() -> None:
        server = StdioServerParameters(
            command=sys.executable, args=["-m", "agents.cli", "mcp", "--memory", str(memory)]
        )
        async with stdio_client(server) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            await work(client)

    anyio.run(main)


def test_tools_schemas_reference_recall_and_errors_over_stdio(store):
    async def work(client: ClientSession) -> None:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(listed) == TOOLS
        evaluate = listed["eval_program"]
        assert evaluate.input_schema["required"] == ["task", "program_text"]
        out = evaluate.output_schema["properties"]
        for field in ("status", "cycles", "floor_cycles", "speedup", "feedback", "resources"):
            assert field in out
        assert listed["list_tasks"].input_schema["properties"]["suite"]["enum"] == [
            "step",
            "sam",
            "dae",
        ]
        assert "timeline" in listed["simulate"].output_schema["properties"]

        bad = await client.call_tool("show_task", {"task": "step/no_such_task"})
        assert bad.is_error
        (message,) = bad.content
        assert "no task 'no_such_task'" in message.text and "\n" not in message.text

        # The session is still usable after the error.
        task = (await client.call_tool("show_task", {"task": "step/gemm"})).structured_content
        assert task["dialect"] == "step" and task["dims"] == {"M": None, "K": 128, "N": 64}
        assert [i["name"] for i in task["inputs"]] == ["a", "b"]
        assert task["budget"]["compute_units"] == 1040

        suite = await client.call_tool("list_tasks", {"suite": "../etc"})
        assert suite.is_error and "no suite '../etc'" in suite.content[0].text

        ref = await client.call_tool("show_reference", {"dialect": "step", "op": "bufferize"})
        text = ref.structured_content["text"]
        assert text.startswith("**`bufferize(x, rank)`**") and "streamify" not in text
        assert "map" in ref.structured_content["ops"]
        whole = await client.call_tool("show_reference", {"dialect": "dae"})
        assert whole.structured_content["text"].startswith("# DAE dialect reference")

        recalled = await client.call_tool("recall", {"task": "step/gemm"})
        (example,) = recalled.structured_content["examples"]  # the failed attempt is not one
        assert example["task"] == "step/gemm" and example["cycles"] == 1234
        assert example["program"] == FAST_GEMM

        tuned = await client.call_tool("tune", {"task": "step/gemm", "program_text": FAST_GEMM})
        assert tuned.is_error and "declares no tunable parameters" in tuned.content[0].text

    session(store, work)


@pytest.mark.slow  # four verifications (the baseline's included) in a fresh server
def test_eval_and_simulate_a_correct_and_a_wrong_program_over_stdio(store):
    async def work(client: ClientSession) -> None:
        good = await client.call_tool(
            "eval_program", {"task": "step/gemm", "program_text": FAST_GEMM}
        )
        verdict = good.structured_content
        assert verdict["status"] == "passed", verdict["feedback"]
        assert verdict["floor_cycles"] <= verdict["cycles"]
        assert verdict["baseline_cycles"] > verdict["cycles"]  # 4 units against the baseline's 1
        assert verdict["speedup"] == round(verdict["baseline_cycles"] / verdict["cycles"], 4)
        used = {r["resource"]: (r["used"], r["budget"]) for r in verdict["resources"]}
        assert used["compute_units"] == (4, 1040)

        wrong = await client.call_tool(
            "eval_program", {"task": "step/gemm", "program_text": DOUBLED_GEMM}
        )
        assert not wrong.is_error  # a wrong program is a verdict, not a tool error
        verdict = wrong.structured_content
        assert verdict["status"] == "incorrect" and verdict["cycles"] is None
        assert verdict["speedup"] is None and "output 'c'" in verdict["feedback"]

        # Same session, same secret timed input: the chatty copy times exactly alike.
        sim = await client.call_tool("simulate", {"task": "step/gemm", "program_text": CHATTY_GEMM})
        detail = sim.structured_content
        assert (
            detail["status"] == "passed" and detail["cycles"] == good.structured_content["cycles"]
        )
        busy = [op for op in detail["per_op"] if op.startswith("map ")]
        assert busy and detail["timeline_total"] == len(detail["timeline"]) > 0
        assert all(0 <= e["start"] <= e["end"] <= detail["cycles"] for e in detail["timeline"])

    session(store, work)


def test_task_names_are_suite_and_name_only(tmp_path):
    box = Toolbox(memory=tmp_path / "absent.sqlite")
    for ref in ("gemm", "/etc/passwd.toml", "step/../../x", "tests/x/y", "step/.hidden", "x/gemm"):
        with pytest.raises(ToolError) as caught:
            box.show_task(ref)
        assert "\n" not in str(caught.value)


def test_program_limits_are_tool_errors(tmp_path):
    box = Toolbox(memory=tmp_path / "absent.sqlite")
    with pytest.raises(ToolError, match=f"the limit is {MAX_PROGRAM_CHARS}"):
        box.evaluate("step/gemm", "#" * (MAX_PROGRAM_CHARS + 1), detail=False)
    with pytest.raises(ToolError, match="empty"):
        box.evaluate("step/gemm", "  \n", detail=False)


def test_recall_arguments_and_a_missing_store(tmp_path, store):
    absent = tmp_path / "nowhere" / "memory.sqlite"
    box = Toolbox(memory=absent)
    assert box.recall("step/gemm", None, 3).examples == []
    assert not absent.parent.exists()  # reading never creates a store
    with pytest.raises(ToolError, match="either task"):
        box.recall("step/gemm", "gemm", 3)
    with pytest.raises(ToolError, match="either task"):
        box.recall(None, None, 3)
    with pytest.raises(ToolError, match="k must be"):
        box.recall("step/gemm", None, 0)
    found = Toolbox(memory=store).recall(None, "Matrix multiply", 3).examples
    assert [(e.task, e.cycles) for e in found] == [("step/gemm", 1234)]
    assert Toolbox(memory=store).recall(None, "zzzqqq", 3).examples == []
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"not a database " * 100)
    with pytest.raises(ToolError) as caught:
        Toolbox(memory=damaged).recall("step/gemm", None, 3)
    assert "damaged.sqlite" in str(caught.value) and "\n" not in str(caught.value)


def test_reference_entries_split_at_each_op_and_at_headings():
    text = (
        "# Ref\n\n## Ops\n\n**`load(t, tile)`** reads\ntiles.\n\n"
        "**`store(x)`** writes.\n\n### `sam.scan(t, level)`\nscans.\n\n"
        "**`@dae.callback(loop)`** on events.\n\n## Costs\nnot part of callback.\n"
    )
    entries = reference_entries(text)
    assert entries == {
        "load": "**`load(t, tile)`** reads\ntiles.",
        "store": "**`store(x)`** writes.",
        "scan": "### `sam.scan(t, level)`\nscans.",
        "callback": "**`@dae.callback(loop)`** on events.",
    }


def test_unknown_op_and_dialect_name_the_choices(tmp_path):
    box = Toolbox(memory=tmp_path / "absent.sqlite")
    with pytest.raises(ToolError, match=r"no op 'nonsense' in the sam reference; ops: .*intersect"):
        box.show_reference("sam", "nonsense")
    with pytest.raises(ToolError, match="no dialect 'cuda'; known: step, sam, dae"):
        box.show_reference("cuda")
    assert box.show_reference("sam", "sam.intersect").op == "intersect"
