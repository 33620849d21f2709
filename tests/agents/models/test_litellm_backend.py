"""The litellm backend against a provider stand-in on 127.0.0.1.

A tiny HTTP server answers with recorded exchanges (tests/data/litellm/) in the providers'
wire formats (OpenAI, Anthropic, Ollama), so these tests pin both halves of the real backend: the request litellm
builds from our call (path, model, messages, temperature, max_tokens) and the `Reply` we
make of the provider's answer (text, tokens, cost), plus retries and error mapping.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agents.models import ModelConfigError, ModelError
from agents.models.litellm_backend import LiteLLMModel, import_litellm
from agents.prompts import extract_program

DATA = Path(__file__).resolve().parents[2] / "data" / "litellm"


def _recorded(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


class ProviderStandIn:
    """Answers POSTs from queued recorded responses, per path (the last one for a path
    repeats; `responses` applies to any path without its own); records every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.responses: list[dict] = []
        self.by_path: dict[str, dict] = {}
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stand_in.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": json.loads(body),
                    }
                )
                response = (
                    stand_in.by_path.get(self.path)
                    or stand_in.responses[min(len(stand_in.requests), len(stand_in.responses)) - 1]
                )
                data = json.dumps(response["body"]).encode()
                self.send_response(response["status"])
                for key, value in response.get("headers", {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    stand_in = ProviderStandIn()
    yield stand_in
    stand_in.close()


def _model(name: str, base: str, sleeps: list[float] | None = None, **kwargs) -> LiteLLMModel:
    return LiteLLMModel(
        name,
        api_base=base,
        api_key="sk-test",
        sleep=(sleeps if sleeps is not None else []).append,
        **kwargs,
    )


def test_openai_exchange(provider):
    exchange = _recorded("openai_chat")
    provider.responses = [exchange["response"]]
    model = _model(exchange["model"], f"{provider.base}/v1")
    reply = model.complete(**exchange["call"])

    (request,) = provider.requests
    assert request["path"] == exchange["request"]["path"]
    for key, value in exchange["request"]["body"].items():
        assert request["body"][key] == value, key
    assert request["headers"]["authorization"] == "Bearer sk-test"

    expect = exchange["expect"]
    assert reply.text == expect["text"]
    assert (reply.prompt_tokens, reply.completion_tokens) == (61, 48)
    prices = import_litellm().model_cost["gpt-4o-2024-08-06"]
    assert reply.cost_known
    assert reply.cost_usd == pytest.approx(
        61 * prices["input_cost_per_token"] + 48 * prices["output_cost_per_token"]
    )
    assert reply.model == exchange["model"] and reply.seconds > 0
    assert extract_program(reply.text, "step") == expect["program"]


def test_anthropic_exchange(provider):
    exchange = _recorded("anthropic_messages")
    provider.responses = [exchange["response"]]
    reply = _model(exchange["model"], provider.base).complete(**exchange["call"])

    (request,) = provider.requests
    assert request["path"] == exchange["request"]["path"]
    for key, value in exchange["request"]["body"].items():
        assert request["body"][key] == value, key
    assert request["headers"]["x-api-key"] == "sk-test"
    assert reply.text == exchange["expect"]["text"]
    assert (reply.prompt_tokens, reply.completion_tokens) == (74, 52)
    prices = import_litellm().model_cost["claude-sonnet-4-5-20250929"]
    assert reply.cost_usd == pytest.approx(
        74 * prices["input_cost_per_token"] + 52 * prices["output_cost_per_token"]
    )


@pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # inside litellm's ollama types
@pytest.mark.parametrize("name", ["ollama_chat", "ollama_generate"])
def test_ollama_exchanges(provider, name):
    exchange = _recorded(name)
    provider.by_path = exchange["responses"]
    reply = _model(exchange["model"], provider.base).complete(**exchange["call"])

    request = next(r for r in provider.requests if r["path"] == exchange["request"]["path"])
    for key, value in exchange["request"]["body"].items():
        assert request["body"][key] == value, key
    if "request_messages" in exchange:  # chat: the messages as given (litellm adds images: [])
        sent = [{"role": m["role"], "content": m["content"]} for m in request["body"]["messages"]]
        assert sent == exchange["request_messages"]
    else:  # generate: the chat flattened into one prompt
        assert all(m["content"] in request["body"]["prompt"] for m in exchange["call"]["messages"])
    expect = exchange["expect"]
    assert reply.text == expect["text"]
    assert (reply.prompt_tokens, reply.completion_tokens) == (
        expect["prompt_tokens"],
        expect["completion_tokens"],
    )
    assert (reply.cost_usd, reply.cost_known) == (0.0, True)  # local models are free
    assert extract_program(reply.text, "step") == expect["program"]


def test_rate_limit_is_retried_after_the_advertised_wait(provider):
    provider.responses = [
        _recorded("openai_rate_limit")["response"],
        _recorded("openai_chat")["response"],
    ]
    sleeps: list[float] = []
    reply = _model("openai/gpt-4o-2024-08-06", f"{provider.base}/v1", sleeps).complete(
        [{"role": "user", "content": "hi"}]
    )
    assert len(provider.requests) == 2  # our retry only: litellm's and openai's are off
    assert sleeps == [3.0]  # the Retry-After header
    assert reply.completion_tokens == 48


def test_server_errors_retried_with_backoff_then_model_error(provider):
    provider.responses = [_recorded("openai_overloaded")["response"]]
    sleeps: list[float] = []
    model = _model("openai/gpt-4o", f"{provider.base}/v1", sleeps, retries=3, backoff_s=1.0)
    with pytest.raises(ModelError) as info:
        model.complete([{"role": "user", "content": "hi"}])
    assert len(provider.requests) == 4
    assert "after 4 tries" in str(info.value) and "overloaded" in str(info.value)
    assert "\n" not in str(info.value)
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):  # exponential, with jitter in [0.5, 1]
        assert 0.5 * 2**attempt <= delay <= 2**attempt


def test_bad_key_fails_at_once(provider):
    provider.responses = [_recorded("openai_auth_error")["response"]]
    sleeps: list[float] = []
    with pytest.raises(ModelConfigError, match="AuthenticationError.*Incorrect API key") as info:
        _model("openai/gpt-4o", f"{provider.base}/v1", sleeps).complete(
            [{"role": "user", "content": "hi"}]
        )
    assert len(provider.requests) == 1 and sleeps == []
    assert "\n" not in str(info.value)
    assert str(info.value).endswith("(check OPENAI_API_KEY)")


def test_a_model_the_provider_does_not_have_fails_at_once_and_stops_the_run(provider):
    provider.responses = [_recorded("openai_model_not_found")["response"]]
    sleeps: list[float] = []
    with pytest.raises(ModelConfigError, match="NotFoundError.*gpt-nonsense") as info:
        _model("openai/gpt-nonsense", f"{provider.base}/v1", sleeps).complete(
            [{"role": "user", "content": "hi"}]
        )
    assert len(provider.requests) == 1 and sleeps == []
    assert "\n" not in str(info.value)


def test_a_bad_request_fails_that_call_at_once_without_stopping_the_run(provider):
    provider.responses = [_recorded("openai_bad_request")["response"]]
    sleeps: list[float] = []
    with pytest.raises(ModelError, match="BadRequestError.*string too long") as info:
        _model("openai/gpt-4o", f"{provider.base}/v1", sleeps).complete(
            [{"role": "user", "content": "hi"}]
        )
    assert not isinstance(info.value, ModelConfigError)
    assert len(provider.requests) == 1 and sleeps == []


def test_unreachable_server_is_a_model_error():
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    model = _model("openai/gpt-4o", f"http://127.0.0.1:{port}/v1", sleeps, retries=2)
    with pytest.raises(ModelError, match=r"after 3 tries: .*[Cc]onnection"):
        model.complete([{"role": "user", "content": "hi"}])
    assert len(sleeps) == 2


def test_unknown_price_counts_zero_and_says_so(provider, caplog):
    exchange = _recorded("openai_chat")
    provider.responses = [exchange["response"]]
    model = _model("hosted_vllm/my-finetuned-coder", f"{provider.base}/v1")
    reply = model.complete([{"role": "user", "content": "hi"}])
    assert provider.requests[0]["body"]["model"] == "my-finetuned-coder"
    assert (reply.cost_usd, reply.cost_known) == (0.0, False)
    assert reply.prompt_tokens == 61
    assert any(
        "no price known for hosted_vllm/my-finetuned-coder" in r.message for r in caplog.records
    )


def test_bad_model_names():
    with pytest.raises(ModelError, match="bad model name"):
        LiteLLMModel("gpt 4o")
    with pytest.raises(ModelError, match="bad model name"):
        LiteLLMModel("")
    with pytest.raises(ModelError, match="retries and backoff must be >= 0"):
        LiteLLMModel("openai/gpt-4o", retries=-1)
