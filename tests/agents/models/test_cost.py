from __future__ import annotations

import json
import threading

import pytest

from agents.models import BudgetExceeded, CostMeter, ModelError, Reply, get_model
from tests.memory.task_factory import make_task


def _scripted(tmp_path, costs):
    path = tmp_path / "r.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"text": f"r{i}", "prompt_tokens": 100, "completion_tokens": 10, "cost_usd": c}
            )
            + "\n"
            for i, c in enumerate(costs)
        )
    )
    return get_model(f"scripted:{path}")


def test_counts_per_call_task_and_run(tmp_path):
    meter = CostMeter()
    model = meter.wrap(_scripted(tmp_path, [0.1, 0.2, 0.3]))
    a, b = make_task("a"), make_task("b")
    model.complete([], task=a)
    model.complete([], task=b)
    model.complete([], task=a)
    assert meter.total.calls == 3
    assert meter.total.tokens == 330
    assert meter.total.cost_usd == pytest.approx(0.6)
    assert meter.for_task(a.key).cost_usd == pytest.approx(0.4)
    assert meter.for_task(b.key).to_json()["prompt_tokens"] == 100
    assert [r.task for r in meter.records] == [a.key, b.key, a.key]
    assert model.name == meter.wrap(model.model).name


def test_budget_stops_the_call_that_would_pass_it(tmp_path):
    meter = CostMeter(max_cost_usd=1.0)
    inner = _scripted(tmp_path, [0.4, 0.4, 0.4, 0.4])
    model = meter.wrap(inner)
    model.complete([], task=make_task())
    model.complete([], task=make_task())  # 0.4 spent + 0.4 expected = 0.8: allowed
    with pytest.raises(BudgetExceeded, match=r"budget \$1.0000 reached: spent \$0.8000"):
        model.complete([], task=make_task())  # 0.8 + 0.4 > 1.0
    assert inner.remaining == 2  # the refused call never reached the model
    assert meter.remaining_usd == pytest.approx(0.2)


def test_budget_counts_calls_in_flight():
    meter = CostMeter(max_cost_usd=1.0)
    meter.record(Reply("x", "m", cost_usd=0.3))
    meter.reserve()  # 0.3 + 0.3: fine
    meter.reserve()  # 0.3 + 2 * 0.3 = 0.9: fine
    with pytest.raises(BudgetExceeded, match="2 already running"):
        meter.reserve()  # 0.3 + 3 * 0.3 > 1.0
    meter.release()
    meter.reserve()


def test_free_models_never_hit_a_zero_budget(tmp_path):
    meter = CostMeter(max_cost_usd=0.0)
    model = meter.wrap(_scripted(tmp_path, [0.0] * 5))
    for _ in range(5):
        model.complete([], task=make_task())
    assert meter.total.calls == 5


def test_failed_calls_release_their_reservation(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"error": "boom"}\n{"text": "ok", "cost_usd": 0.5}\n')
    meter = CostMeter(max_cost_usd=1.0)
    model = meter.wrap(get_model(f"scripted:{path}"))
    with pytest.raises(ModelError):
        model.complete([], task=make_task())
    assert model.complete([], task=make_task()).text == "ok"
    assert meter.total.calls == 1


def test_budget_is_not_a_model_error():
    """A failed call becomes a failed attempt; a spent budget must stop the run instead."""
    assert not issubclass(BudgetExceeded, ModelError)


def test_unpriced_models_are_listed_and_a_budget_warns_once(caplog):
    meter = CostMeter(max_cost_usd=1.0)
    meter.record(Reply("x", "hosted_vllm/m", cost_known=False))
    meter.record(Reply("x", "hosted_vllm/m", cost_known=False))
    meter.record(Reply("x", "openai/gpt-4o", cost_usd=0.01))
    assert meter.unpriced_models == ["hosted_vllm/m"]
    warnings = [r.message for r in caplog.records if "no known price" in r.message]
    assert warnings == [
        "hosted_vllm/m has no known price: its calls count as $0, so --max-cost cannot limit them"
    ]


def test_parallel_callers_never_overspend(tmp_path):
    meter = CostMeter(max_cost_usd=1.0)
    model = meter.wrap(_scripted(tmp_path, [0.1] * 50))
    model.complete([], task=make_task())  # one finished call sets the expected cost
    refused = []

    def worker():
        for _ in range(10):
            try:
                model.complete([], task=make_task())
            except BudgetExceeded:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.total.cost_usd <= 1.0 + 1e-9
    assert meter.total.calls == 10 and len(refused) == 31  # 1 + 9 ran, 31 of 40 refused


def test_negative_budget_rejected():
    with pytest.raises(ValueError):
        CostMeter(max_cost_usd=-1)


def test_a_resumed_run_counts_what_it_spent_before(tmp_path):
    meter = CostMeter(max_cost_usd=1.0, spent_before_usd=0.7)
    model = meter.wrap(_scripted(tmp_path, [0.2, 0.2]))
    model.complete([], task=make_task())  # 0.7 + 0.2
    with pytest.raises(BudgetExceeded, match=r"spent \$0.9000"):
        model.complete([], task=make_task())  # 0.9 + 0.2 > 1.0
    assert meter.total.cost_usd == pytest.approx(0.2)  # this run's own spending
    assert meter.remaining_usd == pytest.approx(0.1)
    with pytest.raises(ValueError):
        CostMeter(1.0, spent_before_usd=-1)
